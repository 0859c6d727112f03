"""Input that cannot be stored is refused where it is parsed, for every route at once:
JSON nested deeper than ``payloads.MAX_DEPTH`` (500-950 levels used to be a 500, from a
RecursionError while untagging) and strings holding a lone surrogate (``"\\ud800"`` used to
be a 500, from the database driver's UnicodeEncodeError, on about 16 fields) are 400
``invalid_request`` naming the field, and nothing is stored.

``test_every_json_route_refuses_unstorable_bodies`` takes its routes from the app's URL map,
so a new JSON route is covered the day it is added; ``test_representative_fields_on_the_
real_worker`` sends the fields the review found through gunicorn, on both databases.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import requests

from tests.conftest import ADMIN_KEY
from tests.rawhttp import activate_recorded_deployment, row_counts
from tests.world_proxy.conftest import record_deployment
from workflow_studio.worker import create_app
from workflow_studio.worker.context import EXTENSION
from workflow_studio.worker.http import MAX_BODY_DEPTH
from workflow_studio.worker.webhooks.tokens import EXTENSION as SECRETS

pytestmark = pytest.mark.both_backends
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
WORLD = ("workflow_runs", "workflow_steps", "workflow_hooks", "workflow_events",
         "stream_chunks", "idempotency_keys", "queue_messages", "webhook_deliveries")
# POST routes that never parse their body as JSON, and why; every other POST route must.
NOT_JSON = {
    "deployments.upload_deployment": "a multipart upload",
    "deployments.activate_deployment": "takes no body",
    "runs.cancel_run": "takes no body",
    "webhooks.receive": "hands the raw, signed bytes to on_webhook",
}
ARGUMENTS = {"run_id": "wrun_01ARZ3NDEKTSV4RRFFQ69G5FAV",
             "deployment_id": "dpl_01ARZ3NDEKTSV4RRFFQ69G5FAV", "provider": "hmac"}


def nested(levels: int) -> str:
    return "[" * levels + "1" + "]" * levels


def raw(value: Any, levels: int = 0) -> str:
    """``value`` as JSON text, with each ``"@S@"`` inside a string written as the escape of a
    lone surrogate, and the string ``"@N@"`` replaced by ``levels`` nested lists (what
    ``json.dumps`` cannot be made to write)."""
    return json.dumps(value).replace("@S@", "\\ud800").replace('"@N@"', nested(levels))


# (name, raw body, the field the answer names)
BAD_BODIES = [
    ("lone surrogate", raw({"probe": "a@S@b"}), "probe"),
    ("lone low surrogate in a list", '{"probe": ["ok", "\\udfff"]}', "probe[1]"),
    ("lone surrogate in a name", raw({"probe": {"@S@": 1}}), "probe.\\ud800"),
    ("101 levels", raw({"probe": "@N@"}, 100), "probe"),
    ("600 levels", raw({"probe": "@N@"}, 599), "probe"),
    ("950 levels", raw({"probe": "@N@"}, 949), "probe"),
]


def json_routes() -> list[str]:
    app = create_app(_settings())
    return sorted(rule.endpoint for rule in app.url_map.iter_rules()
                  if "POST" in (rule.methods or ()) and rule.endpoint not in NOT_JSON)


def _settings() -> Any:
    from workflow_studio.config.settings import load_settings

    return load_settings(options={"sqlite_path": ":memory:", "artifact_dir": "/nonexistent"},
                         environ={})


def path_for(app: Any, endpoint: str) -> str:
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    values = {arg: ARGUMENTS.get(arg, "x") for arg in rule.arguments}
    if endpoint == "webhooks.resume_webhook":  # a real token: the body is read after it
        values["signed"] = app.extensions[SECRETS].sign_hook_token("probe")
    with app.test_request_context():
        return str(app.url_for(endpoint, **values))


@pytest.fixture
def ready(app: Any) -> Any:
    record_deployment(app)
    return app


@pytest.mark.parametrize("endpoint", json_routes())
def test_every_json_route_refuses_unstorable_bodies(ready: Any, endpoint: str) -> None:
    client = ready.test_client()
    path = path_for(ready, endpoint)
    headers = {**AUTH, "Idempotency-Key": "probe", "Content-Type": "application/json"}
    for name, body, field in BAD_BODIES:
        response = client.post(path, data=body, headers=headers)
        answer = response.get_json()
        assert (response.status_code, answer["code"]) == (400, "invalid_request"), \
            (name, answer)
        (named,) = answer["fields"]
        assert named.startswith(field), (name, answer)
    # Raw UTF-8 for a surrogate is not UTF-8 at all: not JSON (a hook URL takes a body that
    # is not JSON as text, with U+FFFD for what does not decode).
    response = client.post(path, data=b'{"probe": "\xed\xa0\x80"}', headers=headers)
    if endpoint == "webhooks.resume_webhook":
        assert response.status_code == 404  # as text, for a hook that does not exist
    else:
        assert (response.status_code, response.get_json()["code"]) == (400, "invalid_json")
    conn = ready.extensions[EXTENSION].db.connection()
    counts = {t: conn.query_one(f"SELECT count(*) AS n FROM {t}")["n"] for t in WORLD}
    assert counts == dict.fromkeys(WORLD, 0)


def test_the_route_list_is_the_url_map() -> None:
    routes = json_routes()
    assert {"runs.trigger_run", "keys.create_key", "runs.resume_hook",
            "world_proxy.create_event", "webhooks.resume_webhook"} <= set(routes)
    assert len(routes) >= 12


@pytest.mark.parametrize("query", [b"workflow=\xed\xa0\x80", b"status=\xff"])
def test_query_strings_that_are_not_utf8_are_400(ready: Any, query: bytes) -> None:
    # gunicorn refuses such a request line itself; another server may pass it on.
    response = ready.test_client().get(
        "/v1/runs", headers=AUTH,
        environ_overrides={"QUERY_STRING": query.decode("latin-1")})
    assert (response.status_code, response.get_json()["code"]) == (400, "invalid_request")


def test_depth_and_strings_within_the_limits_are_stored(ready: Any) -> None:
    client = ready.test_client()
    deep = {"probe": json.loads(nested(MAX_BODY_DEPTH - 3))}  # the body: {, args, {
    response = client.post("/v1/runs", json={"workflowName": "checkout", "args": [deep],
                                             "kwargs": {"emoji": "\U0001f600"}},
                           headers={**AUTH, "Idempotency-Key": "fits"})
    assert response.status_code == 202, response.get_json()


# -- through gunicorn, on both databases -------------------------------------------------
SURROGATE = "\\ud800"


def representative(run_id: str, hook_id: str) -> list[tuple[str, str, str, str]]:
    """(what, path, raw JSON body, field named) for the fields the review found."""
    def event(event_type: str, data: Any, correlation_id: str | None = None,
              levels: int = 0) -> str:
        return raw({"runId": run_id, "eventType": event_type, "correlationId": correlation_id,
                    "eventData": data}, levels)

    trigger, resume = "/v1/runs", "/v1/runs/resume"
    create, streams = "/v1/world/events/create", "/v1/world/streams/write"
    return [
        ("trigger args", trigger, raw({"workflowName": "checkout", "args": ["@S@"]}),
         "args[0]"),
        ("trigger kwargs", trigger, raw({"workflowName": "checkout", "kwargs": {"k": "@S@"}}),
         "kwargs.k"),
        ("trigger kwargs name", trigger,
         raw({"workflowName": "checkout", "kwargs": {"@S@": 1}}), "kwargs.\\ud800"),
        ("trigger workflowName", trigger, raw({"workflowName": "check@S@out"}),
         "workflowName"),
        ("trigger nested 600", trigger, raw({"workflowName": "checkout", "args": "@N@"}, 600),
         "args"),
        ("key name", "/v1/keys", raw({"name": "@S@", "scopes": ["admin"]}), "name"),
        ("resume payload", resume, raw({"token": "t", "payload": ["@S@"]}), "payload[0]"),
        ("resume token", resume, raw({"token": "@S@"}), "token"),
        ("resume nested 950", resume, raw({"token": "t", "payload": "@N@"}, 949), "payload"),
        ("step name", create, event("step_created", {"seq": 1, "stepName": "@S@"}),
         "eventData.stepName"),
        ("hook token", create, event("hook_created", {"seq": 1, "token": "@S@"}),
         "eventData.token"),
        ("hook payload", create, event("hook_received", {"payload": "@S@"}, hook_id),
         "eventData.payload"),
        ("event data nested 700", create, event("step_completed", {"output": "@N@"},
                                                 "step_x", 700), "eventData"),
        ("correlation id", "/v1/world/events/list-by-correlation",
         raw({"correlationId": "@S@"}), "correlationId"),
        ("stream name", streams, raw({"runId": run_id, "name": "@S@", "chunk": 1}), "name"),
        ("stream chunk", streams, raw({"runId": run_id, "chunk": {"x": "@S@"}}), "chunk.x"),
    ]


@pytest.mark.e2e
def test_representative_fields_on_the_real_worker(start_worker: Callable[..., Any],
                                                  make_database: Callable[..., Any]) -> None:
    worker = start_worker(workers=1)
    database = make_database("worker.db")
    activate_recorded_deployment(database)
    api = requests.Session()
    api.headers.update({**AUTH, "Content-Type": "application/json"})
    run = api.post(f"{worker.url}/v1/world/events/create",
                   data='{"eventType": "run_created", "eventData": {"workflowName": "checkout"}}')
    run_id = run.json()["run"]["id"]
    hook = api.post(f"{worker.url}/v1/world/events/create", data=json.dumps({
        "runId": run_id, "eventType": "hook_created", "eventData": {"seq": 1, "token": "h"}}))
    hook_id = hook.json()["hook"]["id"]
    before = row_counts(database, WORLD)

    for index, (what, path, body, field) in enumerate(representative(run_id, hook_id)):
        response = api.post(f"{worker.url}{path}", data=body.encode(),
                            headers={"Idempotency-Key": f"probe-{index}"})
        answer = response.json()
        assert (response.status_code, answer["code"]) == (400, "invalid_request"), \
            (what, answer)
        assert list(answer["fields"]) == [field], (what, answer)
    for query in ("/v1/runs?workflow=%ED%A0%80", "/v1/audit?correlation_id=%ED%A0%80",
                  "/v1/world/streams/read?runId=" + run_id + "&name=%ED%A0%80"):
        response = api.get(f"{worker.url}{query}")
        assert response.status_code == 200, (query, response.text)  # read literally

    assert row_counts(database, WORLD) == before
    assert api.get(f"{worker.url}/v1/health").status_code == 200
