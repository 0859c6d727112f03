"""Run vocabulary shared by the worker, the client and the CLI: statuses, trigger types and
the longest long-poll a request may ask for."""

from __future__ import annotations

from typing import Literal, TypeAlias

RunStatus: TypeAlias = Literal["pending", "running", "completed", "failed", "cancelled"]

RUN_STATUSES: tuple[RunStatus, ...] = ("pending", "running", "completed", "failed", "cancelled")
TRIGGER_TYPES = ("api", "schedule", "webhook", "local")
MAX_WAIT_SECONDS = 30
