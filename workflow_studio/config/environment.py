"""The worker's process environment: which variables are secrets, what user code may see of
it, and error text that is safe to hand to an API caller.

A ``deploy:write`` key runs code on the worker (activation imports the artifact; runs execute
it), so that code must not find the worker's credentials lying in its environment. The
gunicorn hooks (``worker/gunicorn_conf.py``) use the functions here:

- ``hide_secrets()`` in the master, once its settings are read: the worker secrets
  (``WORKER_SECRETS``, ``WORKFLOW_WEBHOOK_SECRET_*``) leave ``os.environ``; the master keeps
  what it removed and hands it to each worker process it forks, for the settings that
  process reads while it loads the app;
- ``restrict_to(passthrough)`` in each worker process, after its app exists and before any
  user code runs: everything goes but ``ESSENTIALS``, libpq's ``PG*`` variables (it reads
  them whenever the process connects; ``PGPASSWORD`` is a secret and goes too, the app put
  it into its connection string) and the operator's ``worker.execution.env_passthrough``;
- ``user_environment(passthrough)``: the whole environment of the activation child.

Removing a variable from ``os.environ`` does not remove it from ``/proc/<pid>/environ``: the
kernel shows the block the process was started with, which every forked worker inherits and
any process of the same user (the activation child, a step's subprocess) can read. So what
is removed is also overwritten in that block (Linux; elsewhere a no-op).

``Redactor`` (one per app, on the engine's ``Runtime``) is for every error text the API
returns: each known secret value is replaced and the text is cut to ``MAX_ERROR_CHARS``.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import sys
import threading
from collections.abc import Iterable, Mapping, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from workflow_studio.config.model import OPTIONS_ENV, Settings

# The names are spelled here, not imported from ``config.table`` (which imports this module
# through ``config.kinds``); tests/foundation/test_environment.py keeps the two in step.
API_KEY_ENV = "WORKFLOW_COMPUTE_API_KEY"
WEBHOOK_SECRET_PREFIX = "WORKFLOW_WEBHOOK_SECRET_"
WORKER_SECRETS = frozenset({
    API_KEY_ENV,                 # the seed key (admin by default)
    "WORKFLOW_SECRET_KEY",       # signs hook URLs, derives run keys
    "WORKFLOW_POSTGRES_URL",     # may carry the database password
    OPTIONS_ENV,                 # options as JSON: seed keys, secrets, the database URL
    "PGPASSWORD",                # libpq's own way to pass the password
})
# What any process needs to run: the search path, who and where it is, locale, time zone,
# temporary files, the dynamic loader. ``PYTHON*`` is not needed: the activation child runs
# ``python -I``, which ignores it, and a worker process applied it when it started.
ESSENTIALS = frozenset({"PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ",
                        "TMPDIR", "TEMP", "TMP", "LD_LIBRARY_PATH"})
ESSENTIAL_PREFIXES = ("LC_",)
LIBPQ_PREFIX = "PG"
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_ERROR_CHARS = 2000
REDACTED = "[redacted]"
MIN_REDACTED_LENGTH = 4  # shorter "secrets" would only garble the text


def is_worker_secret(name: str) -> bool:
    """A variable that carries one of the worker's own credentials."""
    return name in WORKER_SECRETS or name.startswith(WEBHOOK_SECRET_PREFIX)


def is_essential(name: str) -> bool:
    return name in ESSENTIALS or name.startswith(ESSENTIAL_PREFIXES)


def user_environment(passthrough: Iterable[str] = (),
                     environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a process that runs user code: the essentials and the allowlist,
    never a worker secret (``env_passthrough`` cannot name one; checked again here)."""
    environ = os.environ if environ is None else environ
    allowed = set(passthrough)
    return {name: value for name, value in environ.items()
            if (is_essential(name) or name in allowed) and not is_worker_secret(name)}


def hide_secrets(environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Take the worker secrets out of ``environ`` (``os.environ``: also out of the start-up
    block); returns what was removed."""
    target = os.environ if environ is None else environ
    return _remove(target, [name for name in target if is_worker_secret(name)])


def restrict_to(passthrough: Iterable[str] = (),
                environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Leave ``environ`` (``os.environ``) with what user code may see in a worker process:
    the essentials, libpq's non-secret ``PG*`` variables, the allowlist. Returns what was
    removed."""
    target = os.environ if environ is None else environ
    allowed = set(passthrough)

    def keep(name: str) -> bool:
        if is_worker_secret(name):
            return False
        return is_essential(name) or name in allowed or name.startswith(LIBPQ_PREFIX)
    return _remove(target, [name for name in target if not keep(name)])


def _remove(environ: MutableMapping[str, str], names: list[str]) -> dict[str, str]:
    removed = {name: environ.pop(name) for name in names if name in environ}
    if removed and environ is os.environ:
        scrub_startup_block(set(removed))
    return removed


# -- error text ---------------------------------------------------------------------------

def secret_values(settings: Settings, environ: Mapping[str, str] | None = None) -> list[str]:
    """The secret values in ``settings`` (and libpq's ``PGPASSWORD`` in ``environ``)."""
    values = [seed.key for seed in settings.seed_api_keys]
    values += [entry.get("secret", "") for entry in settings.webhooks.values()]
    if settings.secret_key:
        values.append(settings.secret_key)
    if settings.postgres_url:
        values += _url_passwords(settings.postgres_url)
    values.append((os.environ if environ is None else environ).get("PGPASSWORD", ""))
    return values


def _url_passwords(url: str) -> list[str]:
    """The password of a libpq URL or keyword string, as written and decoded."""
    found: list[str] = []
    with contextlib.suppress(ValueError):
        password = urlsplit(url).password if "://" in url else None
        if password:
            found += [password, unquote(password)]
    match = re.search(r"(?:^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", url)
    if match:
        raw = match.group(1)
        found.append(raw[1:-1].replace("\\'", "'").replace("\\\\", "\\")
                     if raw.startswith("'") else raw)
    return found


class Redactor:
    """Error text as an API caller may see it: no known secret value, at most
    ``MAX_ERROR_CHARS``. One per app (the engine's ``Runtime`` holds it); ``add`` learns a
    value found later (the server secret the worker generates in its database)."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._values: tuple[str, ...] = ()
        self.add(*values)

    @classmethod
    def for_settings(cls, settings: Settings,
                     environ: Mapping[str, str] | None = None) -> Redactor:
        return cls(secret_values(settings, environ))

    def add(self, *values: str) -> None:
        fresh = {v for v in values if v and len(v) >= MIN_REDACTED_LENGTH}
        with self._lock:  # longest first: a secret that contains another goes whole
            self._values = tuple(sorted(fresh | set(self._values), key=len, reverse=True))

    def text(self, text: str, limit: int = MAX_ERROR_CHARS, keep: str = "head") -> str:
        """``text`` without secret values, cut to ``limit`` characters (``keep="tail"``
        keeps the end instead, for tracebacks)."""
        for secret in self._values:
            if secret in text:
                text = text.replace(secret, REDACTED)
        if len(text) <= limit:
            return text
        room = max(0, limit - 40)  # the note below is shorter than 40 characters
        note = f"[... {len(text) - room} more characters]"
        return f"{text[:room]} {note}" if keep == "head" else f"{note} {text[len(text) - room:]}"

    def error(self, error: Mapping[str, Any]) -> dict[str, Any]:
        """A recorded error (run or step) with each text passed through ``text``; a stack
        keeps its end."""
        return {key: self.text(value, keep="tail" if key == "stack" else "head")
                if isinstance(value, str) else value for key, value in error.items()}


# -- /proc/<pid>/environ ------------------------------------------------------------------

def _startup_block() -> tuple[int, int] | None:
    """Where the kernel's copy of the start-up environment lives in this process (proc(5):
    fields 50 and 51 of /proc/self/stat)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        start, end = int(fields[47]), int(fields[48])
    except (OSError, ValueError, IndexError):
        return None
    return (start, end) if 0 < start < end else None


def scrub_startup_block(names: set[str]) -> int:
    """Overwrite the ``NAME=value`` strings of ``names`` in the start-up block, where libc no
    longer points (they left ``os.environ``, so it unset them); returns how many."""
    where = _startup_block()
    if where is None:
        return 0
    start, end = where
    try:
        block = ctypes.string_at(start, end - start)
        getenv = ctypes.CDLL(None).getenv
    except (OSError, AttributeError, ValueError):
        return 0
    getenv.restype, getenv.argtypes = ctypes.c_void_p, [ctypes.c_char_p]
    scrubbed, offset = 0, 0
    for entry in block.split(b"\0"):
        name = entry.split(b"=", 1)[0]
        if entry and name.decode("utf-8", "replace") in names:
            live = getenv(name)
            if live is None or not start <= live < end:  # nothing reads this copy any more
                ctypes.memset(start + offset, 0, len(entry))
                scrubbed += 1
        offset += len(entry) + 1
    return scrubbed
