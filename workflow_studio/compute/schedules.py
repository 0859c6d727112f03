"""Schedule vocabulary shared by the config, the engine, the worker and the CLI: policies,
tick outcomes and the bounds every source of a schedule is checked against."""

from __future__ import annotations

import re
from typing import Literal, TypeAlias

Overlap: TypeAlias = Literal["skip", "buffer_one", "buffer_all", "cancel_other", "allow_all"]
Catchup: TypeAlias = Literal["latest", "all", "none"]

OVERLAP_POLICIES: tuple[Overlap, ...] = (
    "skip", "buffer_one", "buffer_all", "cancel_other", "allow_all")
CATCHUP_POLICIES: tuple[Catchup, ...] = ("latest", "all", "none")
# ``POST /v1/schedules/:id/trigger`` fires now: there is no tick to buffer.
TRIGGER_OVERLAP: tuple[Overlap, ...] = ("skip", "cancel_other", "allow_all")

# What became of a tick (``schedule_ticks.outcome``). Every tick the firing loop passes is
# recorded once: it fired a run, waits in the buffer, or was skipped for the reason named.
FIRED = "fired"
BUFFERED = "buffered"
SKIPPED_OVERLAP = "skipped_overlap"    # a run of the schedule was still live
MISSED_WINDOW = "missed_window"        # older than catchupWindowSeconds when found
MISSED_CATCHUP = "missed_catchup"      # inside the window, but the catch-up policy passed
PAUSED = "paused"                      # due while the schedule was paused
START_FAILED = "start_failed"          # the run was refused (no active deployment, ...)
TICK_OUTCOMES = (FIRED, BUFFERED, SKIPPED_OVERLAP, MISSED_WINDOW, MISSED_CATCHUP, PAUSED,
                 START_FAILED)

SOURCES = ("api", "config")
# A name is also accepted where an id is (``/v1/schedules/nightly-report``), so it may not
# look like one: ``sch_`` is refused on top of the pattern (which JSON Schema can state).
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
NAME_RE = re.compile(NAME_PATTERN)
ID_PREFIX = "sch_"


def valid_name(name: object) -> bool:
    return isinstance(name, str) and bool(NAME_RE.fullmatch(name)) and not name.startswith(
        ID_PREFIX)
MAX_CRONS = 20
MAX_CATCHUP_DEFAULT = 100
MAX_CATCHUP_LIMIT = 10_000
CATCHUP_WINDOW_DEFAULT = 86_400        # seconds
MAX_WINDOW_SECONDS = 366 * 86_400
MAX_INTERVAL_SECONDS = 366 * 86_400
MAX_JITTER_SECONDS = 86_400
MAX_PREVIEW = 100
MAX_BACKFILL_TICKS = 1000
