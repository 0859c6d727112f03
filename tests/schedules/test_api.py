"""The schedules API over the Flask test client: definitions, errors that name the field
and position, scopes, pause/resume, trigger, backfill (dry run), preview, and the runs
filter. Firing is driven through the app's runtime on a fake clock."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ADMIN_KEY
from tests.schedules.conftest import WORKFLOWS, FakeClock, ms
from workflow_studio.compute.ids import new_id
from workflow_studio.engine.schedules import Scheduler
from workflow_studio.storage import deployments as deployments_repo

pytestmark = pytest.mark.both_backends


@pytest.fixture
def fake(app: Any) -> FakeClock:
    state = app.extensions["workflow_studio"]
    clock = FakeClock(ms(2024, 6, 1, 12, 0, 0))
    state.runtime.clock = clock
    conn = state.db.connection()
    deployment = new_id("dpl")
    deployments_repo.create(conn, deployment_id=deployment, manifest={},
                            artifact_sha256="0" * 64, artifact_size=0, workflows=WORKFLOWS,
                            steps=[], created_by_key_id=None)
    deployments_repo.activate(conn, deployment, None)
    return clock


@pytest.fixture
def loop(app: Any, fake: FakeClock) -> Scheduler:
    return Scheduler(app.extensions["workflow_studio"].runtime)


@pytest.fixture
def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_KEY}"}


def create(client: Any, auth: dict[str, str], **body: Any) -> Any:
    body.setdefault("name", "nightly-report")
    body.setdefault("workflowName", "report")
    return client.post("/v1/schedules", json=body, headers=auth)


def test_create_read_list_and_preview(client, auth, fake) -> None:
    made = create(client, auth, cron=["0 3 * * *"], timezone="Europe/Berlin", args=[1])
    assert made.status_code == 201, made.get_json()
    body = made.get_json()
    assert body["id"].startswith("sch_") and body["source"] == "api"
    assert body["nextFireAt"] == "2024-06-02T01:00:00.000Z"  # 03:00 CEST
    assert body["description"] == "At 03:00 every day (Europe/Berlin)"
    assert (body["overlap"], body["catchup"], body["catchupWindowSeconds"],
            body["maxCatchup"]) == ("skip", "latest", 86400, 100)
    by_name = client.get("/v1/schedules/nightly-report", headers=auth).get_json()
    assert by_name["id"] == body["id"] and by_name["recentTicks"] == []
    listed = client.get("/v1/schedules", headers=auth).get_json()
    assert [s["name"] for s in listed["data"]] == ["nightly-report"]
    preview = client.get(f"/v1/schedules/{body['id']}/preview?count=3", headers=auth)
    times = preview.get_json()["fireTimes"]
    assert [t["local"] for t in times] == ["2024-06-02T03:00:00+02:00",
                                          "2024-06-03T03:00:00+02:00",
                                          "2024-06-04T03:00:00+02:00"]
    assert times[0]["scheduledAt"] == "2024-06-02T01:00:00.000Z"
    assert create(client, auth, cron=["0 3 * * *"]).status_code == 409  # the name is taken


@pytest.mark.parametrize(("body", "field", "position"), [
    ({"cron": ["0 61 * * *"]}, "cron[0]", 3),
    ({"cron": ["* * * * *", "*/0 * * * * *"]}, "cron[1]", 1),
    ({"cron": ["0 3 * *"]}, "cron[0]", None),
    ({"cron": ["0 3 * * *"], "timezone": "Mars/Olympus"}, "timezone", None),
    ({}, "cron", None),
    ({"intervalSeconds": 60, "phaseSeconds": 60}, "phaseSeconds", None),
    ({"cron": ["0 3 * * *"], "startAt": "2024-01-02T00:00:00Z",
      "endAt": "2024-01-01T00:00:00Z"}, "endAt", None),
    ({"cron": ["0 3 * * *"], "name": "sch_lookalike"}, "name", None),
])
def test_a_bad_spec_is_invalid_schedule_naming_field_and_position(
        client, auth, fake, body, field, position) -> None:
    answer = create(client, auth, **body)
    assert answer.status_code == 400
    error = answer.get_json()
    assert error["code"] == "invalid_schedule"
    assert error["field"] == field and error["message"].startswith(field)
    assert error.get("position") == position


def test_scopes(client, app, fake) -> None:
    from workflow_studio.storage import keys as keys_repo
    conn = app.extensions["workflow_studio"].db.connection()
    secrets = {}
    for scopes in (["schedules:read"], ["schedules:write"], ["runs:read"]):
        _, secret = keys_repo.create(conn, "-".join(scopes), scopes)
        secrets[scopes[0]] = {"Authorization": f"Bearer {secret}"}
    body = {"name": "x", "workflowName": "report", "cron": ["* * * * *"]}
    assert client.post("/v1/schedules", json=body, headers=secrets["schedules:read"]
                       ).status_code == 403
    assert client.post("/v1/schedules", json=body, headers=secrets["schedules:write"]
                       ).status_code == 201
    assert client.get("/v1/schedules", headers=secrets["schedules:read"]).status_code == 200
    assert client.get("/v1/schedules", headers=secrets["runs:read"]).status_code == 403


def test_fire_pause_resume_trigger_backfill_and_the_runs_filter(client, auth, fake,
                                                                loop) -> None:
    made = create(client, auth, cron=["* * * * *"], overlap="allow_all").get_json()
    sid = made["id"]
    fake.advance(60)
    assert loop.run_once() == 1
    detail = client.get(f"/v1/schedules/{sid}", headers=auth).get_json()
    tick = detail["recentTicks"][0]
    assert (tick["outcome"], tick["scheduledAt"], tick["runStatus"]) == (
        "fired", "2024-06-01T12:01:00.000Z", "pending")
    run = client.get(f"/v1/runs/{tick['runId']}", headers=auth).get_json()
    assert (run["scheduleId"], run["scheduledAt"], run["triggerType"]) == (
        sid, "2024-06-01T12:01:00.000Z", "schedule")

    paused = client.post(f"/v1/schedules/{sid}/pause", json={"note": "db upgrade"},
                         headers=auth).get_json()
    assert (paused["paused"], paused["pauseNote"], paused["nextFireAt"]) == (
        True, "db upgrade", None)
    assert paused["pausedBy"].startswith("key_")
    fake.advance(180)
    assert loop.run_once() == 0
    resumed = client.post(f"/v1/schedules/{sid}/resume", headers=auth).get_json()
    assert resumed["paused"] is False and resumed["nextFireAt"] == "2024-06-01T12:05:00.000Z"
    ticks = client.get(f"/v1/schedules/{sid}", headers=auth).get_json()["recentTicks"]
    assert (ticks[0]["outcome"], ticks[0]["count"], ticks[0]["reason"]) == (
        "paused", 3, "db upgrade")

    fired = client.post(f"/v1/schedules/{sid}/trigger", json={}, headers=auth)
    assert fired.status_code == 202
    assert fired.get_json()["outcome"] == "fired"
    assert fired.get_json()["run"]["scheduledAt"] is None

    window = {"from": "2024-06-01T12:02:00Z", "to": "2024-06-01T12:03:00Z"}
    dry = client.post(f"/v1/schedules/{sid}/backfill", json={**window, "dryRun": True},
                      headers=auth)
    assert dry.status_code == 200
    assert [t["outcome"] for t in dry.get_json()["ticks"]] == ["would_fire", "would_fire"]
    done = client.post(f"/v1/schedules/{sid}/backfill", json=window, headers=auth)
    assert done.status_code == 202
    assert [t["outcome"] for t in done.get_json()["ticks"]] == ["fired", "fired"]
    again = client.post(f"/v1/schedules/{sid}/backfill", json={**window, "dryRun": True},
                        headers=auth).get_json()
    assert [t["outcome"] for t in again["ticks"]] == ["already_decided"] * 2
    future = client.post(f"/v1/schedules/{sid}/backfill", json={
        "from": "2024-06-01T12:00:00Z", "to": "2030-01-01T00:00:00Z"}, headers=auth)
    assert (future.status_code, future.get_json()["field"]) == (400, "to")

    listed = client.get(f"/v1/runs?scheduleId={sid}", headers=auth).get_json()["data"]
    assert len(listed) == 4 and {r["scheduleId"] for r in listed} == {sid}
    assert client.get("/v1/runs?scheduleId=nope", headers=auth).status_code == 400


def test_patch_changes_the_spec_and_delete_keeps_the_runs(client, auth, fake, loop) -> None:
    made = create(client, auth, cron=["* * * * *"]).get_json()
    fake.advance(60)
    loop.run_once()
    changed = client.patch(f"/v1/schedules/{made['id']}", json={
        "cron": None, "intervalSeconds": 3600, "overlap": "buffer_one"}, headers=auth)
    assert changed.status_code == 200, changed.get_json()
    body = changed.get_json()
    assert (body["cron"], body["intervalSeconds"], body["nextFireAt"]) == (
        [], 3600, "2024-06-01T13:00:00.000Z")
    bad = client.patch(f"/v1/schedules/{made['id']}", json={"timezone": "Nowhere/Else"},
                       headers=auth)
    assert bad.get_json()["code"] == "invalid_schedule"
    gone = client.delete(f"/v1/schedules/{made['id']}", headers=auth)
    assert gone.get_json() == {"id": made["id"], "name": "nightly-report", "deleted": True}
    assert client.get(f"/v1/schedules/{made['id']}", headers=auth).status_code == 404
    runs = client.get(f"/v1/runs?scheduleId={made['id']}", headers=auth).get_json()["data"]
    assert len(runs) == 1
