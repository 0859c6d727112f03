"""Config-defined schedules: ``define_config(schedules=[...])`` ships in the manifest and
activating the deployment reconciles them: created, updated, paused (not deleted, with a
note) when removed, resumed when a later activation defines them again (a rollback
included). API-created schedules are never touched; a bad definition refuses the
activation and leaves the pointer where it was."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.deployments.helpers import AUTH, built_upload, write_project
from workflow_studio.builder.project import build_project
from workflow_studio.config.settings import ConfigError, define_config

FLOWS = """
    from workflow_studio import workflow

    @workflow
    def report(kind="daily"):
        return kind
    """


def project(root: Path, schedules: list[dict[str, Any]]) -> Any:
    config = write_project(root, {"reports/__init__.py": "", "reports/flows.py": FLOWS},
                           ["reports.flows"])
    config.write_text("from workflow_studio import define_config\n"
                      f"config = define_config(workflows=['reports.flows'],\n"
                      f"                       schedules={schedules!r})\n", encoding="utf-8")
    return build_project(str(config), root / "out")


def deploy(client: Any, root: Path, schedules: list[dict[str, Any]]) -> tuple[str, Any]:
    made = built_upload(client, project(root, schedules))
    assert made.status_code == 201, made.get_json()
    deployment = made.get_json()["id"]
    return deployment, client.post(f"/v1/deployments/{deployment}/activate", headers=AUTH)


def by_name(client: Any) -> dict[str, Any]:
    listed = client.get("/v1/schedules", headers=AUTH).get_json()["data"]
    return {s["name"]: s for s in listed}


NIGHTLY = {"name": "nightly-report", "workflow": "report", "cron": "0 3 * * *",
           "timezone": "Europe/Berlin", "kwargs": {"kind": "nightly"}}


def test_activation_creates_updates_pauses_and_resumes(client: Any, tmp_path: Path) -> None:
    first, answer = deploy(client, tmp_path / "v1", [NIGHTLY])
    assert answer.status_code == 200, answer.get_json()
    made = by_name(client)["nightly-report"]
    assert (made["source"], made["configDeploymentId"], made["cron"], made["kwargs"]) == (
        "config", first, ["0 3 * * *"], {"kind": "nightly"})
    assert made["nextFireAt"] is not None

    hourly = {"name": "hourly", "workflow": "report", "interval_seconds": 3600}
    changed = {**NIGHTLY, "cron": ["0 4 * * *"]}
    second, answer = deploy(client, tmp_path / "v2", [changed, hourly])
    assert answer.status_code == 200, answer.get_json()
    now = by_name(client)
    assert now["nightly-report"]["cron"] == ["0 4 * * *"]
    assert now["nightly-report"]["id"] == made["id"]  # updated in place
    assert now["hourly"]["intervalSeconds"] == 3600

    third, answer = deploy(client, tmp_path / "v3", [changed])
    assert answer.status_code == 200
    gone = by_name(client)["hourly"]
    assert (gone["paused"], gone["pausedBy"]) == (True, "config")
    assert third in gone["pauseNote"] and "removed from the config" in gone["pauseNote"]

    back = client.post(f"/v1/deployments/{second}/activate", headers=AUTH)  # a rollback
    assert back.status_code == 200
    assert by_name(client)["hourly"]["paused"] is False


def test_an_api_schedule_is_never_touched_by_a_deploy(client: Any, tmp_path: Path) -> None:
    mine = client.post("/v1/schedules", headers=AUTH, json={
        "name": "nightly-report", "workflowName": "report", "cron": ["0 1 * * *"]})
    assert mine.status_code == 201
    _, answer = deploy(client, tmp_path / "v1", [NIGHTLY])
    assert answer.status_code == 409
    assert "created through the API" in answer.get_json()["message"]
    assert client.get("/v1/deployments/active", headers=AUTH).status_code == 409  # none
    assert by_name(client)["nightly-report"]["cron"] == ["0 1 * * *"]
    _, answer = deploy(client, tmp_path / "v2", [])
    assert answer.status_code == 200
    assert by_name(client)["nightly-report"]["paused"] is False


def test_a_bad_cron_in_the_config_refuses_the_activation(client: Any, tmp_path: Path) -> None:
    first, answer = deploy(client, tmp_path / "v1", [NIGHTLY])
    assert answer.status_code == 200
    _, answer = deploy(client, tmp_path / "v2", [{**NIGHTLY, "cron": "0 25 * * *"}])
    error = answer.get_json()
    assert (answer.status_code, error["code"], error["field"]) == (
        400, "invalid_schedule", "schedules[0].cron[0]")
    assert "field 2 (hour) '25' at character 3" in error["message"]
    active = client.get("/v1/deployments/active", headers=AUTH).get_json()
    assert active["id"] == first  # the pointer did not move
    assert by_name(client)["nightly-report"]["cron"] == ["0 3 * * *"]


def test_the_manifest_carries_the_schedules_in_the_api_shape(tmp_path: Path) -> None:
    built = project(tmp_path, [NIGHTLY])
    shipped = json.loads(built.manifest_path.read_text())["schedules"]
    assert shipped == [{"name": "nightly-report", "workflowName": "report",
                        "cron": ["0 3 * * *"], "timezone": "Europe/Berlin",
                        "kwargs": {"kind": "nightly"}}]


@pytest.mark.parametrize(("entry", "message"), [
    ({"name": "x", "cron": "* * * * *"}, "schedules[0].workflow: missing"),
    ({"name": "x", "workflow": "w"}, "schedules[0].cron: give cron or interval_seconds"),
    ({"name": "x", "workflow": "w", "cron": "* * * * *", "overlap": "sometimes"},
     "schedules[0].overlap: expected one of skip"),
    ({"name": "x", "workflow": "w", "cron": "* * * * *", "every": 5},
     "schedules[0].every: unknown setting"),
])
def test_define_config_checks_the_shape(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        define_config(schedules=[entry])
    assert str(raised.value).startswith(message)
