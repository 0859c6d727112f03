"""The published contract: ``GET /v1/openapi.json`` is valid OpenAPI 3.1, documents every
route the app registers (with the scope its view declares), and ``workflow-studio openapi``
prints the same document."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from click.testing import CliRunner
from openapi_spec_validator import validate

from workflow_studio.cli import cli
from workflow_studio.compute.errors import ErrorCode
from workflow_studio.worker.openapi import (
    UNDOCUMENTED,
    UNDOCUMENTED_ENDPOINTS,
    build_document,
    document,
    openapi_path,
)
from workflow_studio.worker.openapi.operations import OPERATIONS

METHODS = ("get", "post", "put", "patch", "delete")


def operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(method.upper(), path): op for path, item in doc["paths"].items()
            for method, op in item.items() if method in METHODS}


def rules(app: Any) -> list[Any]:
    return [r for r in app.url_map.iter_rules() if r.endpoint not in UNDOCUMENTED_ENDPOINTS]


def test_the_document_is_valid_openapi_3_1(app: Any) -> None:
    doc = document(app)
    assert doc["openapi"] == "3.1.0"
    validate(doc)  # openapi-spec-validator, against the 3.1 meta-schema


def test_every_route_has_a_documented_operation(app: Any) -> None:
    """A route added without an entry in worker/openapi/operations.py fails here."""
    documented = operations(document(app))
    missing = []
    for rule in rules(app):
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            op = documented.get((method, openapi_path(rule)))
            if op is None or op.get(UNDOCUMENTED):
                missing.append(f"{method} {rule.rule} ({rule.endpoint})")
    assert not missing, ("routes without a documented operation; describe them in "
                         f"workflow_studio/worker/openapi/operations.py: {missing}")
    assert len(documented) == sum(len((r.methods or set()) - {"HEAD", "OPTIONS"})
                                  for r in rules(app))


def test_every_documented_endpoint_exists(app: Any) -> None:
    endpoints = {r.endpoint for r in rules(app)}
    assert set(OPERATIONS) <= endpoints, set(OPERATIONS) - endpoints


def test_an_undocumented_route_is_published_and_flagged(app: Any) -> None:
    """The generator cannot drop a route: one without an entry still appears, marked."""
    app.add_url_rule("/v1/brand-new/<thing_id>", "brand_new.get", lambda thing_id: {})
    op = operations(build_document(app))[("GET", "/v1/brand-new/{thing_id}")]
    assert op[UNDOCUMENTED] is True
    assert op["security"] == [{"apiKey": ["admin"]}]  # undeclared views need admin
    assert op["parameters"][0]["name"] == "thing_id"


def test_security_follows_the_views_marks(app: Any) -> None:
    ops = operations(document(app))
    for rule in rules(app):
        view = app.view_functions[rule.endpoint]
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            op = ops[(method, openapi_path(rule))]
            if getattr(view, "public", False):
                assert op["security"] == [], rule.rule
                assert "unauthorized" not in json.dumps(op["responses"]), rule.rule
                continue
            scope = getattr(view, "required_scope", "admin")
            assert op["security"] == [{"apiKey": [scope] if scope else []}], rule.rule
            assert {"401", "429"} <= set(op["responses"]), rule.rule
    assert ops[("POST", "/v1/runs")]["x-required-scope"] == "trigger:write"
    assert ops[("GET", "/v1/health")]["security"] == []
    assert ops[("GET", "/v1/openapi.json")]["security"] == []


def test_error_responses_list_codes_of_their_status(app: Any) -> None:
    """Each documented error status names codes bound to exactly that status."""
    statuses = {code.value: code.status for code in ErrorCode}
    for (method, path), op in operations(document(app)).items():
        for status, response in op["responses"].items():
            if int(status) < 400:
                continue
            codes = response["content"]["application/json"]["schema"]["allOf"][1][
                "properties"]["code"]["enum"]
            assert codes and all(statuses[c] == int(status) for c in codes), (method, path)


def test_trigger_documents_its_header_body_and_statuses(app: Any) -> None:
    op = operations(document(app))[("POST", "/v1/runs")]
    header = next(p for p in op["parameters"] if p["in"] == "header")
    assert (header["name"], header["required"]) == ("Idempotency-Key", True)
    assert header["schema"]["maxLength"] == 255
    assert {p["name"] for p in op["parameters"] if p["in"] == "query"} == {"wait"}
    body = op["requestBody"]
    assert body["required"] is True
    assert body["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TriggerRun"}
    assert {"200", "202", "400", "409"} <= set(op["responses"])
    conflict = op["responses"]["409"]["content"]["application/json"]["schema"]["allOf"][1]
    assert {"idempotency_required", "idempotency_conflict", "no_active_deployment"} <= set(
        conflict["properties"]["code"]["enum"])
    upload = operations(document(app))[("POST", "/v1/deployments")]["requestBody"]
    assert set(upload["content"]) == {"multipart/form-data"}


def test_path_parameters_match_the_rules(app: Any) -> None:
    placeholder = re.compile(r"<(?:[^:>]+:)?([^>]+)>")
    ops = operations(document(app))
    for rule in rules(app):
        names = placeholder.findall(rule.rule)
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            params = [p for p in ops[(method, openapi_path(rule))]["parameters"]
                      if p["in"] == "path"]
            assert [p["name"] for p in params] == names, rule.rule
            assert all(p["required"] for p in params)


def test_served_without_a_key_and_cacheable(client: Any, app: Any) -> None:
    response = client.get("/v1/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == json.loads(json.dumps(document(app)))
    assert "public" in response.headers["Cache-Control"]
    assert response.headers["x-workflow-correlation-id"]
    etag = response.headers["ETag"]
    again = client.get("/v1/openapi.json", headers={"If-None-Match": etag})
    assert (again.status_code, again.data) == (304, b"")


def test_cli_prints_and_writes_the_document(app: Any, tmp_path: Any) -> None:
    runner = CliRunner()
    printed = runner.invoke(cli, ["openapi"], catch_exceptions=False)
    assert printed.exit_code == 0
    assert json.loads(printed.output) == json.loads(json.dumps(document(app)))
    target = tmp_path / "openapi.json"
    written = runner.invoke(cli, ["openapi", "--output", str(target)], catch_exceptions=False)
    assert written.exit_code == 0
    assert json.loads(target.read_text()) == json.loads(printed.output)


@pytest.mark.e2e
def test_a_real_worker_serves_it(worker: Any, http: Any) -> None:
    response = http.get(f"{worker.url}/v1/openapi.json", timeout=10)
    assert response.status_code == 200
    validate(response.json())
