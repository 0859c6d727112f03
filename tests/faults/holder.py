"""Another process that holds the SQLite writer lock until told to let go, as a cooperating
writer that stopped moving would (a process of its own: an ``flock`` held by this one would
not exclude it)."""

from __future__ import annotations

import subprocess
import sys
from types import TracebackType

_HOLD = """
import fcntl, os, sqlite3, sys
fd = os.open(sys.argv[1] + "-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
if sys.argv[2] == "1":  # and SQLite's own write lock, as a writer inside a transaction
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
print("held", flush=True)
sys.stdin.read()  # until the test closes our stdin
"""


class LockHolder:
    """``with LockHolder(database_path):`` the writer lock is held by another process
    (``in_transaction``: SQLite's write lock too, as by a writer stopped mid-transaction)."""

    def __init__(self, database_path: str, in_transaction: bool = False) -> None:
        self.database_path, self.in_transaction = database_path, in_transaction
        self.process: subprocess.Popen[str] | None = None

    def __enter__(self) -> LockHolder:
        self.process = subprocess.Popen([sys.executable, "-c", _HOLD, self.database_path,
                                         "1" if self.in_transaction else "0"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True)
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == "held"
        return self

    def release(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            assert process.stdin is not None and process.stdout is not None
            process.stdin.close()
            process.wait(10)
            process.stdout.close()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
