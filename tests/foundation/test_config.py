"""define_config, the config file, env overrides and their one-line errors."""

from __future__ import annotations

import pytest

from workflow_studio import define_config
from workflow_studio.config.settings import ConfigError, load_settings


def write_config(tmp_path, body: str):
    path = tmp_path / "workflow_config.py"
    path.write_text("from workflow_studio import define_config\n" + body)
    return path


def test_defaults_without_a_config_file(tmp_path):
    settings = load_settings(environ={})
    assert settings.port == 8080
    assert settings.sqlite_file == str(tmp_path / ".workflow-studio" / "worker.db")
    assert settings.seed_api_keys == ()


def test_file_values_are_read_and_paths_resolve_next_to_the_file(tmp_path):
    sub = tmp_path / "proj"
    sub.mkdir()
    write_config(sub, (
        "config = define_config(workflows=['app.flows'], worker={\n"
        "  'storage': {'sqlite_path': 'data/w.db'},\n"
        "  'security': {'require_https': True, 'trusted_proxies': ['10.0.0.0/8']},\n"
        "  'auth': {'seed_api_keys': [{'key': 'k' * 20, 'scopes': ['runs:read']}]},\n"
        "  'rate_limit_per_minute': 5})\n"))
    settings = load_settings(str(sub / "workflow_config.py"), environ={})
    assert settings.workflows == ("app.flows",)
    assert settings.sqlite_file == str(sub / "data" / "w.db")
    assert settings.require_https is True
    assert settings.trusted_proxies == ("10.0.0.0/8",)
    assert settings.rate_limit_per_minute == 5
    assert settings.seed_api_keys[0].scopes == ("runs:read",)


def test_environment_overrides_the_file(tmp_path):
    write_config(tmp_path, "config = define_config(worker={'rate_limit_per_minute': 5})\n")
    settings = load_settings(environ={
        "PORT": "9000", "WORKFLOW_RATE_LIMIT_PER_MINUTE": "7", "WORKFLOW_REQUIRE_HTTPS": "yes",
        "WORKFLOW_SQLITE_PATH": "/tmp/x.db", "WORKFLOW_COMPUTE_API_KEY": "e" * 24,
    })
    assert (settings.port, settings.rate_limit_per_minute) == (9000, 7)
    assert settings.require_https is True
    assert settings.sqlite_file == "/tmp/x.db"
    assert settings.seed_api_keys[-1].key == "e" * 24
    assert settings.seed_api_keys[-1].scopes == ("admin",)


def test_env_key_scopes_can_be_narrowed_by_the_config(tmp_path):
    write_config(tmp_path, "config = define_config(worker={'auth': "
                           "{'env_api_key_scopes': ['trigger:write']}})\n")
    settings = load_settings(environ={"WORKFLOW_COMPUTE_API_KEY": "e" * 24})
    assert settings.seed_api_keys[-1].scopes == ("trigger:write",)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"worker": {"storage": {"sqlite_pth": "x"}}},
     "worker.storage.sqlite_pth: unknown setting (did you mean worker.storage.sqlite_path?)"),
    ({"worker": {"rate_limit_per_minute": "many"}},
     "worker.rate_limit_per_minute: expected int, got str"),
    ({"worker": {"security": {"require_https": 1}}},
     "worker.security.require_https: expected bool, got int"),
    ({"worker": {"port": True}}, "worker.port: expected int, got bool"),
    ({"worker": {"auth": {"seed_api_keys": [{"key": "short"}]}}},
     "worker.auth.seed_api_keys[0].key: expected a string of at least 16 characters"),
    ({"worker": {"auth": {"seed_api_keys": [{"key": "k" * 20, "scopes": ["root"]}]}}},
     "worker.auth.seed_api_keys[0].scopes: unknown scope 'root'"),
    ({"wokrer": {}}, "wokrer: unknown setting (did you mean worker?)"),
])
def test_bad_settings_name_the_setting(kwargs, message):
    with pytest.raises(ConfigError) as info:
        define_config(**kwargs)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("env", "message"), [
    ({"PORT": "eighty"}, "PORT: expected an integer, got 'eighty'"),
    ({"PORT": "70000"}, "PORT: must be a port number"),
    ({"WORKFLOW_REQUIRE_HTTPS": "maybe"}, "WORKFLOW_REQUIRE_HTTPS: expected true or false"),
    ({"WORKFLOW_RATE_LIMIT_PER_MINUTE": "-1"}, "WORKFLOW_RATE_LIMIT_PER_MINUTE: must not be"),
    ({"WORKFLOW_COMPUTE_API_KEY": "short"}, "WORKFLOW_COMPUTE_API_KEY: must be at least 16"),
])
def test_bad_environment_names_the_variable(env, message):
    with pytest.raises(ConfigError, match="^" + message.replace("(", r"\(")):
        load_settings(environ=env)


def test_errors_inside_the_config_file_give_file_and_line(tmp_path):
    write_config(tmp_path, "x = 1\nconfig = define_config(workflows=undefined_name)\n")
    with pytest.raises(ConfigError, match=r"^workflow_config.py:3: NameError: "):
        load_settings(environ={})


def test_config_errors_raised_by_define_config_name_the_file(tmp_path):
    write_config(tmp_path, "config = define_config(worker={'nope': 1})\n")
    with pytest.raises(ConfigError, match=r"^workflow_config.py: worker.nope: unknown setting"):
        load_settings(environ={})


def test_missing_explicit_file_and_missing_declaration(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_settings(str(tmp_path / "absent.py"), environ={})
    (tmp_path / "workflow_config.py").write_text("settings = {}\n")
    with pytest.raises(ConfigError, match="declares no config"):
        load_settings(environ={})


def test_unknown_option_is_named():
    with pytest.raises(ConfigError, match=r"^options: sqlite_pth: unknown option"):
        load_settings(options={"sqlite_pth": "x"}, environ={})


def test_syntax_error_in_the_config_file_gives_its_line(tmp_path):
    write_config(tmp_path, "config = define_config(\n")
    with pytest.raises(ConfigError, match=r"^workflow_config.py:2: SyntaxError: "):
        load_settings(environ={})


def test_log_level_is_case_insensitive_and_checked():
    assert load_settings(environ={"WORKFLOW_LOG_LEVEL": "debug"}).log_level == "DEBUG"
    with pytest.raises(ConfigError, match=r"^WORKFLOW_LOG_LEVEL: expected one of DEBUG"):
        load_settings(environ={"WORKFLOW_LOG_LEVEL": "verbose"})


def test_trusted_proxies_are_checked():
    assert load_settings(environ={"WORKFLOW_TRUSTED_PROXIES": "10.0.0.5/24, ::1"}
                         ).trusted_proxies == ("10.0.0.5/24", "::1")
    with pytest.raises(ConfigError, match=r"'proxy\.local' is not an IP address"):
        load_settings(environ={"WORKFLOW_TRUSTED_PROXIES": "proxy.local"})
