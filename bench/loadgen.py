"""A lean HTTP/1.1 load generator: keep-alive sockets driven by one selector loop.

Why not ``requests`` in threads: on a 2-core machine the client shares the cores with the
worker, and ``requests`` spends ~0.5 ms of CPU per call (plus GIL hand-offs between threads),
so the bench measured its own client. Here each request is a few bytes built once and a
response parsed by ``Content-Length``: tens of microseconds per request, single-threaded,
so the ceiling and every workload measure the server with the same cheap client.

A *client* is a generator that yields ``Request``s and receives ``Response``s; ``drive``
runs many of them concurrently, one keep-alive connection each.
"""

from __future__ import annotations

import json
import selectors
import socket
from collections.abc import Generator, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None  # JSON-serialisable, or None

    def encode(self, host: str) -> bytes:
        payload = b"" if self.body is None else json.dumps(self.body).encode()
        lines = [f"{self.method} {self.path} HTTP/1.1", f"Host: {host}"]
        lines += [f"{k}: {v}" for k, v in self.headers.items()]
        if self.body is not None:
            lines.append("Content-Type: application/json")
        lines.append(f"Content-Length: {len(payload)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


Client = Generator[Request, Response, None]


class _Conn:
    """One keep-alive connection and the client it serves."""

    def __init__(self, address: tuple[str, int], host: str, client: Client) -> None:
        self.sock = socket.create_connection(address)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.host, self.client, self.buf = host, client, b""

    def send(self, request: Request) -> None:
        self.sock.sendall(request.encode(self.host))

    def parse(self) -> Response | None:
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = self.buf[:end].decode("latin-1").split("\r\n")
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        if len(self.buf) < end + 4 + length:
            return None
        body = self.buf[end + 4:end + 4 + length]
        self.buf = self.buf[end + 4 + length:]
        return Response(int(head[0].split(" ", 2)[1]), headers, body)


def drive(url: str, clients: Iterable[Client]) -> None:
    """Run every client to completion, concurrently, one connection each."""
    parts = urlsplit(url)
    address = (parts.hostname or "127.0.0.1", parts.port or 80)
    selector = selectors.DefaultSelector()
    live = 0
    for client in clients:
        try:
            first = next(client)
        except StopIteration:
            continue
        conn = _Conn(address, parts.netloc, client)
        conn.send(first)
        selector.register(conn.sock, selectors.EVENT_READ, conn)
        live += 1
    try:
        while live:
            for key, _ in selector.select():
                conn = key.data
                chunk = conn.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("the server closed a keep-alive connection")
                conn.buf += chunk
                response = conn.parse()
                if response is None:
                    continue
                try:
                    conn.send(conn.client.send(response))
                except StopIteration:
                    selector.unregister(conn.sock)
                    conn.sock.close()
                    live -= 1
    finally:
        for key in list(selector.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        selector.close()


def call(url: str, request: Request) -> Response:
    """One request on its own connection (setup steps, not measured)."""
    box: list[Response] = []

    def one() -> Client:
        box.append((yield request))
    drive(url, [one()])
    return box[0]
