"""Branded identifiers: a short type prefix plus a ULID (time-ordered, URL-safe).

The prefix makes a run id pasted into the deployments CLI fail loudly instead of silently
missing; the ULID keeps ids sortable by creation time, which cursor pagination relies on.

An id names a record; it is never a secret (tokens, keys and webhook secrets come from
``secrets``), so its 80 random bits come from ``random``: a system call per id
(``os.urandom``) also gave up the GIL, and a 10-step run makes ~40 ids. The generator is
our own, so workflow code that seeds the global ``random`` cannot make ids repeat, and it
is reseeded from the OS in every forked child, so gunicorn's processes do not repeat each
other's.
"""

from __future__ import annotations

import os
import random
import re
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
PREFIXES = ("wrun", "step", "hook", "wait", "evnt", "dpl", "strm", "key", "aud", "msg", "sch")
_ULID_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


# Every pair of Crockford characters, so a ULID is 13 table lookups: pure-Python base32
# (``base64.b32encode``) cost ~8 us an id, and a 10-step run makes ~40 ids.
_PAIRS = tuple(a + b for a in _CROCKFORD for b in _CROCKFORD)
_random = random.Random()  # seeded from os.urandom
os.register_at_fork(after_in_child=_random.seed)
_bits = _random.getrandbits


_last_prefix: tuple[int, str] = (-1, "")  # (ms, its 10 characters): ids come in bursts


def ulid(timestamp_ms: int | None = None) -> str:
    """A 26-character ULID: 48 bits of milliseconds, 80 random bits."""
    ms = (int(time.time() * 1000) if timestamp_ms is None else timestamp_ms) & 0xFFFF_FFFF_FFFF
    global _last_prefix
    cached_ms, prefix = _last_prefix  # one tuple read: consistent without a lock
    p = _PAIRS
    if cached_ms != ms:
        prefix = (p[ms >> 40] + p[(ms >> 30) & 1023] + p[(ms >> 20) & 1023]
                  + p[(ms >> 10) & 1023] + p[ms & 1023])
        _last_prefix = (ms, prefix)
    r = _bits(80)
    return (prefix + p[r >> 70] + p[(r >> 60) & 1023] + p[(r >> 50) & 1023]
            + p[(r >> 40) & 1023] + p[(r >> 30) & 1023] + p[(r >> 20) & 1023]
            + p[(r >> 10) & 1023] + p[r & 1023])


def new_id(prefix: str) -> str:
    """A fresh id such as ``dpl_01J...``."""
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}")
    return f"{prefix}_{ulid()}"


def id_pattern(prefix: str) -> str:
    """The regular expression a well-formed id with ``prefix`` matches (for API documents)."""
    return f"^{prefix}_{_ULID_RE.pattern[1:]}"


def parse_id(value: object, prefix: str) -> str | None:
    """Return ``value`` if it is a well-formed id with ``prefix``, else None."""
    if not isinstance(value, str):
        return None
    head, sep, tail = value.partition("_")
    if sep != "_" or head != prefix or not _ULID_RE.match(tail):
        return None
    return value
