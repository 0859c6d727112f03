"""World selection: which ``World`` the app-side API talks to, once per process.

``WORKFLOW_TARGET_WORLD`` unset or ``local`` selects the embedded local world; the remote
world (``workflow-studio/world-remote``) plugs in behind the same ``World`` interface. Both
are imported only when first selected, so ``import workflow_studio`` stays light.
"""

from __future__ import annotations

import os
import threading

from workflow_studio.compute.world import World

REMOTE_WORLD = "workflow-studio/world-remote"
_lock = threading.Lock()
_world: World | None = None


def get_world() -> World:
    """The world ``WORKFLOW_TARGET_WORLD`` selects (created once per process; the local
    world is configured by the ``WORKFLOW_LOCAL_*`` variables, ``config.local_world``)."""
    global _world
    with _lock:
        if _world is None:
            target = os.environ.get("WORKFLOW_TARGET_WORLD", "") or "local"
            if target == "local":
                from workflow_studio.sdk.local_world import LocalWorld
                _world = LocalWorld()
            elif target == REMOTE_WORLD:
                from workflow_studio.client.world import RemoteWorld
                _world = RemoteWorld.from_env()
            else:
                raise ValueError(f"WORKFLOW_TARGET_WORLD={target!r} is not supported; use "
                                 f"'local' or {REMOTE_WORLD!r}")
        return _world


def start_executor() -> None:
    """Execute runs in this process now: the local world's executor, which otherwise starts
    with the first ``start()`` or ``resume_hook()`` (reading a run never starts it). It runs
    the runs of the workflows this process has imported, including those that other
    processes started or left behind. A no-op for the remote world: the worker executes."""
    start = getattr(get_world(), "start_executor", None)
    if start is not None:
        start()


def set_world(world: World | None) -> World | None:
    """Replace the process's world (tests, embedding); returns the previous one."""
    global _world
    with _lock:
        previous, _world = _world, world
    return previous
