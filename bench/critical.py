"""How long each kind of transaction held the SQLite writer lock, as the lock file records
it (``storage.lock_record``): count, p50, p99 and max per kind, and the share of the
workload's wall time the lock was held. Every write of every process waits behind these
critical sections, so they bound the write rate; shrink the biggest first."""

from __future__ import annotations

from workflow_studio.storage.lock_record import read_report, reset_report


def reset(database_path: str) -> None:
    reset_report(database_path)


def report(database_path: str, title: str, seconds: float) -> str:
    """The table for the workload that ran since the last ``reset``, ``seconds`` long."""
    _, kinds = read_report(database_path)
    held = sum(k.total_ms for k in kinds) / 1000
    lines = [f"writer lock during {title}: held {held:.2f}s of {seconds:.2f}s "
             f"({held / seconds:.0%}); per transaction kind (the function that opened it):"]
    lines.append(f"  {'kind':<34} {'count':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
                 f"{'share':>6}")
    for kind in kinds:
        lines.append(f"  {kind.kind:<34} {kind.count:>7,} {kind.p50_ms:>8.3f} "
                     f"{kind.p99_ms:>8.3f} {kind.max_ms:>8.2f} "
                     f"{kind.total_ms / 1000 / max(held, 1e-9):>6.0%}")
    return "\n".join(lines)
