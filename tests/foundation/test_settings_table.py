"""The settings table itself: complete, consistent, and the README's tables are its output."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import workflow_studio.config
from workflow_studio.config import docs
from workflow_studio.config.model import Settings
from workflow_studio.config.table import BY_ENV, BY_FIELD, BY_PATH, OTHER_ENV, SETTINGS

README = Path(__file__).resolve().parents[2] / "README.md"
MODULES = [importlib.import_module(f"workflow_studio.config.{m.name}")
           for m in pkgutil.iter_modules(workflow_studio.config.__path__)]

# One good string per variable and what it becomes; the test below keeps this complete.
ENV_SAMPLES = {
    "PORT": ("9000", 9000),
    "WORKFLOW_ARTIFACT_DIR": ("/srv/artifacts", "/srv/artifacts"),
    "WORKFLOW_ENV_PASSTHROUGH": ("HTTPS_PROXY, SENTRY_DSN", ("HTTPS_PROXY", "SENTRY_DSN")),
    "WORKFLOW_EXECUTOR_SLOTS": ("8", 8),
    "WORKFLOW_LOG_LEVEL": ("warning", "WARNING"),
    "WORKFLOW_MAX_JSON_BYTES": ("2097152", 2097152),
    "WORKFLOW_MAX_PAYLOAD_BYTES": ("65536", 65536),
    "WORKFLOW_POSTGRES_SCHEMA": ("staging", "staging"),
    "WORKFLOW_POSTGRES_URL": ("postgresql://db/x", "postgresql://db/x"),
    "WORKFLOW_PUBLIC_BASE_URL": ("https://w.example/", "https://w.example"),
    "WORKFLOW_RATE_LIMIT_PER_MINUTE": ("0", 0),
    "WORKFLOW_REQUIRE_HTTPS": ("off", False),
    "WORKFLOW_SECRET_KEY": ("s" * 16, "s" * 16),
    "WORKFLOW_SQLITE_PATH": ("/srv/w.db", "/srv/w.db"),
    "WORKFLOW_THREADS": ("8", 8),
    "WORKFLOW_TRUSTED_PROXIES": ("10.0.0.1, 10.1.0.0/16", ("10.0.0.1", "10.1.0.0/16")),
    "WORKFLOW_WORKERS": ("3", 3),
}


def test_every_settings_field_is_in_the_table_once():
    fields = [f.name for f in dataclasses.fields(Settings) if f.name != "base_dir"]
    assert sorted(s.field for s in SETTINGS) == sorted(fields)
    assert len(BY_FIELD) == len(BY_PATH) == len(SETTINGS)
    assert len(BY_ENV) == len([s for s in SETTINGS if s.env])
    for setting in SETTINGS:
        assert setting.env is None or re.fullmatch(r"PORT|WORKFLOW_[A-Z_]+", setting.env)
        assert setting.path.split(".")[-1] in setting.option  # reads like the file's name


def test_every_variable_parses_a_good_value():
    assert set(ENV_SAMPLES) == set(BY_ENV)
    for var, (raw, expected) in ENV_SAMPLES.items():
        assert BY_ENV[var].parse_env(raw) == expected, var


def _readme_rows(block: str) -> list[list[str]]:
    text = README.read_text(encoding="utf-8")
    body = text.split(f"<!-- BEGIN {block} -->\n")[1].split(f"<!-- END {block} -->")[0]
    rows = [[cell.strip() for cell in line.strip("|").split("|")]
            for line in body.splitlines()[2:]]
    return [[cell.strip("`") for cell in row] for row in rows]


def test_readme_lists_exactly_the_variables_of_the_table():
    documented = {row[0] for row in _readme_rows("settings-env")}
    known = set(BY_ENV) | {v.name for v in OTHER_ENV}
    assert documented - known == set(), "in the README but not in config/table.py"
    assert known - documented == set(), "in config/table.py but not in the README"
    for row in _readme_rows("settings-env"):
        if row[0] in BY_ENV:
            assert row[1] == BY_ENV[row[0]].path


def test_readme_lists_exactly_the_settings_of_the_table():
    rows = _readme_rows("settings-all")
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (s.path, s.option, s.env or "") for s in SETTINGS]


def test_readme_tables_are_the_generated_ones():
    text = README.read_text(encoding="utf-8")
    assert docs.update_readme(text) == text, (
        "README tables are stale: run python -m workflow_studio.config.docs README.md")


def test_config_imports_no_web_stack():
    code = ("import sys, workflow_studio.config.settings, workflow_studio.config.docs; "
            "print(sorted(m for m in ('flask', 'marshmallow', 'werkzeug') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_modules_are_small_and_hold_no_mutable_state(module):
    assert len(Path(module.__file__).read_text().splitlines()) < 400
    for name, value in vars(module).items():
        if not name.startswith("__"):
            assert not isinstance(value, dict | list | set), f"{module.__name__}.{name}"
