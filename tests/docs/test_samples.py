"""The README's samples run: every fenced Python block of README.md and examples/*/README.md
is executed in a fresh interpreter in a scratch directory (the local world), unless a marker
on the line before it says it is a fragment; every shell block marked ``run`` is run with
bash against a real worker. A README change that breaks a sample fails here.

Markers, an HTML comment on the line before the fence (invisible on GitHub):
- ``<!-- docs: fragment (why) -->``: not runnable on its own (it needs your app); skipped,
  and listed by name in ``test_fragments_are_only_the_marked_ones``;
- ``<!-- docs: run -->`` on a ``bash``/``sh`` block: run against a worker started for it;
  ``http://127.0.0.1:8080`` becomes the worker's URL, ``$KEY``/``$URL`` and the
  ``WORKFLOW_COMPUTE_*`` variables are the worker's, and an ``export`` of one of those is
  dropped (the sample's value is a placeholder). A block in ``examples/<name>/`` runs in a
  copy of that folder.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADMIN_KEY

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "examples").glob("*/README.md"))]
BLOCK = re.compile(r"(?:<!-- docs: (?P<mark>[a-z-]+)[^>]*-->\n)?```(?P<lang>[a-z]*)\n"
                   r"(?P<body>.*?)^```$", re.S | re.M)
PROVIDED = ("WORKFLOW_COMPUTE_BASE_URL", "WORKFLOW_COMPUTE_API_KEY", "KEY", "URL")


@dataclasses.dataclass(frozen=True)
class Sample:
    doc: Path
    line: int
    lang: str
    mark: str | None
    body: str

    @property
    def name(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"


def samples(text: str, doc: Path) -> list[Sample]:
    return [Sample(doc, text.count("\n", 0, m.start("body")), m["lang"], m["mark"], m["body"])
            for m in BLOCK.finditer(text)]


def all_samples() -> list[Sample]:
    return [s for doc in DOCS for s in samples(doc.read_text(encoding="utf-8"), doc)]


def _clean_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKFLOW_")}
    env["WORKFLOW_LOCAL_DB"] = str(tmp / "local.db")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def run_python(sample: Sample, tmp: Path) -> subprocess.CompletedProcess[str]:
    (tmp / "sample.py").write_text(sample.body, encoding="utf-8")
    return subprocess.run([sys.executable, "sample.py"], cwd=tmp, env=_clean_env(tmp),
                          capture_output=True, text=True, timeout=120)


def run_shell(sample: Sample, tmp: Path, url: str, key: str) -> subprocess.CompletedProcess[str]:
    folder = sample.doc.parent
    where = tmp / folder.name
    if folder != ROOT:
        shutil.copytree(folder, where, ignore=shutil.ignore_patterns(".workflow-studio"))
    else:
        where.mkdir()
    given = {"WORKFLOW_COMPUTE_BASE_URL": url, "WORKFLOW_COMPUTE_API_KEY": key, "KEY": key,
             "URL": url}
    lines = [line for line in sample.body.replace("http://127.0.0.1:8080", url).splitlines()
             if not re.match(rf"\s*export ({'|'.join(PROVIDED)})=", line)]
    return subprocess.run(["bash", "-euo", "pipefail", "-c", "\n".join(lines)], cwd=where,
                          env={**_clean_env(tmp), **given}, capture_output=True, text=True,
                          timeout=180)


PYTHON = [s for s in all_samples() if s.lang == "python" and s.mark != "fragment"]
SHELL = [s for s in all_samples() if s.lang in ("bash", "sh") and s.mark == "run"]


def shown_output(sample: Sample) -> list[str]:
    """What the sample says its ``print(...)`` lines show: the comment after each."""
    return [m[1].strip() for m in re.finditer(r"^\s*print\(.*\)\s+#\s*(.+)$", sample.body,
                                               re.M)]


@pytest.mark.parametrize("sample", PYTHON, ids=lambda s: s.name)
def test_python_sample_runs(sample: Sample, tmp_path: Path) -> None:
    result = run_python(sample, tmp_path)
    assert result.returncode == 0, f"{sample.name}:\n{result.stdout}\n{result.stderr[-3000:]}"
    printed = result.stdout.splitlines()
    for expected in shown_output(sample):  # what the README shows is what it prints
        assert expected in printed, (sample.name, expected, printed)


@pytest.mark.e2e
@pytest.mark.parametrize("sample", SHELL, ids=lambda s: s.name)
def test_runnable_shell_sample_runs(sample: Sample, tmp_path: Path,
                                    start_worker: Callable[..., Any]) -> None:
    worker = start_worker()
    result = run_shell(sample, tmp_path, worker.url, ADMIN_KEY)
    assert result.returncode == 0, f"{sample.name}:\n{result.stdout}\n{result.stderr[-3000:]}"


def test_fragments_are_only_the_marked_ones() -> None:
    """Nothing is skipped silently: the fragments are these, by name."""
    fragments = {s.name for s in all_samples() if s.mark == "fragment"}
    assert len(fragments) == 1 and all(n.startswith("README.md:") for n in fragments)
    assert len(PYTHON) >= 3 and len(SHELL) >= 2


def test_a_broken_sample_fails(tmp_path: Path) -> None:
    """The test of the test: the checkout sample with its hook token mistyped must fail."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    broken = text.replace('ws.resume_hook("approve-42", True)',
                          'ws.resume_hook("approve-24", True)')
    assert broken != text
    sample = next(s for s in samples(broken, ROOT / "README.md") if "def checkout" in s.body)
    assert run_python(sample, tmp_path).returncode != 0
    assert shown_output(sample) == ["{'approved': True} completed"]
    wrong = Sample(ROOT / "README.md", 1, "python", None, 'print("shown")  # not shown\n')
    result = run_python(wrong, tmp_path)
    assert result.returncode == 0 and shown_output(wrong)[0] not in result.stdout.splitlines()
