"""Workflows the SDK tests start (module level, so they register once per process)."""

from __future__ import annotations

from typing import Any

import workflow_studio as ws


@ws.step
def shout(text: str) -> str:
    return text.upper()


@ws.workflow
def sdk_echo(text: str, *, times: int = 1) -> str:
    return " ".join([shout(text)] * times)


@ws.workflow
def sdk_keyed(order_id: int, idempotency_key: str | None = None) -> dict[str, Any]:
    """Has a parameter literally named ``idempotency_key``: ``start`` must pass it through."""
    return {"order": order_id, "key": idempotency_key}


@ws.workflow(name="sdk_keyed_kwonly")
def keyed_kwonly(*, idempotency_key: str) -> str:
    return idempotency_key
