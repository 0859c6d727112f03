"""HTTP over a bare socket, for what ``requests`` cannot send or cannot show: a body that
is announced but never sent, a chunked body streamed until the server answers, a malformed
request line or header; plus what a test reads about a running worker (its processes'
memory, its database's size and rows) and the one row it needs there (a deployment)."""

from __future__ import annotations

import dataclasses
import json
import os
import select
import socket
import urllib.parse
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

ANSWER_TIMEOUT = 10.0  # seconds a test waits for an answer it expects at once


@dataclasses.dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    sent: int  # bytes of the request body the server took before answering

    def json(self) -> Any:
        return json.loads(self.body)


def head(method: str, path: str, headers: dict[str, str] | None = None,
         raw_headers: bytes = b"") -> bytes:
    """A request line and headers (``raw_headers`` as given: lines ending in CRLF)."""
    lines = [f"{method} {path} HTTP/1.1", "Host: test"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n").encode("latin-1") + raw_headers + b"\r\n"


def chunked(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    """``data`` as ``Transfer-Encoding: chunked`` frames, then the last chunk."""
    for start in range(0, len(data), size):
        part = data[start:start + size]
        yield b"%x\r\n%s\r\n" % (len(part), part)
    yield b"0\r\n\r\n"


def pieces(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


def exchange(url: str, request_head: bytes, body: Iterable[bytes] = (),
             timeout: float = ANSWER_TIMEOUT) -> Reply:
    """Send ``request_head``, then ``body`` piece by piece until the server answers (it may
    answer before reading any); return the answer. A server that does not answer within
    ``timeout`` fails the test: it is waiting for (or reading) a body it should refuse."""
    parsed = urllib.parse.urlsplit(url)
    with socket.create_connection((parsed.hostname, parsed.port), timeout=timeout) as sock:
        sock.sendall(request_head)
        sent = 0
        for piece in body:
            if select.select([sock], [], [], 0)[0]:
                break  # the answer (or the close) is there: stop sending
            try:
                sock.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(piece)
        return _read_reply(sock, sent, timeout)


def _read_reply(sock: socket.socket, sent: int, timeout: float) -> Reply:
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            piece = sock.recv(65536)
            if not piece:
                raise AssertionError(f"connection closed without an answer: {data!r}")
            data += piece
        top, _, rest = data.partition(b"\r\n\r\n")
        status_line, *lines = top.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip()
                   for k, _, v in (line.partition(":") for line in lines)}
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            piece = sock.recv(65536)
            if not piece:
                break
            rest += piece
    except TimeoutError:
        raise AssertionError(f"no answer within {timeout}s (the server is waiting for, or "
                             "reading, the body)") from None
    return Reply(int(status_line.split()[1]), headers, rest[:length], sent)


def child_pids(master_pid: int) -> list[int]:
    """The gunicorn master's worker processes."""
    found = []
    for task in Path(f"/proc/{master_pid}/task").iterdir():
        children = (task / "children").read_text().split()
        found += [int(pid) for pid in children]
    return found


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


def workers_rss(master_pid: int) -> int:
    """The largest resident set of the master's worker processes."""
    return max(rss_bytes(pid) for pid in child_pids(master_pid))


def storage_bytes(options: dict[str, Any], sqlite_path: Path) -> int:
    """What the worker's database takes: the SQLite file and its WAL, or on PostgreSQL the
    total size of the test schema's tables."""
    if not options:
        return sum(os.path.getsize(p) for p in (sqlite_path, Path(f"{sqlite_path}-wal"))
                   if p.exists())
    import psycopg

    with psycopg.connect(options["postgres_url"], autocommit=True) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(pg_total_relation_size((quote_ident(schemaname) || '.' ||"
            " quote_ident(tablename))::regclass)), 0) FROM pg_tables WHERE schemaname = %s",
            (options["postgres_schema"],)).fetchone()
    return int(row[0]) if row else 0


def activate_recorded_deployment(database: Any) -> str:
    """An active deployment with the workflow ``checkout`` in the worker's database (rows
    only, no code: routes that start runs need one, none here executes it)."""
    from workflow_studio.compute.ids import new_id
    from workflow_studio.storage import deployments as deployments_repo

    conn = database.connection()
    deployment_id = new_id("dpl")
    deployments_repo.create(conn, deployment_id=deployment_id, manifest={},
                            artifact_sha256="0" * 64, artifact_size=1, workflows=["checkout"],
                            steps=["charge"], created_by_key_id=None)
    deployments_repo.activate(conn, deployment_id, None)
    return deployment_id


def row_counts(database: Any, tables: Iterable[str]) -> dict[str, int]:
    conn = database.connection()
    return {table: int(conn.query_one(f"SELECT count(*) AS n FROM {table}")["n"])
            for table in tables}
