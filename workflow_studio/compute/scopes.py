"""API key scopes. ``admin`` implies every other scope."""

from __future__ import annotations

from enum import StrEnum


class Scope(StrEnum):
    TRIGGER_WRITE = "trigger:write"
    RUNS_READ = "runs:read"
    RUNS_WRITE = "runs:write"
    DEPLOY_READ = "deploy:read"
    DEPLOY_WRITE = "deploy:write"
    WORLD_PROXY = "world:proxy"
    SECRETS_WRITE = "secrets:write"
    SCHEDULES_READ = "schedules:read"
    SCHEDULES_WRITE = "schedules:write"
    ADMIN = "admin"


ALL_SCOPES: tuple[str, ...] = tuple(s.value for s in Scope)


def has_scope(granted: frozenset[str] | set[str] | list[str], needed: str) -> bool:
    return Scope.ADMIN.value in granted or needed in granted
