"""``python -m bench.sizing``: the figures the sizing guide (docs/operations.md) is built
from, measured on this machine: sustained runs/s of 10-step runs, database bytes per run,
and the resident memory of each gunicorn process, on SQLite.

Usage: ``python -m bench.sizing [--runs 5000] [--workers 2]``.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
from pathlib import Path

from bench.run import KEY, deploy, w1
from workflow_studio.client import ComputeClient
from workflow_studio.worker.server import start_compute_worker_server


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    if int(stat.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    return found


def database_bytes(path: Path) -> int:
    """The file's size once the WAL is folded in (what the runs really occupy)."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sizing")
    parser.add_argument("--runs", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "worker.db"
        server = start_compute_worker_server(
            workers=args.workers, sqlite_path=str(db), artifact_dir=f"{tmp}/artifacts",
            seed_api_keys=[{"key": KEY, "scopes": ["admin"]}], rate_limit_per_minute=0)
        try:
            deploy(ComputeClient(server.url, KEY), Path(tmp))
            w1(server.url, 200, 16, 30.0)  # warm: every process has loaded the deployment
            before = database_bytes(db)
            rate = w1(server.url, args.runs, 16, 30.0)
            per_run = (database_bytes(db) - before) / args.runs
            workers = [rss_mib(pid) for pid in children(server.process.pid)]
        finally:
            server.stop(10)
    print(f"{args.runs} runs x 10 steps, {args.workers} processes, {os.cpu_count()} cores: "
          f"{rate:,.0f} runs/s ({rate / (os.cpu_count() or 1):,.0f} per core); "
          f"{per_run:,.0f} bytes of database per run; worker processes "
          f"{', '.join(f'{m:.0f}' for m in workers)} MiB resident")


if __name__ == "__main__":
    main()
