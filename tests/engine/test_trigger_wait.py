"""``POST /v1/runs?wait=S`` on a real gunicorn worker, and the trigger's audit row: written
with the run (one commit), exactly once per request, for new runs, replays and errors."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import ADMIN_KEY
from tests.engine.test_e2e import deploy
from workflow_studio.client import ComputeClient

pytestmark = [pytest.mark.e2e, pytest.mark.both_backends]
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}


def _post(http: requests.Session, url: str, body: dict[str, Any], key: str,
          query: str = "") -> tuple[requests.Response, str]:
    correlation = f"tw-{uuid.uuid4()}"
    response = http.post(f"{url}/v1/runs{query}", json=body, timeout=30, headers={
        **AUTH, "Idempotency-Key": key, "x-workflow-correlation-id": correlation})
    return response, correlation


def _audit(http: requests.Session, url: str, correlation: str) -> list[dict[str, Any]]:
    rows = http.get(f"{url}/v1/audit", params={"correlation_id": correlation},
                    headers=AUTH, timeout=10).json()["data"]
    return [r for r in rows if r["path"] == "/v1/runs"]


def test_trigger_waits_for_the_finished_run(tmp_path: Path, worker: Any,
                                            http: requests.Session) -> None:
    deploy(ComputeClient(worker.url, ADMIN_KEY), tmp_path / "project")
    body = {"workflowName": "total", "args": [5]}

    done, correlation = _post(http, worker.url, body, "tw-1", "?wait=20")
    assert done.status_code == 200
    run = done.json()
    assert (run["status"], run["output"]) == ("completed", 10)
    [row] = _audit(http, worker.url, correlation)
    assert (row["status"], row["runId"], row["method"]) == (202, run["id"], "POST")

    # A replay without wait answers the first response; with wait, the run as it is now.
    first, correlation = _post(http, worker.url, body, "tw-1")
    assert first.status_code == 202 and first.headers["Idempotent-Replayed"] == "true"
    # (the run as the trigger committed it: started already when this process took it)
    assert (first.json()["id"], first.json()["status"]) == (run["id"], "running")
    [row] = _audit(http, worker.url, correlation)
    assert (row["status"], row["runId"]) == (202, run["id"])
    now, correlation = _post(http, worker.url, body, "tw-1", "?wait=5")
    assert now.status_code == 200 and now.headers["Idempotent-Replayed"] == "true"
    assert (now.json()["id"], now.json()["status"]) == (run["id"], "completed")
    assert len(_audit(http, worker.url, correlation)) == 1


def test_trigger_wait_expires_with_202(tmp_path: Path, worker: Any,
                                       http: requests.Session) -> None:
    deploy(ComputeClient(worker.url, ADMIN_KEY), tmp_path / "project")
    body = {"workflowName": "sleeper", "args": ["30s"]}
    parked, correlation = _post(http, worker.url, body, "tw-sleep", "?wait=0.3")
    assert parked.status_code == 202
    assert parked.json()["status"] in ("pending", "running")
    assert "Idempotent-Replayed" not in parked.headers
    assert len(_audit(http, worker.url, correlation)) == 1
    again, _ = _post(http, worker.url, body, "tw-sleep", "?wait=0.2")
    assert again.status_code == 202 and again.json()["id"] == parked.json()["id"]
    # wait=0 is the plain trigger.
    plain, _ = _post(http, worker.url, {"workflowName": "total", "args": [1]}, "tw-0",
                     "?wait=0")
    assert plain.status_code == 202 and plain.json()["status"] == "pending"


def test_a_run_executed_by_its_trigger_is_handed_back_when_the_wait_ends(
        tmp_path: Path, worker: Any, http: requests.Session) -> None:
    """A waiting trigger executes its run in the request thread; at the first step boundary
    after the wait it hands the run to the executor's slots and answers 202."""
    deploy(ComputeClient(worker.url, ADMIN_KEY), tmp_path / "project")
    started = time.monotonic()
    parked, _ = _post(http, worker.url, {"workflowName": "napping", "args": [0.2, 10]},
                      "tw-nap", "?wait=0.5")
    answered = time.monotonic() - started
    assert parked.status_code == 202 and parked.json()["status"] == "running"
    assert answered < 1.5, f"answered after {answered:.2f}s; the steps take 2s"
    run_id = parked.json()["id"]
    done = http.get(f"{worker.url}/v1/runs/{run_id}?wait=20", headers=AUTH, timeout=30).json()
    assert (done["status"], done["output"]) == ("completed", list(range(10)))
    steps = http.get(f"{worker.url}/v1/runs/{run_id}/steps", headers=AUTH, timeout=10).json()
    assert [s["position"] for s in steps["data"]] == list(range(1, 11))
    assert {s["attempt"] for s in steps["data"]} == {1}


def test_a_trigger_waits_only_briefly_for_a_busy_process_to_free_a_thread(
        tmp_path: Path, start_worker: Any) -> None:
    """Every direct permit held by long runs: a waiting trigger gives up on executing its
    run itself after a few milliseconds and queues it for an idle slot."""
    worker = start_worker(workers=1, threads=3)  # two direct permits
    deploy(ComputeClient(worker.url, ADMIN_KEY), tmp_path / "project")
    nappers = []
    for n in range(2):
        def nap(n: int = n) -> None:
            with requests.Session() as session:
                _post(session, worker.url, {"workflowName": "napping", "args": [0.3, 10]},
                      f"tw-busy-{n}", "?wait=20")
        nappers.append(threading.Thread(target=nap, daemon=True))
        nappers[-1].start()
    with requests.Session() as http:
        deadline = time.monotonic() + 10
        while len(http.get(f"{worker.url}/v1/runs?status=running", headers=AUTH,
                           timeout=10).json()["data"]) < 2:
            assert time.monotonic() < deadline, "the two long runs never started"
            time.sleep(0.02)
        started = time.monotonic()
        done, _ = _post(http, worker.url, {"workflowName": "total", "args": [3]},
                        "tw-busy-q", "?wait=20")
        answered = time.monotonic() - started
        assert (done.status_code, done.json()["output"]) == (200, 3)
        assert answered < 1.5, f"answered after {answered:.2f}s; the long runs take 3s"
        first, _ = _post(http, worker.url, {"workflowName": "total", "args": [3]},
                         "tw-busy-q")
        assert first.json()["status"] == "pending"  # it went through the queue
    for napper in nappers:
        napper.join(30)


def test_trigger_errors_are_audited_once(tmp_path: Path, worker: Any,
                                         http: requests.Session) -> None:
    body = {"workflowName": "total", "args": [2]}
    none_active, correlation = _post(http, worker.url, body, "tw-e0", "?wait=1")
    assert none_active.status_code == 409
    assert [r["status"] for r in _audit(http, worker.url, correlation)] == [409]
    deploy(ComputeClient(worker.url, ADMIN_KEY), tmp_path / "project")
    for query in ("?wait=31", "?wait=-1", "?wait=abc", "?wait=nan"):
        bad, correlation = _post(http, worker.url, body, "tw-e1", query)
        assert (bad.status_code, bad.json()["code"]) == (400, "invalid_request"), query
        assert "wait" in bad.json()["fields"]
        assert [r["status"] for r in _audit(http, worker.url, correlation)] == [400]
    unknown, correlation = _post(http, worker.url, {"workflowName": "nope"}, "tw-e2")
    assert unknown.status_code == 400
    assert [r["status"] for r in _audit(http, worker.url, correlation)] == [400]
    invalid, correlation = _post(http, worker.url, {"workflowName": 5}, "tw-e3")
    assert (invalid.status_code, invalid.json()["code"]) == (400, "invalid_request")
    assert "workflowName" in invalid.json()["fields"]
    assert [r["status"] for r in _audit(http, worker.url, correlation)] == [400]
    extra, _ = _post(http, worker.url, {**body, "surprise": 1}, "tw-e4")
    assert (extra.status_code, extra.json()["code"]) == (400, "invalid_request")

    created, correlation = _post(http, worker.url, body, "tw-e5")
    assert created.status_code == 202
    assert [r["status"] for r in _audit(http, worker.url, correlation)] == [202]
    conflict, correlation = _post(http, worker.url, {**body, "args": [3]}, "tw-e5")
    assert (conflict.status_code, conflict.json()["code"]) == (409, "idempotency_conflict")
    assert [r["status"] for r in _audit(http, worker.url, correlation)] == [409]
    replay, correlation = _post(http, worker.url, body, "tw-e5")
    assert replay.status_code == 202 and replay.json()["id"] == created.json()["id"]
    assert [r["status"] for r in _audit(http, worker.url, correlation)] == [202]
