"""The exceptions ``resume_hook()`` raises, the same on every world.

The local world meets the engine's ``HookNotFound`` and the storage's ``WorldConflict``; the
remote world meets the worker's 404 ``not_found`` and 409 ``conflict``. Both are turned into
the classes here, so app code catches one thing whichever world it runs on (the original
error stays in ``__cause__``).
"""

from __future__ import annotations

from workflow_studio.compute.errors import ErrorCode


class HookNotFoundError(LookupError):
    """No live hook has this token: unknown, not created yet (the run has not reached it),
    or its run has finished. A ``LookupError``, as before it had a name."""

    def __init__(self, token: str) -> None:
        super().__init__(f"no live hook has token {token!r} (unknown, not reached yet, or its "
                         "run finished)")
        self.token = token


class HookAlreadyResolvedError(Exception):
    """The hook already received its payload; a hook takes exactly one."""

    def __init__(self, token: str) -> None:
        super().__init__(f"the hook with token {token!r} already received its payload")
        self.token = token


def from_remote(exc: Exception, token: str) -> Exception | None:
    """The public error for the worker's answer to ``POST /v1/runs/resume``, if it has one.

    The client is imported here, not at the top: it pulls in ``requests``, which the local
    world never needs (it raises the public classes itself)."""
    from workflow_studio.client.errors import ComputeClientError

    if not isinstance(exc, ComputeClientError):
        return None
    if exc.code == ErrorCode.NOT_FOUND:
        return HookNotFoundError(token)
    if exc.code == ErrorCode.CONFLICT:
        return HookAlreadyResolvedError(token)
    return None
