"""The embedded local world's settings, from ``WORKFLOW_LOCAL_*`` environment variables.

An app on the local world has no config file of its own (``workflow_config.py`` configures
the worker), so these are environment variables only. Each is parsed and checked by the same
kinds as the worker's settings, and a bad value is a ``ConfigError`` naming the variable
(``WORKFLOW_LOCAL_SLOTS: expected an integer, got 'four'``); an empty variable counts as
unset. ``LOCAL_WORLD_ENV`` is the table the README's is generated from (``config.docs``).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from workflow_studio.compute.payloads import DEFAULT_MAX_BYTES
from workflow_studio.config.kinds import Int, Invalid, Kind, Seconds, Text
from workflow_studio.config.model import DEFAULT_DATA_DIR


@dataclasses.dataclass(frozen=True)
class LocalWorldSettings:
    """What a ``LocalWorld`` is built with; the defaults here are the only copy."""

    db_path: str = f"{DEFAULT_DATA_DIR}/local.db"
    slots: int = 4
    lease_seconds: float = 30.0
    max_payload_bytes: int = DEFAULT_MAX_BYTES

    @property
    def db_file(self) -> Path:
        """``db_path`` made absolute (relative to the working directory, as the app sees it)."""
        return Path(self.db_path).resolve()


@dataclasses.dataclass(frozen=True)
class LocalSetting:
    """One variable: the ``LocalWorldSettings`` field it sets, its kind and its doc."""

    env: str
    field: str
    kind: Kind
    doc: str

    @property
    def default(self) -> object:
        return getattr(LocalWorldSettings, self.field)

    def parse(self, raw: str) -> Any:
        try:
            return self.kind.check(self.kind.parse(raw))
        except Invalid as exc:
            raise exc.named(self.env) from None


LOCAL_WORLD_ENV: tuple[LocalSetting, ...] = (
    LocalSetting("WORKFLOW_LOCAL_DB", "db_path", Text(),
                 "the local world's SQLite file (relative to the working directory); "
                 "`workflow-studio runs ... --local` reads the same variable"),
    LocalSetting("WORKFLOW_LOCAL_SLOTS", "slots", Int(1),
                 "flows and steps the process executes at once"),
    LocalSetting("WORKFLOW_LOCAL_LEASE_SECONDS", "lease_seconds", Seconds(),
                 "seconds a vanished process's claims are held before another process takes "
                 "them over, where they cannot be released at once (another container or "
                 "machine, no `/proc`)"),
    LocalSetting("WORKFLOW_LOCAL_MAX_PAYLOAD_BYTES", "max_payload_bytes", Int(1024),
                 "largest run input, step input or output, stream chunk or hook payload, "
                 "as JSON"),
)


def local_world_settings(environ: Mapping[str, str] | None = None) -> LocalWorldSettings:
    """The settings ``environ`` (``os.environ``) gives; ``ConfigError`` for a bad value."""
    environ = os.environ if environ is None else environ
    values = {setting.field: setting.parse(environ[setting.env]) for setting in LOCAL_WORLD_ENV
              if environ.get(setting.env, "").strip()}
    return LocalWorldSettings(**values)
