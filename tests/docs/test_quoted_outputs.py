"""What the README shows a command printing is what it prints.

The README quotes outputs: the ``validate-ownership`` table, the app's diagnostics JSON and
the one-line startup errors. Each is taken from the README text and compared with what the
real command prints in the same situation, modulo what differs per run (URLs, ids, key
prefixes, the package version, column widths). A README change or a code change that makes
them disagree fails here.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.appside.conftest import AppServer, flask_app
from tests.appside.test_validate_ownership import (
    APP_KEY,
    _clean_env,
    configure_app,
    hello_worker,
    validate,
)
from workflow_studio.worker import WorkerServer

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
FENCE = re.compile(r"^```(?P<lang>[a-z]*)\n(?P<body>.*?)^```$", re.S | re.M)
VARYING = [  # (what differs per run, what stands for it)
    (re.compile(r"https?://[^\s/]+(?::\d+)?"), "<url>"),
    (re.compile(r"dpl_[0-9A-Z]{26}"), "dpl_<id>"),
    (re.compile(r"\(prefix (?:wsk_\S{4}|sha:[0-9a-f]{8})\)"), "(prefix <prefix>)"),
    (re.compile(r"\b\d+\.\d+\.\d+\b"), "<version>"),
]


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerServer]:
    with hello_worker(tmp_path_factory.mktemp("deployed")) as server:
        yield server


def quoted_block(containing: str, lang: str = "") -> str:
    """The README's fenced block (of ``lang``) whose text contains ``containing``."""
    found = [m["body"] for m in FENCE.finditer(README)
             if m["lang"] == lang and containing in m["body"]]
    assert len(found) == 1, f"README has {len(found)} {lang or 'plain'} blocks with {containing!r}"
    return found[0]


def normalised_table(text: str) -> list[list[str]]:
    """Rows of cells (columns are two or more spaces apart), run-specific parts replaced."""
    for pattern, stand_in in VARYING:
        text = pattern.sub(stand_in, text)
    return [re.split(r"\s{2,}", line.strip()) for line in text.strip().splitlines()]


def test_normalising_keeps_what_matters() -> None:
    """The test of the comparison: a different status or detail still differs."""
    shown = normalised_table("api key valid        pass    key 'web-app' (prefix wsk_Ab3d)")
    assert shown == normalised_table("api key valid  pass  key 'web-app' (prefix sha:0123abcd)")
    assert shown != normalised_table("api key valid  fail  key 'web-app' (prefix wsk_Ab3d)")
    assert shown != normalised_table("api key valid  pass  key 'ops' (prefix wsk_Ab3d)")


@pytest.mark.e2e
def test_validate_ownership_table_is_what_the_command_prints(
        deployed: WorkerServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's situation: the app's key (trigger:write runs:read, named web-app), the
    hello deployment active, an app on the remote world, checked with --strict."""
    shown = quoted_block("ownership status:")
    configure_app(monkeypatch, deployed.url)
    app = AppServer(flask_app(tmp_path / "diagnostics"))
    try:
        status, printed = validate(deployed.url, APP_KEY, "--strict", "--app-url", app.url)
    finally:
        app.stop()
    assert status == 0, printed
    assert normalised_table(printed) == normalised_table(shown), printed


@pytest.mark.e2e
def test_diagnostics_json_is_what_the_app_answers(
        deployed: WorkerServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import requests

    shown = json.loads(quoted_block('"targetWorld"', "json"))
    configure_app(monkeypatch, deployed.url)
    app = AppServer(flask_app(tmp_path / "diagnostics"))
    try:
        answered = requests.get(f"{app.url}/.well-known/workflow/v1/diagnostics",
                                timeout=10).json()
    finally:
        app.stop()
    assert set(answered) == set(shown)
    assert {k: v for k, v in answered.items() if k != "packageVersion"} == {
        k: v for k, v in shown.items() if k != "packageVersion"}


def startup_error_examples() -> list[str]:
    """The one-line errors the README's "A bad setting stops startup" paragraph quotes."""
    paragraph = README.split("A bad setting stops startup", 1)[1].split("\n\n", 1)[0]
    return re.findall(r"`([^`]+)`", paragraph.replace("\n", " "))


# How to cause each quoted error: (what the line starts with, config file, environment).
CAUSES = {
    "workflow-studio: error: workflow_config.py:": (
        "config = define_config(worker={'security': {'require_https': 'yes'}})\n", {}),
    "WORKFLOW_THREADS:": ("config = define_config()\n", {"WORKFLOW_THREADS": "four"}),
    "PORT:": ("config = define_config()\n", {"PORT": "99999"}),
}


def test_the_readme_quotes_three_startup_errors() -> None:
    quoted = startup_error_examples()
    assert len(quoted) == 3, quoted
    assert all(any(q.startswith(start) for start in CAUSES) for q in quoted), quoted


@pytest.mark.parametrize("quoted", startup_error_examples())
def test_startup_error_is_what_the_worker_prints(quoted: str, tmp_path: Path) -> None:
    start = next(s for s in CAUSES if quoted.startswith(s))
    config, env = CAUSES[start]
    (tmp_path / "workflow_config.py").write_text(
        "from workflow_studio import define_config\n" + config, encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "workflow_studio.cli", "worker", "start"],
                            cwd=tmp_path, env={**_clean_env(), **env}, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr  # one line, no traceback
    assert lines[0].endswith(quoted) and lines[0].startswith("workflow-studio: error: "), lines
