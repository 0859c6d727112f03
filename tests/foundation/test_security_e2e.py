"""Rate limits, HTTPS policy and key revocation against the real worker under gunicorn."""

from __future__ import annotations

import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.conftest import ADMIN_KEY

pytestmark = [pytest.mark.e2e, pytest.mark.both_backends]
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}


def non_loopback_address() -> str | None:
    """An address of this machine that is not loopback, to act as a remote client."""
    try:
        found = subprocess.run(["hostname", "-I"], capture_output=True, text=True,
                               timeout=5, check=False).stdout.split()
    except OSError:
        found = []
    for address in found:
        if "." in address and not address.startswith("127."):
            return address
    return None


def wait_for_fresh_window(margin: float = 8.0) -> None:
    """Rate windows are whole minutes; don't start a burst just before one rolls over."""
    remaining = 60 - time.time() % 60
    if remaining < margin:
        time.sleep(remaining + 0.05)


def test_rate_limit_is_shared_by_all_worker_processes(start_worker):
    worker = start_worker(workers=2, rate_limit_per_minute=30)
    wait_for_fresh_window()

    def call(_):
        # A fresh connection per request so the kernel spreads them over both processes.
        return requests.get(f"{worker.url}/v1/keys", headers={**AUTH, "Connection": "close"},
                            timeout=10)

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(call, range(40)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) == 30 and statuses.count(429) == 10
    limited = next(r for r in responses if r.status_code == 429)
    assert limited.json()["code"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.headers["RateLimit-Policy"] == '"per-key";q=30;w=60'
    assert limited.headers["RateLimit"].startswith('"per-key";r=0;t=')
    pids = set(re.findall(r'"GET /v1/keys HTTP/1.1" \d+ \d+ \d+ms pid=<(\d+)>', worker.log()))
    assert len(pids) == 2, "both gunicorn processes should have served requests"


def test_per_key_override(start_worker):
    worker = start_worker(rate_limit_per_minute=1000)
    created = requests.post(f"{worker.url}/v1/keys", headers=AUTH, timeout=10, json={
        "name": "slow", "scopes": ["admin"], "rateLimitPerMinute": 2}).json()
    wait_for_fresh_window()
    headers = {"Authorization": f"Bearer {created['secret']}"}
    codes = [requests.get(f"{worker.url}/v1/keys", headers=headers, timeout=10).status_code
             for _ in range(3)]
    assert codes == [200, 200, 429]
    # The admin key is unaffected by another key's limit.
    assert requests.get(f"{worker.url}/v1/keys", headers=AUTH, timeout=10).status_code == 200


def test_https_required_for_non_local_clients(start_worker):
    remote = non_loopback_address()
    if remote is None:
        pytest.skip("this machine has no non-loopback address to act as a remote client")
    worker = start_worker(host="0.0.0.0", require_https=True)
    local = requests.get(f"http://127.0.0.1:{worker.port}/v1/keys", headers=AUTH, timeout=10)
    assert local.status_code == 200
    plain = requests.get(f"http://{remote}:{worker.port}/v1/keys", headers=AUTH, timeout=10)
    assert (plain.status_code, plain.json()["code"]) == (403, "https_required")
    # Health alone answers plain HTTP: load balancers probe it without TLS.
    assert requests.get(f"http://{remote}:{worker.port}/v1/health",
                        timeout=10).status_code == 200
    # Without a trusted proxy, a client cannot claim HTTPS with a header.
    spoofed = requests.get(f"http://{remote}:{worker.port}/v1/keys", timeout=10,
                           headers={**AUTH, "X-Forwarded-Proto": "https"})
    assert spoofed.status_code == 403


def test_https_via_a_trusted_proxy(start_worker):
    worker = start_worker(require_https=True, trusted_proxies=["127.0.0.1"])
    url = f"{worker.url}/v1/keys"
    via_proxy_http = requests.get(url, timeout=10, headers={
        **AUTH, "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "http"})
    assert (via_proxy_http.status_code, via_proxy_http.json()["code"]) == (403, "https_required")
    via_proxy_https = requests.get(url, timeout=10, headers={
        **AUTH, "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"})
    assert via_proxy_https.status_code == 200


def test_revocation_applies_in_every_process(start_worker):
    worker = start_worker(workers=2)
    created = requests.post(f"{worker.url}/v1/keys", headers=AUTH, timeout=10,
                            json={"name": "gone", "scopes": ["admin"]}).json()
    assert requests.delete(f"{worker.url}/v1/keys/{created['id']}", headers=AUTH,
                           timeout=10).status_code == 200
    headers = {"Authorization": f"Bearer {created['secret']}", "Connection": "close"}
    with ThreadPoolExecutor(4) as pool:
        codes = list(pool.map(lambda _: requests.get(f"{worker.url}/v1/keys", headers=headers,
                                                     timeout=10).status_code, range(12)))
    assert set(codes) == {401}
