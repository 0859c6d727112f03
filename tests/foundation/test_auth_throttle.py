"""Failed authentications are throttled per client address and per key prefix, counted
across every process (and node): after ``auth_failures_per_minute`` failures a minute the
client gets 429 ``rate_limited`` whatever key it sends, and other clients do not.
Under-scoped keys pay their rate limit like any other request."""

from __future__ import annotations

import re
import secrets
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from tests.conftest import ADMIN_KEY
from workflow_studio.worker import create_app, security
from workflow_studio.worker.context import EXTENSION

AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}


class FakeClock:
    """A settable wall clock for the runtime (windows are whole minutes of it)."""

    def __init__(self, ms: int) -> None:
        self.ms = ms

    def now_ms(self) -> int:
        return self.ms


def wait_for_fresh_window(margin: float = 6.0) -> None:
    """Windows are whole minutes of the real clock here: don't start a flood just before
    one rolls over (the fake-clock tests below cover the roll-over itself)."""
    remaining = 60 - time.time() % 60
    if remaining < margin:
        time.sleep(remaining + 0.05)


def flood(url: str, headers: list[dict[str, str]], threads: int = 8) -> list[requests.Response]:
    def call(h: dict[str, str]) -> requests.Response:
        # A fresh connection per request, so the kernel spreads them over the processes.
        return requests.get(f"{url}/v1/keys", headers={**h, "Connection": "close"}, timeout=10)

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(call, headers))


def bad_key() -> dict[str, str]:
    return {"Authorization": f"Bearer bad_{secrets.token_urlsafe(16)}"}


def served_by(log: str) -> set[str]:
    return set(re.findall(r'"GET /v1/keys HTTP/1.1" \d+ \d+ \d+ms pid=<(\d+)>', log))


@pytest.mark.e2e
@pytest.mark.both_backends
def test_a_flood_of_bad_keys_is_throttled_per_address_across_processes(start_worker: Any
                                                                       ) -> None:
    worker = start_worker(workers=2, trusted_proxies=["127.0.0.1"],
                          auth_failures_per_minute=20)
    attacker = {"X-Forwarded-For": "203.0.113.9"}
    wait_for_fresh_window()
    responses = flood(worker.url, [{**bad_key(), **attacker} for _ in range(200)])
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {401: 20, 429: 180}  # exactly the limit, though two processes count
    assert len(served_by(worker.log())) == 2, "both gunicorn processes should have served"
    limited = next(r for r in responses if r.status_code == 429)
    assert limited.json()["code"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.headers["RateLimit-Policy"] == '"auth-failures";q=20;w=60'
    assert limited.headers["RateLimit"].startswith('"auth-failures";r=0;t=')
    # Refused before the lookup: from that address even the right key gets 429, so a
    # guesser cannot tell a hit from a miss.
    right_key = requests.get(f"{worker.url}/v1/keys", headers={**AUTH, **attacker}, timeout=10)
    assert (right_key.status_code, right_key.json()["code"]) == (429, "rate_limited")
    # Other clients are unaffected: another forwarded address, and the proxy itself.
    other = requests.get(f"{worker.url}/v1/keys", timeout=10,
                         headers={**AUTH, "X-Forwarded-For": "198.51.100.7"})
    assert other.status_code == 200
    assert requests.get(f"{worker.url}/v1/keys", headers=AUTH, timeout=10).status_code == 200
    # Another address still gets its own 20 failures, each told how many are left.
    first = requests.get(f"{worker.url}/v1/keys", timeout=10,
                         headers={**bad_key(), "X-Forwarded-For": "198.51.100.7"})
    assert first.status_code == 401
    assert first.headers["RateLimit"].startswith('"auth-failures";r=19;t=')


@pytest.mark.e2e
def test_a_spoofed_forwarded_address_does_not_escape_the_throttle(start_worker: Any) -> None:
    worker = start_worker(workers=2, auth_failures_per_minute=5)  # no trusted proxy
    wait_for_fresh_window()
    responses = flood(worker.url, [
        {**bad_key(), "X-Forwarded-For": f"198.51.100.{n}"} for n in range(30)])
    assert Counter(r.status_code for r in responses) == {401: 5, 429: 25}


@pytest.mark.e2e
def test_guesses_at_one_key_prefix_are_throttled_from_any_address(start_worker: Any) -> None:
    worker = start_worker(workers=2, trusted_proxies=["127.0.0.1"],
                          auth_failures_per_minute=10)
    wait_for_fresh_window()
    # A botnet: every guess from a new address, all at keys starting "guessme_".
    guesses = [{"Authorization": f"Bearer guessme_{secrets.token_urlsafe(12)}",
                "X-Forwarded-For": f"203.0.113.{n}"} for n in range(30)]
    assert Counter(r.status_code for r in flood(worker.url, guesses)) == {401: 10, 429: 20}
    fresh = requests.get(f"{worker.url}/v1/keys", timeout=10, headers={
        "Authorization": "Bearer guessme_another", "X-Forwarded-For": "192.0.2.1"})
    assert fresh.status_code == 429
    # A key of another prefix, from one of the guessing addresses, is unaffected.
    admin = requests.get(f"{worker.url}/v1/keys", timeout=10,
                         headers={**AUTH, "X-Forwarded-For": "203.0.113.1"})
    assert admin.status_code == 200


@pytest.fixture
def throttled_app(make_settings: Any) -> Any:
    app = create_app(make_settings(auth_failures_per_minute=3))
    app.extensions[EXTENSION].runtime.clock = FakeClock(1_800_000_000_000 + 10_000)
    return app


@pytest.mark.both_backends
def test_the_throttle_refuses_any_key_until_the_minute_ends(
        throttled_app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    client = throttled_app.test_client()
    clock = throttled_app.extensions[EXTENSION].runtime.clock
    answers = [client.get("/v1/keys", headers=bad_key()) for _ in range(3)]
    assert [r.status_code for r in answers] == [401, 401, 401]
    assert [r.headers["RateLimit"] for r in answers] == [
        f'"auth-failures";r={n};t=50' for n in (2, 1, 0)]
    missing = client.get("/v1/keys")  # no key at all counts too
    assert (missing.status_code, missing.headers["Retry-After"]) == (429, "50")

    counted: list[int] = []
    real = security.ratelimit_repo.count_auth_failure
    monkeypatch.setattr(security.ratelimit_repo, "count_auth_failure",
                        lambda *args: counted.append(1) or real(*args))
    right = client.get("/v1/keys", headers=AUTH)  # the right key fares no better
    assert (right.status_code, right.headers["Retry-After"]) == (429, "50")
    assert client.get("/v1/keys", headers=bad_key()).status_code == 429
    assert counted == []  # a refused request writes nothing

    clock.ms += 50_000  # the next minute: a fresh window
    assert client.get("/v1/keys", headers=AUTH).status_code == 200
    assert client.get("/v1/keys", headers=bad_key()).status_code == 401


def test_zero_disables_the_throttle(make_settings: Any) -> None:
    client = create_app(make_settings(auth_failures_per_minute=0)).test_client()
    assert {client.get("/v1/keys", headers=bad_key()).status_code for _ in range(30)} == {401}
    assert client.get("/v1/keys", headers=AUTH).status_code == 200


@pytest.mark.e2e
@pytest.mark.both_backends
def test_missing_scope_answers_count_against_the_key_rate_limit(start_worker: Any) -> None:
    worker = start_worker(workers=2)
    created = requests.post(f"{worker.url}/v1/keys", headers=AUTH, timeout=10, json={
        "name": "reader", "scopes": ["runs:read"], "rateLimitPerMinute": 10}).json()
    wait_for_fresh_window()
    responses = flood(worker.url, [{"Authorization": f"Bearer {created['secret']}"}] * 30)
    assert Counter(r.status_code for r in responses) == {403: 10, 429: 20}
    limited = next(r for r in responses if r.status_code == 429)
    assert limited.json()["code"] == "rate_limited"
    assert limited.headers["RateLimit-Policy"] == '"per-key";q=10;w=60'


def test_an_ipv6_client_counts_as_its_64(throttled_app: Any) -> None:
    client = throttled_app.test_client()

    def from_address(address: str) -> int:
        return int(client.get("/v1/keys", headers=bad_key(),
                              environ_base={"REMOTE_ADDR": address}).status_code)

    assert [from_address(f"2001:db8:1:2::{n}") for n in ("a", "b", "c")] == [401] * 3
    assert from_address("2001:db8:1:2:ffff::1") == 429  # same /64: rotating does not help
    assert from_address("2001:db8:1:3::1") == 401       # the next /64 is another client
