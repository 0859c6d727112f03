"""Branded identifiers: a short type prefix plus a ULID (time-ordered, URL-safe).

The prefix makes a run id pasted into the deployments CLI fail loudly instead of silently
missing; the ULID keeps ids sortable by creation time, which cursor pagination relies on.
"""

from __future__ import annotations

import base64
import os
import re
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
PREFIXES = ("wrun", "step", "hook", "wait", "evnt", "dpl", "strm", "key", "aud", "msg")
_ULID_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


_FROM_RFC4648 = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _CROCKFORD)


def ulid(timestamp_ms: int | None = None) -> str:
    """A 26-character ULID: 48 bits of milliseconds, 80 random bits."""
    ms = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    # 128 bits in 20 bytes: base32 gives 32 characters, the first 6 always zero. The C
    # encoder keeps id generation off the engine's per-step profile.
    raw = (ms & 0xFFFF_FFFF_FFFF).to_bytes(16, "big")[10:] + os.urandom(10)
    return base64.b32encode(bytes(4) + raw).decode("ascii")[6:].translate(_FROM_RFC4648)


def new_id(prefix: str) -> str:
    """A fresh id such as ``dpl_01J...``."""
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}")
    return f"{prefix}_{ulid()}"


def parse_id(value: object, prefix: str) -> str | None:
    """Return ``value`` if it is a well-formed id with ``prefix``, else None."""
    if not isinstance(value, str):
        return None
    head, sep, tail = value.partition("_")
    if sep != "_" or head != prefix or not _ULID_RE.match(tail):
        return None
    return value
