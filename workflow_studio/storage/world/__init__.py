"""The world's repositories: one module per entity (runs, steps, events, hooks, waits,
values, streams, queue). Each state change appends an event and updates its entity inside the
caller's transaction, so the two can never disagree."""

from __future__ import annotations

from workflow_studio.compute.world import TERMINAL_STATUSES as TERMINAL_RUN_STATUSES


class WorldConflict(Exception):
    """A transition the world refuses: leaving a terminal state, a duplicate creation event,
    a hook token already live. Routes answer 409."""


__all__ = ["TERMINAL_RUN_STATUSES", "WorldConflict"]
