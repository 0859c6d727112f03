"""The app's view of its own workflow routing, and the counter of misrouted callbacks.

Framework-free on purpose: the Flask extension, the WSGI/ASGI middleware and the Django app
all answer from here, so every framework reports the same facts in the same words.

What it owns:

- reading the app-side environment (``WORKFLOW_TARGET_WORLD``, ``WORKFLOW_COMPUTE_BASE_URL``,
  ``WORKFLOW_COMPUTE_API_KEY``) on every report, so a changed environment shows at once; the
  key's value is never reported, only whether it is set;
- the **unexpected local callback** counter. With the remote world the worker owns the
  flow, step and webhook callbacks; a hit on the app's callback routes means queue traffic is
  routed to the wrong host. An app server usually runs several processes, so the count lives
  in a file, not in process memory: each hit appends one byte with ``O_APPEND`` (atomic on a
  local file system) and the count is the file's size. Delete the file (or call
  :meth:`CallbackCounter.reset`) after fixing the routing.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from workflow_studio.version import __version__

# Same value as ``workflow_studio.sdk.REMOTE_WORLD``; repeated so the app-side helpers do not
# import the execution machinery.
REMOTE_WORLD = "workflow-studio/world-remote"
LOCAL_WORLD = "local"
KNOWN_WORLDS = (LOCAL_WORLD, REMOTE_WORLD)

DIAGNOSTICS_DIR_ENV = "WORKFLOW_DIAGNOSTICS_DIR"
DEFAULT_DIAGNOSTICS_DIR = Path(".workflow-studio") / "diagnostics"
COUNTER_FILE = "unexpected_callbacks"
log = logging.getLogger(__name__)


class CallbackCounter:
    """A hit counter shared by every process that can see ``directory``."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory).absolute()
        self.path = self.directory / COUNTER_FILE

    def record(self) -> None:
        """Count one hit (one appended byte; safe across threads and processes)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, b".")
        finally:
            os.close(fd)

    def count(self) -> int:
        try:
            return self.path.stat().st_size
        except (FileNotFoundError, NotADirectoryError):
            return 0

    def last_hit_at(self) -> datetime | None:
        """When the last hit was recorded (the file's modification time), if any."""
        try:
            stat = self.path.stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return datetime.fromtimestamp(stat.st_mtime, UTC) if stat.st_size else None

    def reset(self) -> None:
        self.path.unlink(missing_ok=True)


def default_directory(environ: Mapping[str, str] | None = None) -> Path:
    """``WORKFLOW_DIAGNOSTICS_DIR`` or ``./.workflow-studio/diagnostics``, made absolute."""
    env = os.environ if environ is None else environ
    return Path(env.get(DIAGNOSTICS_DIR_ENV) or DEFAULT_DIAGNOSTICS_DIR).absolute()


@dataclasses.dataclass(frozen=True)
class DiagnosticsReport:
    """What ``GET /.well-known/workflow/v1/diagnostics`` returns (no secrets)."""

    target_world: str
    remote: bool
    worker_url_configured: bool
    api_key_present: bool
    unexpected_local_callbacks: int
    last_unexpected_local_callback_at: datetime | None
    package_version: str
    problems: tuple[str, ...]

    @property
    def status(self) -> str:
        return "fail" if self.problems else "ok"

    def to_json(self) -> dict[str, Any]:
        last = self.last_unexpected_local_callback_at
        return {
            "status": self.status,
            "problems": list(self.problems),
            "targetWorld": self.target_world,
            "remote": self.remote,
            "workerUrlConfigured": self.worker_url_configured,
            "apiKeyPresent": self.api_key_present,
            "unexpectedLocalCallbacks": self.unexpected_local_callbacks,
            "lastUnexpectedLocalCallbackAt": last.isoformat() if last else None,
            "packageVersion": self.package_version,
        }


def _problems(target: str, url: bool, key: bool, hits: int,
              counter_broken: bool) -> tuple[str, ...]:
    problems = []
    if target not in KNOWN_WORLDS:
        problems.append(f"WORKFLOW_TARGET_WORLD={target!r} is not a known world; use "
                        f"{LOCAL_WORLD!r} or {REMOTE_WORLD!r}")
    if target == REMOTE_WORLD and not url:
        problems.append("WORKFLOW_TARGET_WORLD is remote but WORKFLOW_COMPUTE_BASE_URL is not set")
    if target == REMOTE_WORLD and not key:
        problems.append("WORKFLOW_TARGET_WORLD is remote but WORKFLOW_COMPUTE_API_KEY is not set")
    if hits:
        problems.append(f"{hits} unexpected local callback hit(s): queue callbacks reach the "
                        "app instead of the worker")
    if counter_broken:
        problems.append("unexpected local callbacks arrived but could not be counted "
                        "(see the app's log)")
    return tuple(problems)


class AppDiagnostics:
    """The app-side facts: environment (read live) plus the shared callback counter."""

    def __init__(self, directory: str | os.PathLike[str] | None = None,
                 environ: Mapping[str, str] | None = None) -> None:
        self._environ = environ
        self._counter_broken = False
        self.counter = CallbackCounter(directory or default_directory(environ))

    @property
    def environ(self) -> Mapping[str, str]:
        return os.environ if self._environ is None else self._environ

    @property
    def target_world(self) -> str:
        return self.environ.get("WORKFLOW_TARGET_WORLD", "").strip() or LOCAL_WORLD

    @property
    def remote(self) -> bool:
        return self.target_world == REMOTE_WORLD

    def record_unexpected_callback(self) -> None:
        """Count one hit; a counter that cannot be written is logged and reported, and the
        callback is still refused."""
        try:
            self.counter.record()
        except OSError as exc:
            self._counter_broken = True
            log.warning("workflow-studio: cannot count an unexpected local callback in %s: %s",
                        self.counter.path, exc)

    def report(self) -> DiagnosticsReport:
        target = self.target_world
        url = bool(self.environ.get("WORKFLOW_COMPUTE_BASE_URL", "").strip())
        key = bool(self.environ.get("WORKFLOW_COMPUTE_API_KEY", "").strip())
        hits = self.counter.count()
        return DiagnosticsReport(
            target_world=target, remote=target == REMOTE_WORLD, worker_url_configured=url,
            api_key_present=key, unexpected_local_callbacks=hits,
            last_unexpected_local_callback_at=self.counter.last_hit_at(),
            package_version=__version__,
            problems=_problems(target, url, key, hits, self._counter_broken))
