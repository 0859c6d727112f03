"""The client retries only where repeating a request is safe, and honours Retry-After."""

from __future__ import annotations

import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from workflow_studio.client import ComputeClient
from workflow_studio.client.errors import (
    ConnectionComputeClientError,
    RateLimitedComputeClientError,
    ServerComputeClientError,
)
from workflow_studio.client.retry import RetryPolicy

FAST = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.002, max_retry_after=0.01)


class Scripted(BaseHTTPRequestHandler):
    """Answers with the next scripted status; records what it was sent."""

    script: list[int] = []
    seen: list[tuple[str, str | None, str | None]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        Scripted.seen.append((self.command, self.headers.get("Idempotency-Key"),
                              self.headers.get("x-workflow-correlation-id")))
        status = Scripted.script.pop(0) if Scripted.script else 200
        body = b'{"ok": true}' if status < 400 else (
            b'{"code": "rate_limited", "message": "slow down", "retryAfter": 0}'
            if status == 429 else b'{"code": "internal_error", "message": "x"}')
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if status == 429:
            self.send_header("Retry-After", "0")
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args):  # keep test output quiet
        pass


@pytest.fixture
def scripted():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Scripted)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Scripted.script, Scripted.seen = [], []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_reads_retry_on_503_with_one_correlation_id(scripted):
    Scripted.script = [503, 502]
    assert ComputeClient(scripted, "k", retry=FAST).request("GET", "/x") == {"ok": True}
    assert len(Scripted.seen) == 3
    assert len({corr for _, _, corr in Scripted.seen}) == 1


def test_post_without_idempotency_key_is_not_repeated(scripted):
    Scripted.script = [503]
    with pytest.raises(ServerComputeClientError):
        ComputeClient(scripted, "k", retry=FAST).request("POST", "/x", json={})
    assert len(Scripted.seen) == 1


def test_post_with_idempotency_key_is_retried(scripted):
    Scripted.script = [504]
    client = ComputeClient(scripted, "k", retry=FAST)
    client.request("POST", "/x", json={}, headers={"Idempotency-Key": "abc"})
    assert [key for _, key, _ in Scripted.seen] == ["abc", "abc"]


def test_429_is_retried_then_surfaces_with_retry_after(scripted):
    Scripted.script = [429, 429, 429]
    with pytest.raises(RateLimitedComputeClientError) as info:
        ComputeClient(scripted, "k", retry=FAST).request("POST", "/x", json={})
    assert len(Scripted.seen) == 3
    assert info.value.retry_after == 0


def test_connection_refused_is_retried_then_reported():
    with pytest.raises(ConnectionComputeClientError, match="cannot reach"):
        ComputeClient("http://127.0.0.1:9", "k", retry=FAST).request("GET", "/x")


def test_backoff_grows_with_full_jitter_and_caps():
    policy = RetryPolicy(base_delay=0.5, max_delay=2.0)
    rng = random.Random(7)
    assert all(0 <= policy.delay(1, rng=rng) <= 0.5 for _ in range(50))
    assert all(0 <= policy.delay(5, rng=rng) <= 2.0 for _ in range(50))
    assert policy.delay(1, retry_after=7) == 7
    assert RetryPolicy(max_retry_after=3).delay(1, retry_after=100) == 3
