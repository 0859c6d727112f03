"""The SQLite writer lock's shared record: what its lock file tells every process about it.

The record is a shared ``mmap`` of the lock file's first pages (``sqlite_lock.py`` takes the
lock); every field is written only by the lock's holder, so the lock itself orders the
writes of all processes:

- the holder: pid, since when (``CLOCK_MONOTONIC``: one clock for every process of the
  machine), how many times the lock was taken, and what the holder is doing (the function
  that opened the transaction, and its thread). A process that is stopped cannot report
  itself, so another one reads this: ``worker.watchdog`` recycles a holder stuck too long;
- per kind of transaction (the function that opened it): how many, their total and longest
  hold, and a histogram of hold times (8 buckets per power of two, each ~9% wide) from which
  ``read_report`` gives p50/p99/max (``python -m bench`` prints them).

The writes run inside the critical section, so they are a few memory stores, with the
bucket computed by integer arithmetic; reading needs no lock (a torn read only misleads a
report, and the watchdog checks twice).
"""

from __future__ import annotations

import dataclasses
import fcntl
import mmap
import os
import time

_MAGIC = 0x0157_5357_4C4B_0001  # layout version 1
# The header, in int64 words: what the lock's holder writes.
_MAGIC_AT, _PID_AT, _SINCE_AT, _SEQ_AT, _STUCK_AT, _PATIENT_AT = range(6)
_DOING_AT, DOING_BYTES = 64, 64  # bytes: what the holder does (UTF-8, NUL-padded)
# The kinds table, in int64 words: per kind its name, then count, total, longest, buckets.
_KINDS_AT = 16
KIND_SLOTS = 32  # kinds beyond these are counted in the last slot, named "other"
_NAME_WORDS = 8  # a kind's name: 64 bytes
_COUNT, _TOTAL, _LONGEST, _BUCKETS = _NAME_WORDS, _NAME_WORDS + 1, _NAME_WORDS + 2, \
    _NAME_WORDS + 3
BUCKETS = 200  # bucket 0: under 1.024 us; the last: from ~30 s
_SLOT_WORDS = _BUCKETS + BUCKETS
_PAGES = ((_KINDS_AT + KIND_SLOTS * _SLOT_WORDS) * 8 + mmap.PAGESIZE - 1) // mmap.PAGESIZE
_SIZE = _PAGES * mmap.PAGESIZE


def bucket_bounds(index: int) -> tuple[int, int]:
    """The nanoseconds bucket ``index`` counts: [low, high). Bucket 0 is under 1,024 ns;
    then 8 per power of two (``LockFile.given_back`` computes the index)."""
    if index == 0:
        return 0, 1024
    exp, sub = 10 + (index - 1) // 8, (index - 1) % 8
    return (8 + sub) << (exp - 3), (9 + sub) << (exp - 3)


@dataclasses.dataclass(frozen=True)
class Holder:
    """Who holds the writer lock, as the lock file says (``pid`` 0: nobody)."""

    pid: int
    since_ns: int  # time.monotonic_ns() when it took the lock
    seq: int       # times the lock was taken, by anyone, so far
    doing: str
    stuck: int     # stuck holders recycled so far (``worker.watchdog`` counts them)
    patient: bool  # it waits and holds as long as it takes (migrations): never "stuck"

    def held_for(self) -> float:
        return (time.monotonic_ns() - self.since_ns) / 1e9 if self.pid else 0.0


@dataclasses.dataclass(frozen=True)
class KindReport:
    """How long one kind of transaction held the writer lock, in milliseconds."""

    kind: str
    count: int
    total_ms: float
    p50_ms: float
    p99_ms: float
    max_ms: float


class LockFile:
    """The shared record in the lock file (see the module docstring)."""

    def __init__(self, path: str) -> None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < _SIZE:  # extending never loses what another wrote
                os.ftruncate(fd, _SIZE)
            self._map = mmap.mmap(fd, _SIZE)
        finally:
            os.close(fd)
        self.words = memoryview(self._map).cast("q")
        self._doing = memoryview(self._map)[_DOING_AT:_DOING_AT + DOING_BYTES]
        self._slots: dict[str, int] = {}  # kind -> its first word, found once per process

    # -- written by the holder only ----------------------------------------------------
    def taken(self, pid: int, since_ns: int, doing: bytes, patient: bool) -> None:
        words = self.words
        if words[_MAGIC_AT] != _MAGIC:  # a new file (or another layout): start it over
            self._map[:] = bytes(_SIZE)
            words[_MAGIC_AT] = _MAGIC
            self._slots.clear()
        words[_PID_AT] = pid
        words[_SINCE_AT] = since_ns
        words[_SEQ_AT] += 1
        words[_PATIENT_AT] = patient
        self._doing[:] = doing

    def given_back(self, kind: str, held_ns: int) -> None:
        words = self.words
        base = self._slots.get(kind)
        if base is None:
            base = self._slots[kind] = self._slot(kind)
        words[base + _COUNT] += 1
        words[base + _TOTAL] += held_ns
        if held_ns > words[base + _LONGEST]:
            words[base + _LONGEST] = held_ns
        if held_ns < 1024:  # the bucket (see bucket_bounds), in integer arithmetic: this
            # runs inside the critical section
            words[base + _BUCKETS] += 1
        else:
            exp = held_ns.bit_length() - 1
            words[base + _BUCKETS + min(BUCKETS - 1, 1 + (exp - 10) * 8
                                        + ((held_ns >> (exp - 3)) & 7))] += 1
        words[_PID_AT] = 0

    def _slot(self, kind: str) -> int:
        name = kind.encode()[:_NAME_WORDS * 8].ljust(_NAME_WORDS * 8, b"\0")
        for index in range(KIND_SLOTS):
            base = _KINDS_AT + index * _SLOT_WORDS
            start = base * 8
            found = bytes(self._map[start:start + _NAME_WORDS * 8])
            if index == KIND_SLOTS - 1 and found != name:
                name = b"other".ljust(_NAME_WORDS * 8, b"\0")
            if found == name:
                return base
            if not found.strip(b"\0"):
                self._map[start:start + _NAME_WORDS * 8] = name
                return base
        raise AssertionError("unreachable: the last slot takes every other kind")

    def count_stuck(self) -> None:
        """A stuck holder was recycled (``worker.watchdog``; best effort, not under the
        lock: two siblings recycling the same holder at once may count it twice)."""
        self.words[_STUCK_AT] += 1

    def reset_counts(self) -> None:
        """Zero every kind's counts (the names stay: processes keep their slots). Call it
        holding the lock, e.g. between two benchmarks."""
        words = self.words
        for index in range(KIND_SLOTS):
            base = _KINDS_AT + index * _SLOT_WORDS
            for offset in range(_COUNT, _SLOT_WORDS):
                words[base + offset] = 0

    # -- read by anyone ----------------------------------------------------------------
    def holder(self) -> Holder:
        words = self.words
        return Holder(pid=words[_PID_AT], since_ns=words[_SINCE_AT], seq=words[_SEQ_AT],
                      doing=bytes(self._doing).rstrip(b"\0").decode(errors="replace"),
                      stuck=words[_STUCK_AT], patient=bool(words[_PATIENT_AT]))

    def seq(self) -> int:
        """How many times the lock was taken so far, by anyone."""
        return self.words[_SEQ_AT]

    def held_since(self) -> int | None:
        """``time.monotonic_ns()`` when the holder took the lock; None if nobody holds it."""
        words = self.words
        return words[_SINCE_AT] if words[_PID_AT] else None

    def report(self) -> list[KindReport]:
        """Every kind seen so far, most total time held first."""
        words, out = self.words, []
        for index in range(KIND_SLOTS):
            base = _KINDS_AT + index * _SLOT_WORDS
            count = words[base + _COUNT]
            if count <= 0:
                continue
            start = base * 8
            kind = bytes(self._map[start:start + _NAME_WORDS * 8]).rstrip(b"\0").decode()
            buckets = [words[base + _BUCKETS + i] for i in range(BUCKETS)]
            longest = words[base + _LONGEST]
            out.append(KindReport(kind, count, words[base + _TOTAL] / 1e6,
                                  _quantile(buckets, count, 0.50, longest) / 1e6,
                                  _quantile(buckets, count, 0.99, longest) / 1e6,
                                  longest / 1e6))
        return sorted(out, key=lambda r: -r.total_ms)

    def close(self) -> None:
        self._doing.release()
        self.words.release()
        self._map.close()


def _quantile(buckets: list[int], count: int, q: float, longest: int) -> float:
    """The upper bound of the bucket holding the ``q`` quantile, at most the longest hold."""
    rank, seen = max(1, round(q * count)), 0
    for index, n in enumerate(buckets):
        seen += n
        if seen >= rank:
            return float(min(bucket_bounds(index)[1], longest))
    return float(longest)


def read_report(database_path: str) -> tuple[Holder, list[KindReport]]:
    """The holder and the per-kind hold times the lock file of ``database_path`` records."""
    record = LockFile(os.path.abspath(f"{database_path}-writer.lock"))
    try:
        return record.holder(), record.report()
    finally:
        record.close()


def reset_report(database_path: str) -> None:
    """Zero the per-kind hold times of ``database_path``'s lock file (between benchmarks),
    holding the lock meanwhile but leaving no trace of it in the record."""
    record = LockFile(os.path.abspath(f"{database_path}-writer.lock"))
    fd = os.open(os.path.abspath(f"{database_path}-writer.lock"), os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        record.reset_counts()
    finally:
        os.close(fd)  # the lock goes with its only descriptor
        record.close()
