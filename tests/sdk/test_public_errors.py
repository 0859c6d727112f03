"""The SDK's own exceptions on the local world (issue 14, "Debuggability"): resuming a hook
raises ``ws.HookNotFoundError`` / ``ws.HookAlreadyResolvedError``, never the engine's or the
storage's classes; a failed run's code is a ``ws.RunErrorCode``. The same on the worker:
``test_remote_world.py``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

import workflow_studio as ws
from workflow_studio.compute.errors import RunErrorCode

PUBLIC_ERRORS = ("HookNotFoundError", "HookAlreadyResolvedError", "RunFailedError",
                 "RunCancelledError", "RunNotFinishedError", "RunErrorCode")


@ws.workflow
def sdk_parks_after_hook(token: str) -> None:
    ws.create_hook(token=token).wait()
    ws.sleep("1h")  # the run, and its received hook, stay alive


@ws.step(max_retries=0)
def sdk_refuse() -> None:
    raise ws.FatalError("refused")


@ws.workflow
def sdk_refusing() -> None:
    sdk_refuse()


def parked_on(run: ws.Run[Any], kind: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while (run.info()["waitingOn"] or {}).get("type") != kind:
        assert time.monotonic() < deadline, run.info()
        run.wait(0.02)  # returns early only if the run ended


def test_the_public_errors_are_exported_by_the_package() -> None:
    assert set(PUBLIC_ERRORS) <= set(ws.__all__)
    assert ws.RunErrorCode is RunErrorCode


def test_resume_hook_raises_the_public_classes(world: Any) -> None:
    with pytest.raises(ws.HookNotFoundError) as unknown:
        ws.resume_hook("sdk-no-such-token", 1)
    assert isinstance(unknown.value, LookupError)  # what `except LookupError` caught before
    assert unknown.value.token == "sdk-no-such-token"
    run = ws.start(sdk_parks_after_hook, "sdk-once")
    parked_on(run, "hook")
    ws.resume_hook("sdk-once", 1)
    with pytest.raises(ws.HookAlreadyResolvedError, match="sdk-once") as twice:
        ws.resume_hook("sdk-once", 2)
    assert twice.value.token == "sdk-once"
    run.cancel()
    with pytest.raises(ws.HookNotFoundError):  # disposed with its cancelled run
        ws.resume_hook("sdk-once", 3)


def test_a_failed_runs_code_is_a_run_error_code(world: Any) -> None:
    with pytest.raises(ws.RunFailedError) as failed:
        ws.start(sdk_refusing).result(10)
    assert failed.value.code is ws.RunErrorCode.STEP_FAILED
    assert failed.value.code == "step_failed"  # still the string it always was


def test_the_readme_documents_each_public_error_and_run_error_code() -> None:
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = text.split("### Runs from your code")[1].split("\n## ")[0]
    table_rows = {line.split("`")[1] for line in section.splitlines() if line.startswith("| `")}
    assert set(PUBLIC_ERRORS) - {"RunErrorCode"} <= table_rows
    assert {code.value for code in RunErrorCode} <= table_rows
