"""Engine benchmarks on a real gunicorn worker, each beside the ceilings measured in the
same run.

W1  500 runs x 10 no-op steps, triggered concurrently through ``POST /v1/runs?wait=30``
    (16 connections): runs/s, measured twice. The first pass is the first runs after the
    deploy, which include every process loading the deployment and warming its caches;
    the second is the steady state the target is about. Both are printed.
W2  sequential one-step runs, trigger -> completion seen by the client (``POST
    /v1/runs?wait=30`` answers with the finished run): p50/p99 latency.
W3  one 10,000-step run: ms/step, and the time its last 10% of steps took against its
    first 10% (each from one step's completion to the completion 1,000 steps later).

After each workload the bench prints how long each kind of transaction held the SQLite
writer lock (``bench.critical``: p50/p99/max per kind, from the lock file's record).

Ceilings: the raw sqlite3 commit rate (one INSERT + COMMIT, WAL, synchronous=NORMAL, on the
same disk) and the HTTP ceiling (an unrouted path, answered by the app's JSON 404 without
touching the database, with the same client and concurrency as W1).

Every request goes through ``bench.loadgen`` (keep-alive sockets, one selector loop), so the
client costs the 2-core machine little CPU. ``--trigger-wait 0`` measures the two-request
flow instead (trigger, then long-poll ``GET /v1/runs/:id?wait``).

Usage: ``python -m bench [--runs 500] [--steps 10000] [--w2-runs 200] [--w3-runs 1]
[--workers 2] [--trigger-wait 30]``.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Generator
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import critical
from bench.loadgen import Client, Request, Response, drive
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
    """No-op requests per second from ``clients`` keep-alive connections."""
    count = [0]
    deadline = time.perf_counter() + seconds
    noop = Request("GET", "/v1/bench-noop")

    def loop() -> Client:
        while time.perf_counter() < deadline:
            yield noop
            count[0] += 1

    start = time.perf_counter()
    drive(url, [loop() for _ in range(clients)])
    return count[0] / (time.perf_counter() - start)


def http_latency(url: str, requests_count: int = 200) -> float:
    """p50 of one client's sequential no-op requests (the floor under W2's round trip)."""
    samples: list[float] = []
    noop = Request("GET", "/v1/bench-noop")

    def loop() -> Client:
        for _ in range(requests_count):
            start = time.perf_counter()
            yield noop
            samples.append((time.perf_counter() - start) * 1000)

    drive(url, [loop()])
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


def run_to_end(workflow: str, args: list[Any],
               trigger_wait: float) -> Generator[Request, Response, dict[str, Any]]:
    """Trigger one run and follow it to its end: ``POST /v1/runs?wait=`` (one round trip
    when the run finishes within the wait), then long-poll ``GET /v1/runs/:id?wait=30``
    while it is still going. Returns the finished run; raises if it did not complete."""
    query = f"?wait={trigger_wait:g}" if trigger_wait else ""
    response = yield Request("POST", f"/v1/runs{query}", {
        "Authorization": f"Bearer {KEY}", "Idempotency-Key": str(uuid.uuid4())},
        {"workflowName": workflow, "args": args, "kwargs": {}})
    run = response.json()
    if response.status >= 400:
        raise RuntimeError(f"trigger failed: {response.status} {run}")
    while run["status"] not in ("completed", "failed", "cancelled"):
        response = yield Request("GET", f"/v1/runs/{run['id']}?wait=30",
                                 {"Authorization": f"Bearer {KEY}"})
        run = response.json()
    if run["status"] != "completed":
        raise RuntimeError(f"run {run['id']} {run['status']}: {run.get('error')}")
    return run


def w1(url: str, runs: int, clients: int, trigger_wait: float) -> float:
    """``runs`` runs of ``ten`` from ``clients`` concurrent connections: runs/s."""
    remaining = [runs]

    def client() -> Client:
        while remaining[0] > 0:
            remaining[0] -= 1
            yield from run_to_end("ten", [], trigger_wait)

    start = time.perf_counter()
    drive(url, [client() for _ in range(clients)])
    return runs / (time.perf_counter() - start)


def w2(url: str, runs: int, trigger_wait: float) -> tuple[float, float]:
    latencies: list[float] = []

    def client() -> Client:
        for _ in range(runs):
            start = time.perf_counter()
            yield from run_to_end("one", [], trigger_wait)
            latencies.append((time.perf_counter() - start) * 1000)

    drive(url, [client()])
    latencies.sort()
    return statistics.median(latencies), latencies[int(len(latencies) * 0.99) - 1]


MIN_WINDOW = 0.01  # seconds: steps complete at millisecond resolution, so a window must
#                    span at least ten of them for the ratio to mean anything


def window_ratio(stamps: list[float]) -> float | None:
    """The last 10% of steps' time over the first 10%'s (each from one step's completion
    to the completion a tenth of the run later); None when a window is too short to time."""
    tenth = max(1, len(stamps) // 10)
    if len(stamps) <= tenth:
        return None
    first = stamps[tenth] - stamps[0]
    last = stamps[-1] - stamps[-tenth - 1]
    return last / first if min(first, last) >= MIN_WINDOW else None


def ratio_text(ratio: float | None) -> str:
    return f"{ratio:.2f}" if ratio is not None else (
        f"not measured (a window took under {MIN_WINDOW * 1000:.0f} ms: use more --steps)")


def w3(url: str, steps: int, trigger_wait: float) -> tuple[float, float | None]:
    done: list[dict[str, Any]] = []

    def client() -> Client:
        done.append((yield from run_to_end("many", [steps], trigger_wait)))

    start = time.perf_counter()
    drive(url, [client()])
    elapsed = time.perf_counter() - start
    rows = ComputeClient(url, KEY).run_steps(done[0]["id"])["data"]
    stamps = [datetime.fromisoformat(r["completedAt"].replace("Z", "+00:00")).timestamp()
              for r in rows]
    # Both windows are measured alike, completion to completion over a tenth of the steps.
    # The first used to start at the first step's start: its 1,000 steps then held 4 group
    # commits (after steps 200 .. 800) against the last window's 5, a bias of ~+0.1.
    return elapsed * 1000 / steps, window_ratio(stamps)


def w3_repeated(url: str, steps: int, trigger_wait: float, runs: int
                ) -> tuple[float, float | None, str]:
    """W3 ``runs`` times: the medians of ms/step and of the ratio (over the runs that could
    time it), and, when there are several runs, a note listing each run's pair."""
    results = [w3(url, steps, trigger_wait) for _ in range(runs)]
    per_step = statistics.median(r[0] for r in results)
    timed = [r[1] for r in results if r[1] is not None]
    drift = statistics.median(timed) if timed else None
    each = ", ".join(f"{p:.4f} ms/{d:.2f}" if d is not None else f"{p:.4f} ms/-"
                     for p, d in results)
    return per_step, drift, f" [medians of {runs} runs: {each}]" if runs > 1 else ""


def _at_least(low: int) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}")
        return value
    return parse


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=_at_least(1), default=500)
    parser.add_argument("--steps", type=_at_least(10), default=10_000)
    parser.add_argument("--w2-runs", type=_at_least(1), default=200)
    parser.add_argument("--w3-runs", type=_at_least(1), default=1,
                        help="run W3 this many times and print the medians and each run")
    parser.add_argument("--clients", type=_at_least(1), default=16)
    parser.add_argument("--workers", type=_at_least(1), default=2)
    parser.add_argument("--trigger-wait", type=float, default=30.0,
                        help="POST /v1/runs?wait=S (0: trigger, then long-poll GET)")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite",
                        help="postgres: WORKFLOW_POSTGRES_URL (or the test URL), fresh schema")
    args = parser.parse_args()
    if args.backend == "postgres":
        from bench.postgres import main_postgres
        main_postgres(args, sys.modules[__name__])
        return
    with tempfile.TemporaryDirectory(prefix="ws-bench-") as tmp:
        directory = Path(tmp)
        commit_rate = sqlite_commit_rate(directory)
        server = start_compute_worker_server(
            workers=args.workers, sqlite_path=str(directory / "worker.db"),
            artifact_dir=str(directory / "artifacts"), log_path=str(directory / "worker.log"),
            seed_api_keys=[{"key": KEY, "scopes": ["admin"]}], rate_limit_per_minute=0)
        try:
            # gunicorn answers health from the first process up; the others may still be
            # booting (imports, executor threads), so warm up before measuring.
            http_ceiling(server.url, args.clients, seconds=1.0)
            ceiling = http_ceiling(server.url, args.clients)
            floor = http_latency(server.url)
            deploy(ComputeClient(server.url, KEY), directory)
            database = str(directory / "worker.db")
            w1_cold = w1(server.url, args.runs, args.clients, args.trigger_wait)
            critical.reset(database)
            w1_rate = w1(server.url, args.runs, args.clients, args.trigger_wait)
            held = [critical.report(database, "W1 (warm)", args.runs / w1_rate)]
            critical.reset(database)
            started = time.perf_counter()
            p50, p99 = w2(server.url, args.w2_runs, args.trigger_wait)
            held.append(critical.report(database, "W2", time.perf_counter() - started))
            critical.reset(database)
            started = time.perf_counter()
            per_step, drift, each = w3_repeated(server.url, args.steps, args.trigger_wait,
                                                args.w3_runs)
            held.append(critical.report(database, "W3", time.perf_counter() - started))
        finally:
            server.stop()
    print(f"ceilings: sqlite3 commits {commit_rate:,.0f}/s; HTTP no-op route "
          f"{ceiling:,.0f} req/s ({args.clients} clients, {args.workers} processes)")
    requests_per_run = "one request" if args.trigger_wait else "two requests"
    print(f"W1 {args.runs} runs x 10 steps: {w1_rate:,.0f} runs/s (target >= 630; the first "
          f"{args.runs} after the deploy, while each process loads it: {w1_cold:,.0f}); each run "
          f"costs {requests_per_run}, so {w1_rate / ceiling:.2f} of the HTTP ceiling in "
          f"runs/s; {w1_rate * 2 / commit_rate:.3f} of the commit rate at 2 write "
          f"transactions/run (fewer commits: group commit)")
    print(f"W2 trigger->completion: p50 {p50:.2f} ms (target <= 3), p99 {p99:.2f} ms "
          f"(target <= 10); one no-op HTTP round trip takes {floor:.2f} ms (p50), and a run "
          f"needs {requests_per_run}")
    print(f"W3 {args.steps} steps: {per_step:.4f} ms/step (target <= 0.1), last 10% / first "
          f"10% = {ratio_text(drift)} (target <= 1.2); a raw commit costs "
          f"{1000 / commit_rate:.4f} ms{each}")
    print("\n".join(held))


if __name__ == "__main__":
    main()
