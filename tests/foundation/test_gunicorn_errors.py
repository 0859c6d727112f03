"""What gunicorn refuses before the app sees it is answered with the JSON envelope too, and
gunicorn's limits leave room for every header the API documents.

The requests are written on a bare socket: they are the ones an HTTP library refuses to
send (an 8 KiB header, a control character in a header, 120 headers, a 5,000-byte request
line), and gunicorn used to answer them with an HTML page.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import ADMIN_KEY
from tests.rawhttp import exchange, head

pytestmark = pytest.mark.e2e
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One worker for the module: these requests never reach the database."""
    from workflow_studio.worker import start_compute_worker_server

    root = tmp_path_factory.mktemp("gunicorn-errors")
    server = start_compute_worker_server(
        workers=1, sqlite_path=str(root / "worker.db"), artifact_dir=str(root / "artifacts"),
        seed_api_keys=[{"key": ADMIN_KEY, "scopes": ["admin"]}],
        log_path=str(root / "gunicorn.log"), env=_clean_env())
    yield server
    server.stop(10)


def _clean_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items()
            if not k.startswith("WORKFLOW_") or k.startswith("WORKFLOW_TEST_")}


REFUSED: list[tuple[str, bytes, int, str]] = [
    ("request line over the limit", head("GET", "/v1/health?" + "a" * 5000), 414,
     "uri_too_long"),
    ("header over the field size", head("GET", "/v1/health", {"X-Pad": "a" * 9000}), 431,
     "headers_too_large"),
    ("too many headers", head("GET", "/v1/health", {f"X-{i}": "1" for i in range(120)}), 431,
     "headers_too_large"),
    ("control character in a header", head("GET", "/v1/health", raw_headers=b"X-A: a\x01b\r\n"),
     400, "invalid_request"),
    ("raw bytes in the request line", b"GET /v1/runs?w=\xed\xa0\x80 HTTP/1.1\r\nHost: t\r\n\r\n",
     400, "invalid_request"),
    ("malformed method", b"G@T /v1/health HTTP/1.1\r\nHost: t\r\n\r\n", 400,
     "invalid_request"),
    ("unsupported transfer coding", head("POST", "/v1/runs", {"Transfer-Encoding": "gzip"}),
     400, "invalid_request"),
    ("malformed chunk size", head("POST", "/v1/runs", {
        **AUTH, "Idempotency-Key": "chunks", "Transfer-Encoding": "chunked",
        "Content-Type": "application/json"}) + b"zz\r\n{}\r\n0\r\n\r\n", 400,
     "invalid_request"),
]


@pytest.mark.parametrize(("what", "request_bytes", "status", "code"), REFUSED,
                         ids=[r[0] for r in REFUSED])
def test_what_gunicorn_refuses_is_a_json_envelope(worker: Any, what: str, request_bytes: bytes,
                                                  status: int, code: str) -> None:
    reply = exchange(worker.url, request_bytes)
    assert reply.headers["content-type"] == "application/json", reply.body[:200]
    assert (reply.status, reply.json()["code"]) == (status, code), reply.body
    assert reply.json()["message"]
    assert reply.headers["x-workflow-correlation-id"]


def test_every_documented_header_fits_with_room_to_spare(worker: Any) -> None:
    long_key = "wsk_" + "k" * 4000  # an operator may seed a long key: it must get 401, not 431
    headers = {
        **AUTH,
        "Idempotency-Key": "i" * 255,
        "x-workflow-correlation-id": "c" * 128,
        "x-workflow-run-id": "r" * 128,
        "Content-Type": "application/json",
        **{f"X-Proxy-Added-{i}": "v" * 64 for i in range(60)},  # what proxies in front add
    }
    body = json.dumps({"workflowName": "missing"}).encode()
    reply = exchange(worker.url, head("POST", "/v1/runs",
                                      {**headers, "Content-Length": str(len(body))}) + body)
    assert (reply.status, reply.json()["code"]) == (409, "no_active_deployment"), reply.body
    assert reply.headers["x-workflow-correlation-id"] == "c" * 128

    unknown = exchange(worker.url, head("GET", "/v1/keys",
                                        {"Authorization": f"Bearer {long_key}"}))
    assert (unknown.status, unknown.json()["code"]) == (401, "unauthorized")
    token = "t" * 500  # the longest hook token, percent-encoded three bytes a character
    by_token = exchange(worker.url, head("GET", "/v1/world/hooks/by-token/" + "%74" * len(token),
                                         AUTH))
    assert (by_token.status, by_token.json()["code"]) == (404, "not_found")


def test_the_worker_serves_after_refusing(worker: Any) -> None:
    for _, request_bytes, _, _ in REFUSED:
        exchange(worker.url, request_bytes)
    reply = exchange(worker.url, head("GET", "/v1/health"))
    assert reply.status == 200
