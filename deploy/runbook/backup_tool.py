"""What backup.sh and restore.sh ask of Python: SQLite snapshots and checks, backup.json.

Run with the worker's own Python (the one the workflow-studio CLI runs on), never imported:

    backup_tool.py snapshot SRC DEST            VACUUM INTO: a consistent online copy
    backup_tool.py seal-sqlite DIR SRC_DB SRC_ARTIFACTS
    backup_tool.py seal-postgres DIR SCHEMA
    backup_tool.py check DIR                    prints the backup's dialect

A backup directory holds ``backup.json`` (what was copied, from where, digests) beside
``worker.db`` and ``artifacts/`` (SQLite) or ``postgres.dump`` (PostgreSQL). Exit status 1
with one line on stderr when a check fails.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import sqlite3
import sys
from pathlib import Path

FORMAT = 1


def fail(message: str) -> None:
    sys.exit(f"backup: {message}")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def snapshot(src: str, dest: str) -> None:
    """A consistent copy of a live database: one read transaction, so the writers go on."""
    conn = sqlite3.connect(src, timeout=30)
    try:
        conn.execute("VACUUM INTO ?", (dest,))
    finally:
        conn.close()


def read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?immutable=1", uri=True)


def describe_sqlite(db: Path, artifacts: Path) -> dict[str, object]:
    """Check a copied database and its artifacts; what backup.json says about them."""
    conn = read_only(db)
    try:
        verdict = conn.execute("PRAGMA integrity_check").fetchone()[0]
        if verdict != "ok":
            fail(f"{db}: integrity_check: {verdict}")
        deployments = [row[0] for row in conn.execute("SELECT id FROM deployments")]
        active = conn.execute("SELECT deployment_id FROM active_deployment").fetchone()
        runs = conn.execute("SELECT count(*) FROM workflow_runs").fetchone()[0]
        schema = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()[0]
    finally:
        conn.close()
    missing = [d for d in deployments if not (artifacts / d / "manifest.json").is_file()]
    if missing:
        fail(f"deployments without their artifacts in the backup: {', '.join(missing)}")
    return {"deployments": len(deployments), "active_deployment": active and active[0],
            "runs": runs, "schema_version": schema}


def worker_version() -> str:
    try:
        from workflow_studio.version import __version__
    except ImportError:
        return "unknown"
    return __version__


def seal(folder: Path, record: dict[str, object], files: list[str]) -> None:
    record = {"format": FORMAT,
              "created_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
              "worker_version": worker_version(), **record,
              "files": {name: sha256(folder / name) for name in files}}
    (folder / "backup.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def seal_sqlite(folder: Path, src_db: str, src_artifacts: str) -> None:
    facts = describe_sqlite(folder / "worker.db", folder / "artifacts")
    seal(folder, {"dialect": "sqlite", "source": {"sqlite_path": src_db,
                                                  "artifact_dir": src_artifacts}, **facts},
         ["worker.db"])


def seal_postgres(folder: Path, schema: str) -> None:
    seal(folder, {"dialect": "postgres", "source": {"postgres_schema": schema}},
         ["postgres.dump"])


def known_schema_version(dialect: str) -> int | None:
    try:
        from workflow_studio.storage import migrations
    except ImportError:
        return None
    return max(number for number, _, _ in migrations.available(dialect))


def check(folder: Path) -> str:
    """The backup is whole and this worker can open it; returns its dialect."""
    try:
        record = json.loads((folder / "backup.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        fail(f"{folder}: not a backup (backup.json: {exc})")
    if record.get("format") != FORMAT:
        fail(f"{folder}: backup format {record.get('format')!r}, expected {FORMAT}")
    for name, digest in record["files"].items():
        path = folder / name
        if not path.is_file() or sha256(path) != digest:
            fail(f"{path}: missing or changed since the backup (sha256 differs)")
    dialect = record["dialect"]
    if dialect == "sqlite":
        facts = describe_sqlite(folder / "worker.db", folder / "artifacts")
        known = known_schema_version("sqlite")
        if known is not None and (facts["schema_version"] or 0) > known:
            fail(f"the backup's schema (migration {facts['schema_version']}) is newer than "
                 f"this worker's ({known}): install the version that made it "
                 f"({record['worker_version']}) first")
    return str(dialect)


def main(argv: list[str]) -> None:
    command, *args = argv or ["help"]
    if command == "snapshot" and len(args) == 2:
        snapshot(*args)
    elif command == "seal-sqlite" and len(args) == 3:
        seal_sqlite(Path(args[0]), args[1], args[2])
    elif command == "seal-postgres" and len(args) == 2:
        seal_postgres(Path(args[0]), args[1])
    elif command == "check" and len(args) == 1:
        print(check(Path(args[0])))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
