"""Engine benchmarks on a real gunicorn worker, each beside the ceilings measured in the
same run.

W1  500 runs x 10 no-op steps, triggered concurrently through ``POST /v1/runs``: runs/s.
W2  sequential one-step runs, trigger -> completion (long-poll ``GET /v1/runs/:id?wait``):
    p50/p99 latency.
W3  one 10,000-step run: ms/step, and the last 10% of steps against the first 10%.

Ceilings: the raw sqlite3 commit rate (one INSERT + COMMIT, WAL, synchronous=NORMAL, on the
same disk) and the HTTP ceiling (an unrouted path, answered by the app's JSON 404 without
touching the database, with the same client concurrency as W1).

Usage: ``python -m bench [--runs 500] [--steps 10000] [--w2-runs 200] [--workers 2]``.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import textwrap
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

from workflow_studio.builder.project import build_project
from workflow_studio.client import ComputeClient
from workflow_studio.worker.server import start_compute_worker_server

KEY = "wsk_bench_admin_key_0123456789abcdef"
PROJECT = """
    import workflow_studio as ws

    @ws.step
    def noop(i):
        return i

    @ws.workflow
    def ten():
        for i in range(10):
            noop(i)
        return 10

    @ws.workflow
    def one():
        return noop(1)

    @ws.workflow
    def many(n):
        for i in range(n):
            noop(i)
        return n
"""


def sqlite_commit_rate(directory: Path, seconds: float = 2.0) -> float:
    conn = sqlite3.connect(directory / "raw.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    count, deadline = 0, time.perf_counter() + seconds
    start = time.perf_counter()
    while time.perf_counter() < deadline:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t (v) VALUES (?)", ("x" * 64,))
        conn.execute("COMMIT")
        count += 1
    rate = count / (time.perf_counter() - start)
    conn.close()
    return rate


def http_ceiling(url: str, clients: int, seconds: float = 2.0) -> float:
    count = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def loop() -> None:
        with requests.Session() as session:
            done = 0
            while time.perf_counter() < deadline:
                session.get(f"{url}/v1/bench-noop")
                done += 1
            with lock:
                count[0] += done

    start = time.perf_counter()
    threads = [threading.Thread(target=loop) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return count[0] / (time.perf_counter() - start)


def http_latency(url: str, requests_count: int = 200) -> float:
    """p50 of one client's sequential no-op requests (the floor under W2's two requests)."""
    with requests.Session() as session:
        samples = []
        for _ in range(requests_count):
            start = time.perf_counter()
            session.get(f"{url}/v1/bench-noop")
            samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def deploy(client: ComputeClient, directory: Path) -> None:
    root = directory / "project"
    (root / "bench_app").mkdir(parents=True)
    (root / "bench_app" / "__init__.py").write_text("")
    (root / "bench_app" / "flows.py").write_text(textwrap.dedent(PROJECT))
    config = root / "workflow_config.py"
    config.write_text("from workflow_studio import define_config\n"
                      "config = define_config(workflows=['bench_app.flows'])\n")
    result = build_project(str(config), root / "out")
    deployment = client.create_deployment(result.manifest_path, result.artifact_path)
    client.activate_deployment(deployment["id"])


def wait_done(client: ComputeClient, run_id: str, timeout: float = 600) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run = client.get_run(run_id, wait=min(30.0, max(0.5, deadline - time.monotonic())))
        if run["status"] in ("completed", "failed", "cancelled"):
            if run["status"] != "completed":
                raise RuntimeError(f"run {run_id} {run['status']}: {run.get('error')}")
            return run
        if time.monotonic() > deadline:
            raise RuntimeError(f"run {run_id} still {run['status']}")


def w1(url: str, runs: int, clients: int) -> float:
    local = threading.local()

    def client() -> ComputeClient:
        if not hasattr(local, "client"):
            local.client = ComputeClient(url, KEY)
        return local.client

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        ids = list(pool.map(lambda _: client().trigger_run("ten")["id"], range(runs)))
        list(pool.map(lambda run_id: wait_done(client(), run_id), ids))
    return runs / (time.perf_counter() - start)


def w2(url: str, runs: int) -> tuple[float, float]:
    client = ComputeClient(url, KEY)
    latencies = []
    for _ in range(runs):
        start = time.perf_counter()
        run = client.trigger_run("one", idempotency_key=str(uuid.uuid4()))
        wait_done(client, run["id"])
        latencies.append((time.perf_counter() - start) * 1000)
    latencies.sort()
    return statistics.median(latencies), latencies[int(len(latencies) * 0.99) - 1]


def w3(url: str, steps: int) -> tuple[float, float]:
    client = ComputeClient(url, KEY)
    start = time.perf_counter()
    run = wait_done(client, client.trigger_run("many", [steps])["id"])
    elapsed = time.perf_counter() - start
    rows = client.run_steps(run["id"])["data"]
    stamps = [datetime.fromisoformat(r["completedAt"].replace("Z", "+00:00")).timestamp()
              for r in rows]
    tenth = max(1, len(stamps) // 10)
    first = stamps[tenth - 1] - datetime.fromisoformat(
        rows[0]["startedAt"].replace("Z", "+00:00")).timestamp()
    last = stamps[-1] - stamps[-tenth - 1]
    return elapsed * 1000 / steps, (last / first) if first > 0 else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--w2-runs", type=int, default=200)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ws-bench-") as tmp:
        directory = Path(tmp)
        commit_rate = sqlite_commit_rate(directory)
        server = start_compute_worker_server(
            workers=args.workers, sqlite_path=str(directory / "worker.db"),
            artifact_dir=str(directory / "artifacts"), log_path=str(directory / "worker.log"),
            seed_api_keys=[{"key": KEY, "scopes": ["admin"]}], rate_limit_per_minute=0)
        try:
            ceiling = http_ceiling(server.url, args.clients)
            floor = http_latency(server.url)
            client = ComputeClient(server.url, KEY)
            deploy(client, directory)
            w1_rate = w1(server.url, args.runs, args.clients)
            p50, p99 = w2(server.url, args.w2_runs)
            per_step, drift = w3(server.url, args.steps)
        finally:
            server.stop()
    print(f"ceilings: sqlite3 commits {commit_rate:,.0f}/s; HTTP no-op route "
          f"{ceiling:,.0f} req/s ({args.clients} clients, {args.workers} processes)")
    print(f"W1 {args.runs} runs x 10 steps: {w1_rate:,.0f} runs/s (target >= 630); "
          f"each run costs one trigger request, so {w1_rate / ceiling:.2f} of the HTTP "
          f"ceiling; {w1_rate * 4 / commit_rate:.3f} of the commit rate at ~4 commits/run")
    print(f"W2 trigger->completion: p50 {p50:.2f} ms (target <= 3), p99 {p99:.2f} ms "
          f"(target <= 10); one no-op HTTP round trip takes {floor:.2f} ms (p50), and a run "
          f"needs two (trigger, long-poll)")
    print(f"W3 {args.steps} steps: {per_step:.4f} ms/step (target <= 0.1), last 10% / first "
          f"10% = {drift:.2f} (target <= 1.2); a raw commit costs "
          f"{1000 / commit_rate:.4f} ms")


if __name__ == "__main__":
    main()
