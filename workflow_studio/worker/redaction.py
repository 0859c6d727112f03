"""Secrets that travel in URL paths never reach an audit row or a log line whole.

A ``create_webhook()`` URL's token (``/v1/hooks/<token>``) is a bearer secret: whoever has
it can resume the hook. The same goes for a hook token looked up by the world proxy
(``/v1/world/hooks/by-token/<token>``). Both are shown as ``<redacted:`` + their first 8
characters + ``>``: enough to tell two apart, nothing to use.

``redact`` is applied to each audit row's path; ``RedactHookTokens`` is a logging filter
on gunicorn's access log (and the worker's console log), whose request line carries the
raw path.
"""

from __future__ import annotations

import copy
import logging
import re
from urllib.parse import unquote

SHOWN = 8
_MARK = "/hooks/"
_TOKEN_PATH = re.compile(r"(/v1/hooks/|/v1/world/hooks/by-token/)(?!<redacted:)([^/?#\s\"]+)")


def _replace(match: re.Match[str]) -> str:
    return f"{match.group(1)}<redacted:{match.group(2)[:SHOWN]}>"


def _needs(value: object) -> bool:
    """Whether ``value`` may hold a token path (a cheap test: most log lines have none)."""
    return isinstance(value, str) and (_MARK in value or ("%" in value and "/v1/" in value))


def redact(text: str) -> str:
    """``text`` with every hook token in a path replaced by its first characters.

    A percent-encoded path (``/v1/%68ooks/...`` routes like ``/v1/hooks/...``) is decoded
    first when that is what reveals a token."""
    if not _needs(text):
        return text
    redacted = _TOKEN_PATH.sub(_replace, text)
    if "%" in redacted:
        decoded = unquote(redacted)
        if _TOKEN_PATH.search(decoded):
            return _TOKEN_PATH.sub(_replace, decoded)
    return redacted


class RedactHookTokens(logging.Filter):
    """Redacts hook tokens in a record's message and arguments (gunicorn's access log
    passes its atoms as a mapping: the request line, the path, headers, environ)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, dict):
            changed = {k: redact(v) for k, v in args.items() if _needs(v)}
            if changed:  # a copy of the same mapping type (gunicorn's SafeAtoms), not the
                redacted = copy.copy(args)  # caller's own dict
                redacted.update(changed)
                record.args = redacted
        elif isinstance(args, tuple) and any(_needs(a) for a in args):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in args)
        if isinstance(record.msg, str) and _needs(record.msg):
            record.msg = redact(record.msg)
        return True
