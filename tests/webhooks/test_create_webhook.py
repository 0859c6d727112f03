"""``create_webhook()`` in the embedded local world: a hook whose URL comes from the
installed builder (the worker installs one that signs the token; without one it is None)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import workflow_studio as ws
from workflow_studio import sdk
from workflow_studio.sdk.local_world import LocalWorld
from workflow_studio.worker.webhooks.tokens import InvalidToken, ServerSecret

urls: list[Any] = []


@ws.step
def remember(url: Any, token: str) -> str:
    urls.append((url, token))
    return token


@ws.workflow
def webhook_inbox() -> Any:
    hook = ws.create_webhook(metadata={"source": "test"})
    remember(hook.url, hook.token)
    return hook.wait()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[LocalWorld]:
    urls.clear()
    local = LocalWorld(tmp_path / "local.db", slots=2)
    previous = sdk.set_world(local)
    yield local
    sdk.set_world(previous)
    local.close()


def test_without_a_builder_the_url_is_none(world: LocalWorld) -> None:
    assert world.runtime.hook_url is None
    run = ws.start(webhook_inbox)
    token = _wait_for_token(run)
    assert urls[0][0] is None
    ws.resume_hook(token, {"ok": 1})
    assert run.result(timeout=20) == {"ok": 1}


def test_the_url_is_built_once_and_replayed(world: LocalWorld) -> None:
    secret = ServerSecret("local-secret-0123456789", db=None)
    world.runtime.hook_url = (lambda token: "https://w.example/v1/hooks/"
                              + secret.sign_hook_token(token))
    run = ws.start(webhook_inbox)
    token = _wait_for_token(run)
    url, _ = urls[0]
    signed = url.rsplit("/", 1)[1]
    assert secret.unsign_hook_token(signed) == token
    # Not the last character: its low bits are base64 padding, so some swaps decode to the
    # same signature bytes.
    tampered = signed[:-5] + ("x" if signed[-5] != "x" else "y") + signed[-4:]
    with pytest.raises(InvalidToken):
        secret.unsign_hook_token(tampered)
    with pytest.raises(InvalidToken):
        ServerSecret("another-secret-0123456789", db=None).unsign_hook_token(signed)
    ws.resume_hook(token, "done")
    assert run.result(timeout=20) == "done"
    hooks = [e for e in run.events() if e["eventType"] == "hook_created"]
    assert len(hooks) == 1  # the replay after the resume reused the recorded hook


def _wait_for_token(run: ws.Run) -> str:
    for _ in range(2000):
        if run.info()["waitingOn"] and urls:
            return str(urls[0][1])
        run.wait(0.01)
    raise AssertionError("the run never parked on its webhook")
