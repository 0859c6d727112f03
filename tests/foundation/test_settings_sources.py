"""The config file, the environment and options are checked by the same rules, and every
refusal is one line naming the source and the setting."""

from __future__ import annotations

import json
import math

import pytest

from workflow_studio.config.model import OPTIONS_ENV, SeedKey
from workflow_studio.config.settings import ConfigError, define_config, load_settings
from workflow_studio.config.table import BY_FIELD, SETTINGS


def write_config(tmp_path, sections: dict) -> str:
    """A config file outside the working directory: only an explicit path finds it."""
    (tmp_path / "proj").mkdir(exist_ok=True)
    path = tmp_path / "proj" / "workflow_config.py"
    path.write_text("from workflow_studio import define_config\n"
                    f"config = define_config(**{sections!r})\n")
    return str(path)


def nested(path: str, value: object) -> dict:
    """``worker.executor.slots`` -> ``{"worker": {"executor": {"slots": value}}}``."""
    *sections, name = path.split(".")
    out: dict = {name: value}
    for section in reversed(sections):
        out = {section: out}
    return out


def refused(**kwargs) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(**kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


# (field, bad typed value, bad env string, the file/options message, the env message)
DONE_WHEN = [
    ("port", 99999, "99999", "must be a port number (0-65535), got 99999",
     "PORT: must be a port number (0-65535), got 99999"),
    ("workers", -3, "-3", "must be at least 1, got -3",
     "WORKFLOW_WORKERS: must be at least 1, got -3"),
    ("threads", "four", "four", "expected int, got str",
     "WORKFLOW_THREADS: expected an integer, got 'four'"),
    ("lease_seconds", -1, None, "must be > 0, got -1", None),
]


@pytest.mark.parametrize(("field", "value", "raw", "message", "env_message"), DONE_WHEN)
def test_each_bad_value_is_refused_from_every_source(tmp_path, field, value, raw, message,
                                                     env_message):
    setting = BY_FIELD[field]
    config = write_config(tmp_path, nested(setting.path, value))
    assert refused(config_path=config, environ={}) == (
        f"workflow_config.py: {setting.path}: {message}")
    assert refused(options={field: value}, environ={}) == f"options: {field}: {message}"
    assert refused(environ={OPTIONS_ENV: json.dumps({field: value})}) == (
        f"{OPTIONS_ENV}: {field}: {message}")
    if raw is None:
        assert setting.env is None, "lease_seconds has no environment variable"
    else:
        assert refused(environ={setting.env: raw}) == env_message


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.field)
def test_file_and_options_give_the_same_reason(setting):
    wrong = object()  # no kind accepts it
    with pytest.raises(ConfigError) as from_file:
        define_config(**nested(setting.path, wrong))
    with pytest.raises(ConfigError) as from_options:
        load_settings(options={setting.option: wrong}, environ={})
    reason = str(from_options.value).removeprefix(f"options: {setting.option}")
    assert str(from_file.value) == f"{setting.path}{reason}"


@pytest.mark.parametrize(("options", "message"), [
    ({"port": -1}, "options: port: must be a port number (0-65535), got -1"),
    ({"port": "8080"}, "options: port: expected int, got str"),
    ({"workers": True}, "options: workers: expected int, got bool"),
    ({"workers": 0}, "options: workers: must be at least 1, got 0"),
    ({"threads": 0}, "options: threads: must be at least 1, got 0"),
    ({"executor_slots": 0}, "options: executor_slots: must be at least 1, got 0"),
    ({"lease_seconds": 0}, "options: lease_seconds: must be > 0, got 0"),
    ({"lease_seconds": math.inf}, "options: lease_seconds: must be > 0, got inf"),
    ({"lease_seconds": "30"}, "options: lease_seconds: expected int or float, got str"),
    ({"activation_timeout": -0.5}, "options: activation_timeout: must be > 0, got -0.5"),
    ({"rate_limit_per_minute": -1},
     "options: rate_limit_per_minute: must not be negative, got -1"),
    ({"idempotency_retention_seconds": 0},
     "options: idempotency_retention_seconds: must be at least 1, got 0"),
    ({"max_artifact_bytes": -1}, "options: max_artifact_bytes: must not be negative, got -1"),
    ({"max_artifact_files": 0}, "options: max_artifact_files: must be at least 1, got 0"),
    ({"require_https": "yes"}, "options: require_https: expected bool, got str"),
    ({"sqlite_path": ""}, "options: sqlite_path: must not be empty"),
    ({"workflows": "app.flows"}, "options: workflows: expected a list of strings, got str"),
    ({"trusted_proxies": ["proxy.local"]},
     "options: trusted_proxies: 'proxy.local' is not an IP address or network"),
    ({"log_level": "loud"}, "options: log_level: expected one of DEBUG, INFO, WARNING, ERROR, "
                            "CRITICAL, got 'loud'"),
    ({"seed_api_keys": [{"key": "k" * 20, "rate_limit_per_minute": -1}]},
     "options: seed_api_keys[0].rate_limit_per_minute: must not be negative, got -1"),
    ({"webhooks": {"gitlab": "s"}}, "options: webhooks.gitlab: unknown webhook provider"),
    ({"public_base_url": "worker.example"},
     "options: public_base_url: expected an http:// or https:// URL"),
    ({"host": None}, "options: host: expected str, got None"),
])
def test_bounds_and_types(options, message):
    assert refused(options=options, environ={}).startswith(message)


@pytest.mark.parametrize("name", ["world", "compute", "base_dir"])
def test_dead_and_internal_options_are_unknown(name):
    assert refused(options={name: "x"}, environ={}).startswith(f"options: {name}: unknown option")


def test_options_in_the_environment_must_be_a_json_object():
    assert refused(environ={OPTIONS_ENV: "{nope"}) == f"{OPTIONS_ENV}: not valid JSON"
    assert refused(environ={OPTIONS_ENV: "[1]"}) == (
        f"{OPTIONS_ENV}: expected a JSON object, got list")
    assert refused(environ={OPTIONS_ENV: '{"thread": 2}'}) == (
        f"{OPTIONS_ENV}: thread: unknown option (did you mean threads?)")


def test_good_values_are_normalised_the_same_from_every_source(tmp_path):
    config = write_config(tmp_path, {"worker": {"log_level": "debug",
                                                "executor": {"lease_seconds": 3}}})
    from_file = load_settings(config, environ={})
    from_options = load_settings(options={"log_level": "debug", "lease_seconds": 3}, environ={})
    from_env = load_settings(environ={"WORKFLOW_LOG_LEVEL": "debug"})
    for settings in (from_file, from_options):
        assert (settings.log_level, settings.lease_seconds) == ("DEBUG", 3.0)
        assert isinstance(settings.lease_seconds, float)
    assert from_env.log_level == "DEBUG"


def test_precedence_and_empty_variables(tmp_path):
    config = write_config(tmp_path, {"worker": {"threads": 2, "workers": 3}})
    settings = load_settings(config, options={"threads": 5},
                             environ={"WORKFLOW_THREADS": "4", "WORKFLOW_WORKERS": ""})
    assert (settings.threads, settings.workers) == (5, 3)  # options > env > file; "" is unset
    assert load_settings(config, environ={"WORKFLOW_THREADS": " 6 "}).threads == 6


def test_seed_keys_may_be_strings_mappings_or_seed_keys():
    key = "k" * 20
    settings = load_settings(options={"seed_api_keys": [
        key, {"key": key, "scopes": "runs:read runs:write"}, SeedKey(key, ("deploy:read",))]},
        environ={})
    assert [k.scopes for k in settings.seed_api_keys] == [
        ("admin",), ("runs:read", "runs:write"), ("deploy:read",)]


def test_the_config_path_variable_is_read_from_the_given_environment(tmp_path):
    config = write_config(tmp_path, {"worker": {"threads": 7}})
    assert load_settings(environ={"WORKFLOW_STUDIO_CONFIG": config}).threads == 7
