"""``python -m bench --backend postgres``: the worker on PostgreSQL, beside the raw psycopg
commit rate on the same server (single-row autocommit INSERTs, on one connection and on
four), so W1's runs/s can be read against what the database itself allows.

Each bench run uses a fresh schema (dropped afterwards), so it never touches real data.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


def url_from_env() -> str:
    return (os.environ.get("WORKFLOW_POSTGRES_URL")
            or os.environ.get("WORKFLOW_TEST_POSTGRES_URL") or DEFAULT_URL)


@contextmanager
def bench_schema(url: str) -> Iterator[str]:
    """A fresh schema name for the worker (created by its migrations), dropped afterwards."""
    import psycopg
    from psycopg import sql

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    try:
        yield schema
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(schema)))


def commit_rate(url: str, connections: int = 1, seconds: float = 2.0) -> float:
    """Single-row autocommit INSERTs per second over ``connections`` connections."""
    import psycopg
    from psycopg import sql

    table = sql.Identifier(f"bench_raw_{uuid.uuid4().hex[:10]}")
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE TABLE {} (id BIGSERIAL PRIMARY KEY, v TEXT)").format(
            table))
        counts = [0] * connections
        start_line = threading.Barrier(connections + 1)
        deadline: list[float] = []

        def insert(index: int) -> None:
            with psycopg.connect(url, autocommit=True) as conn:
                statement = sql.SQL("INSERT INTO {} (v) VALUES (%s)").format(table)
                start_line.wait()
                while time.perf_counter() < deadline[0]:
                    conn.execute(statement, ("x" * 64,))
                    counts[index] += 1

        threads = [threading.Thread(target=insert, args=(i,)) for i in range(connections)]
        for thread in threads:
            thread.start()
        start = time.perf_counter()
        deadline.append(start + seconds)
        start_line.wait()
        for thread in threads:
            thread.join()
        rate = sum(counts) / (time.perf_counter() - start)
        admin.execute(sql.SQL("DROP TABLE {}").format(table))
    return rate


def worker_options(url: str, schema: str) -> dict[str, Any]:
    return {"postgres_url": url, "postgres_schema": schema}


def main_postgres(args: Any, bench: Any) -> None:
    """W1, W2 and W3 against a worker on PostgreSQL, printed beside the raw commit rates.

    ``bench`` is ``bench.run`` (its workloads and helpers are reused as they are)."""
    import tempfile
    from pathlib import Path

    from workflow_studio.client import ComputeClient
    from workflow_studio.worker.server import start_compute_worker_server

    url = url_from_env()
    one, four = commit_rate(url, 1), commit_rate(url, 4)
    with tempfile.TemporaryDirectory(prefix="ws-bench-") as tmp, bench_schema(url) as schema:
        directory = Path(tmp)
        server = start_compute_worker_server(
            workers=args.workers, artifact_dir=str(directory / "artifacts"),
            log_path=str(directory / "worker.log"), rate_limit_per_minute=0,
            seed_api_keys=[{"key": bench.KEY, "scopes": ["admin"]}],
            **worker_options(url, schema))
        try:
            bench.deploy(ComputeClient(server.url, bench.KEY), directory)
            w1_cold = bench.w1(server.url, args.runs, args.clients, args.trigger_wait)
            w1_rate = bench.w1(server.url, args.runs, args.clients, args.trigger_wait)
            p50, p99 = bench.w2(server.url, args.w2_runs, args.trigger_wait)
            per_step, drift, each = bench.w3_repeated(server.url, args.steps,
                                                      args.trigger_wait, args.w3_runs)
        finally:
            server.stop()
    print(f"ceilings: raw psycopg single-row autocommit INSERTs {one:,.0f}/s on one "
          f"connection, {four:,.0f}/s on four (same server)")
    print(f"W1 on PostgreSQL, {args.runs} runs x 10 steps: {w1_rate:,.0f} runs/s (target >= "
          f"360; the first {args.runs} after the deploy: {w1_cold:,.0f}; peers: OpenWorkflow "
          f"71, DBOS 12.6); raw commits {one:,.0f}/s (1 conn), "
          f"{four:,.0f}/s (4 conns)")
    print(f"W2 on PostgreSQL trigger->completion: p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    print(f"W3 on PostgreSQL, {args.steps} steps: {per_step:.4f} ms/step, last 10% / first "
          f"10% = {bench.ratio_text(drift)}; a raw commit costs {1000 / one:.3f} ms (1 conn){each}")
