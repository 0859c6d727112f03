"""What user code may see of the worker's environment, and error text safe for API callers
(``config.environment``); the allowlist ``worker.execution.env_passthrough`` is a setting
like any other. Process-level behaviour (a gunicorn worker with real secrets) is tested end
to end in tests/deployments/test_least_privilege.py."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from workflow_studio import define_config
from workflow_studio.config.environment import (
    MAX_ERROR_CHARS,
    REDACTED,
    WORKER_SECRETS,
    Redactor,
    is_worker_secret,
    secret_values,
    user_environment,
)
from workflow_studio.config.model import OPTIONS_ENV, Settings
from workflow_studio.config.settings import ConfigError, load_settings
from workflow_studio.config.table import API_KEY_ENV, BY_FIELD, WEBHOOK_SECRET_ENV
from workflow_studio.storage import open_database


def test_the_secret_names_are_the_settings_table_s():
    assert API_KEY_ENV in WORKER_SECRETS and OPTIONS_ENV in WORKER_SECRETS
    assert BY_FIELD["secret_key"].env in WORKER_SECRETS
    assert BY_FIELD["postgres_url"].env in WORKER_SECRETS
    assert is_worker_secret(WEBHOOK_SECRET_ENV + "STRIPE")
    assert is_worker_secret("PGPASSWORD")
    assert not is_worker_secret("WORKFLOW_LOG_LEVEL")


# -- worker.execution.env_passthrough: file, environment, options --------------------------

def test_passthrough_defaults_to_nothing():
    assert load_settings(environ={}).env_passthrough == ()


def test_passthrough_from_each_source(tmp_path: Path):
    (tmp_path / "workflow_config.py").write_text(
        "from workflow_studio import define_config\n"
        "config = define_config(worker={'execution': {'env_passthrough': ['HTTPS_PROXY']}})\n")
    assert load_settings(environ={}).env_passthrough == ("HTTPS_PROXY",)
    from_env = load_settings(environ={"WORKFLOW_ENV_PASSTHROUGH": "STRIPE_KEY, SENTRY_DSN  X"})
    assert from_env.env_passthrough == ("STRIPE_KEY", "SENTRY_DSN", "X")
    from_options = load_settings(environ={"WORKFLOW_ENV_PASSTHROUGH": "A"},
                                 options={"env_passthrough": ["B"]})
    assert from_options.env_passthrough == ("B",)


@pytest.mark.parametrize(("value", "message"), [
    ("HTTPS_PROXY", "worker.execution.env_passthrough: expected a list of strings, got str"),
    ([1], "worker.execution.env_passthrough: expected a list of strings, got a int in it"),
    (["1ABC"], "worker.execution.env_passthrough: '1ABC' is not an environment variable name"),
    (["A-B"], "worker.execution.env_passthrough: 'A-B' is not an environment variable name"),
    (["A=B"], "worker.execution.env_passthrough: 'A=B' is not an environment variable name"),
    ([""], "worker.execution.env_passthrough: '' is not an environment variable name"),
    (["WORKFLOW_COMPUTE_API_KEY"], "worker.execution.env_passthrough: "
     "WORKFLOW_COMPUTE_API_KEY is a worker secret; user code never sees it"),
    (["WORKFLOW_WEBHOOK_SECRET_GITHUB"], "WORKFLOW_WEBHOOK_SECRET_GITHUB is a worker secret"),
    (["PGPASSWORD"], "PGPASSWORD is a worker secret"),
    (["WORKFLOW_POSTGRES_URL"], "WORKFLOW_POSTGRES_URL is a worker secret"),
    (["WORKFLOW_SECRET_KEY"], "WORKFLOW_SECRET_KEY is a worker secret"),
    (["WORKFLOW_STUDIO_OPTIONS"], "WORKFLOW_STUDIO_OPTIONS is a worker secret"),
])
def test_bad_passthrough_in_the_file(value: object, message: str):
    with pytest.raises(ConfigError) as info:
        define_config(worker={"execution": {"env_passthrough": value}})
    assert message in str(info.value)
    assert str(info.value).startswith("worker.execution.env_passthrough")


def test_bad_passthrough_in_env_and_options_names_the_source():
    with pytest.raises(ConfigError, match=r"^WORKFLOW_ENV_PASSTHROUGH: 'A-B' is not an "):
        load_settings(environ={"WORKFLOW_ENV_PASSTHROUGH": "OK A-B"})
    with pytest.raises(ConfigError, match=r"^WORKFLOW_ENV_PASSTHROUGH: PGPASSWORD is a worker"):
        load_settings(environ={"WORKFLOW_ENV_PASSTHROUGH": "PGPASSWORD"})
    with pytest.raises(ConfigError, match=r"^options: env_passthrough: WORKFLOW_SECRET_KEY "):
        load_settings(environ={}, options={"env_passthrough": ["WORKFLOW_SECRET_KEY"]})
    with pytest.raises(ConfigError, match=r"^WORKFLOW_STUDIO_OPTIONS: env_passthrough: "):
        load_settings(environ={OPTIONS_ENV: json.dumps({"env_passthrough": "X"})})


# -- what user code sees ----------------------------------------------------------------

def test_user_environment_is_the_essentials_and_the_allowlist():
    given = {"PATH": "/bin", "HOME": "/h", "LANG": "C.UTF-8", "LC_ALL": "C", "TZ": "UTC",
             "TMPDIR": "/t", "WORKFLOW_COMPUTE_API_KEY": "k" * 20, "PGPASSWORD": "pw",
             "WORKFLOW_WEBHOOK_SECRET_HMAC": "s", "PYTHONPATH": "/x", "AWS_SECRET": "a",
             "HTTPS_PROXY": "http://proxy", "PGHOST": "db"}
    assert user_environment(["HTTPS_PROXY", "PGPASSWORD"], given) == {
        "PATH": "/bin", "HOME": "/h", "LANG": "C.UTF-8", "LC_ALL": "C", "TZ": "UTC",
        "TMPDIR": "/t", "HTTPS_PROXY": "http://proxy"}


# -- error text ---------------------------------------------------------------------------

def _settings(**options: object) -> Settings:
    return load_settings(environ={}, options={"sqlite_path": "x.db", **options})


def test_redactor_replaces_secret_values_and_bounds_the_text():
    redactor = Redactor.for_settings(_settings(
        seed_api_keys=[{"key": "seed-key-value-0123456789"}],
        secret_key="server-secret-key-value", webhooks={"github": {"secret": "gh-webhook-s"}},
        postgres_url="postgresql://app:p%40ss-word-1@db.internal/app"),
        environ={"PGPASSWORD": "libpq-password"})
    text = ("seed-key-value-0123456789 server-secret-key-value gh-webhook-s p@ss-word-1 "
            "p%40ss-word-1 libpq-password and the rest")
    assert redactor.text(text) == " ".join([REDACTED] * 6) + " and the rest"
    long = redactor.text("gh-webhook-s " + "x" * 10_000)
    assert len(long) <= MAX_ERROR_CHARS and long.startswith(REDACTED)
    assert long.endswith("more characters]")
    tail = redactor.text("first line\n" + "y" * 10_000 + "\nlast line", limit=500,
                         keep="tail")
    assert len(tail) <= 500 and tail.endswith("last line") and "first line" not in tail
    assert redactor.text("short") == "short"
    redactor.add("generated-later", "abc")  # too short to be worth replacing
    error = redactor.error({"type": "E", "message": "generated-later abc", "attempts": 2,
                            "stack": "s" * 5000 + " generated-later"})
    assert error["message"] == f"{REDACTED} abc" and error["attempts"] == 2
    assert len(error["stack"]) <= MAX_ERROR_CHARS and error["stack"].endswith(REDACTED)


def test_keyword_conninfo_passwords_are_known():
    redactor = Redactor([
        *secret_values(_settings(postgres_url="host=db password='quoted kw-secret' dbname=a")),
        *secret_values(_settings(postgres_url="host=db password=plain-kw-secret"))])
    assert redactor.text("x plain-kw-secret y quoted kw-secret z") == (
        f"x {REDACTED} y {REDACTED} z")


def test_pgpassword_that_leaves_the_environment_reaches_the_connection_string():
    settings = _settings(postgres_url="postgresql://app@db.internal:5432/app")
    db = open_database(settings, environ={"PGPASSWORD": "from-the-boot-env"})
    assert "password=from-the-boot-env" in db.target
    own = _settings(postgres_url="postgresql://app:own@db/app")
    assert open_database(own, environ={"PGPASSWORD": "other"}).target == own.postgres_url
    assert open_database(settings).target == settings.postgres_url  # libpq reads the env


# -- the process: os.environ and /proc/self/environ -----------------------------------------

CHILD = textwrap.dedent("""
    import json, os, sys
    from workflow_studio.config import environment

    def block():
        with open("/proc/self/environ", "rb") as handle:
            return handle.read()

    hidden = environment.hide_secrets()   # the gunicorn master, on_starting
    out = {"hidden": sorted(hidden)}
    out["environ_after_hide"] = sorted(
        k for k in os.environ if k.startswith(("WORKFLOW", "PG", "KEEP", "DROP")))
    out["block_has_secret"] = b"the-seed-key-0123456789" in block() or b"pg-secret" in block()
    pid = os.fork()
    if pid == 0:  # a gunicorn worker: forked, given the secrets back, then restricted
        os.environ.update(hidden)
        seed = os.environ.get("WORKFLOW_COMPUTE_API_KEY")
        removed = environment.restrict_to(["KEEP_ME"])
        child = {"environ": sorted(os.environ), "removed": sorted(removed), "seed": seed,
                 "block_drop": b"DROP_ME=" in block(), "block_keep": b"KEEP_ME=" in block(),
                 "block_seed": b"the-seed-key-0123456789" in block()}
        with open(sys.argv[1], "w") as handle:
            json.dump(child, handle)
        os._exit(0)
    os.waitpid(pid, 0)
    print(json.dumps(out))
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")
def test_hide_then_restrict_in_real_processes(tmp_path: Path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8",
           "WORKFLOW_COMPUTE_API_KEY": "the-seed-key-0123456789", "PGPASSWORD": "pg-secret",
           "WORKFLOW_WEBHOOK_SECRET_GITHUB": "gh-secret-value", "PGHOST": "db",
           "KEEP_ME": "kept", "DROP_ME": "dropped", "WORKFLOW_LOG_LEVEL": "debug",
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    result = tmp_path / "child.json"
    done = subprocess.run([sys.executable, "-c", CHILD, str(result)], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["hidden"] == ["PGPASSWORD", "WORKFLOW_COMPUTE_API_KEY",
                             "WORKFLOW_WEBHOOK_SECRET_GITHUB"]
    assert out["environ_after_hide"] == ["DROP_ME", "KEEP_ME", "PGHOST", "WORKFLOW_LOG_LEVEL"]
    assert out["block_has_secret"] is False
    child = json.loads(result.read_text())
    assert child["seed"] == "the-seed-key-0123456789"  # handed over by the "master"
    assert "KEEP_ME" in child["environ"] and "PGHOST" in child["environ"]
    assert not {"DROP_ME", "WORKFLOW_LOG_LEVEL", "PYTHONPATH", "WORKFLOW_COMPUTE_API_KEY",
                "PGPASSWORD"} & set(child["environ"])
    assert {"DROP_ME", "WORKFLOW_LOG_LEVEL", "PYTHONPATH"} <= set(child["removed"])
    assert (child["block_drop"], child["block_keep"], child["block_seed"]) == (
        False, True, False)
