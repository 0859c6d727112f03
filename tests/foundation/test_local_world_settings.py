"""The embedded local world is configured by ``WORKFLOW_LOCAL_*`` variables (issue 14,
"Debuggability"), not only through an unexported ``set_world()``: each one reaches the
world ``get_world()`` builds, and a bad value is one clear error naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from workflow_studio import sdk
from workflow_studio.config.local_world import LOCAL_WORLD_ENV
from workflow_studio.config.model import ConfigError
from workflow_studio.sdk.local_world import LocalWorld

README = Path(__file__).resolve().parents[2] / "README.md"


def test_each_variable_reaches_the_world_get_world_builds(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKFLOW_LOCAL_DB", "data/app.db")  # relative: to the working dir
    monkeypatch.setenv("WORKFLOW_LOCAL_SLOTS", "3")
    monkeypatch.setenv("WORKFLOW_LOCAL_LEASE_SECONDS", "2.5")
    monkeypatch.setenv("WORKFLOW_LOCAL_MAX_PAYLOAD_BYTES", "4096")
    previous = sdk.set_world(None)
    try:
        world = sdk.get_world()
        assert isinstance(world, LocalWorld)
        assert world.path == str((tmp_path / "data" / "app.db").resolve())
        assert (world.executor.slots, world.executor.lease_ms) == (3, 2500)
        assert world.runtime.max_payload_bytes == 4096
        world.close()
    finally:
        sdk.set_world(previous)
    explicit = LocalWorld(tmp_path / "other.db", slots=1, lease_seconds=9)
    assert (explicit.executor.slots, explicit.executor.lease_ms) == (1, 9000)  # args win
    assert explicit.runtime.max_payload_bytes == 4096
    explicit.close()


@pytest.mark.parametrize(("name", "raw", "message"), [
    ("WORKFLOW_LOCAL_SLOTS", "four", "WORKFLOW_LOCAL_SLOTS: expected an integer, got 'four'"),
    ("WORKFLOW_LOCAL_SLOTS", "0", "WORKFLOW_LOCAL_SLOTS: must be at least 1, got 0"),
    ("WORKFLOW_LOCAL_LEASE_SECONDS", "-1",
     "WORKFLOW_LOCAL_LEASE_SECONDS: must be > 0, got -1.0"),
    ("WORKFLOW_LOCAL_MAX_PAYLOAD_BYTES", "1k",
     "WORKFLOW_LOCAL_MAX_PAYLOAD_BYTES: expected an integer, got '1k'"),
])
def test_a_bad_value_names_its_variable(monkeypatch: pytest.MonkeyPatch, name: str, raw: str,
                                        message: str) -> None:
    monkeypatch.setenv(name, raw)
    with pytest.raises(ConfigError) as raised:
        LocalWorld()
    assert str(raised.value) == message


APP = """
import workflow_studio as ws


@ws.step
def echo(text):
    return text


@ws.workflow
def echoing(text):
    return echo(text)


print(ws.start(echoing, "hi").result(timeout=20))
try:
    ws.start(echoing, "x" * 2000)
except ValueError as exc:
    print("refused:", exc)
"""


def test_an_app_runs_where_and_as_the_variables_say(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKFLOW_")}
    env.update(WORKFLOW_LOCAL_DB=str(tmp_path / "elsewhere" / "app.db"),
               WORKFLOW_LOCAL_MAX_PAYLOAD_BYTES="1024")
    (tmp_path / "elsewhere").mkdir()
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(APP)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    first, refused = done.stdout.splitlines()
    assert first == "hi" and refused.startswith("refused:") and "1024" in refused
    assert (tmp_path / "elsewhere" / "app.db").is_file()
    assert not (tmp_path / ".workflow-studio").exists()


def test_the_readme_documents_every_variable() -> None:
    text = README.read_text(encoding="utf-8")
    table = text.split("<!-- BEGIN local-world-env -->")[1].split("<!-- END local-world-env")[0]
    assert [line.split("`")[1] for line in table.splitlines()[3:]] == [
        s.env for s in LOCAL_WORLD_ENV]
