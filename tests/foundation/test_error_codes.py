"""Every error code is bound to one HTTP status, has its runbook action, and agrees with the
README and with every raise site in the source."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path

import pytest
from flask import Blueprint, abort

import workflow_studio
from workflow_studio.client import errors as client_errors
from workflow_studio.compute import errors
from workflow_studio.compute.errors import (
    GENERIC_CODE_BY_STATUS,
    ErrorCode,
    RunErrorCode,
    code_for_status,
    runbook_action,
)
from workflow_studio.worker import create_app
from workflow_studio.worker.errors import ApiError
from workflow_studio.worker.security import public

PACKAGE = Path(workflow_studio.__file__).parent
README = Path(__file__).resolve().parents[2] / "README.md"



def test_every_error_code_has_one_http_error_status():
    for code in ErrorCode:
        assert isinstance(code.status, int) and not isinstance(code.status, bool), code
        assert 400 <= HTTPStatus(code.status) < 600, code
        assert ErrorCode(code.value) is code


def test_run_error_codes_are_not_http_answers():
    for code in RunErrorCode:
        assert not hasattr(code, "status"), code
    # A name that is both keeps one string, so the engine and the API speak alike.
    assert RunErrorCode.UNKNOWN_WORKFLOW == ErrorCode.UNKNOWN_WORKFLOW


def test_generic_codes_answer_their_own_status():
    assert len(GENERIC_CODE_BY_STATUS) == len(errors._GENERIC_CODES), "two share a status"
    for status, code in GENERIC_CODE_BY_STATUS.items():
        assert code.status == status
        assert code_for_status(status) is code
    with pytest.raises(TypeError):
        GENERIC_CODE_BY_STATUS[418] = ErrorCode.CONFLICT  # type: ignore[index]
    assert code_for_status(416) is ErrorCode.INVALID_REQUEST
    assert code_for_status(503) is ErrorCode.INTERNAL_ERROR


def test_runbook_entries_name_real_codes():
    known = {c.value for c in ErrorCode} | {c.value for c in RunErrorCode}
    assert set(errors._RUNBOOK) <= known
    with pytest.raises(TypeError):
        errors._RUNBOOK["x"] = "y"  # type: ignore[index]


def _trees() -> Iterator[tuple[Path, ast.AST]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _calls(name: str) -> Iterator[tuple[str, ast.Call]]:
    for path, tree in _trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                if called == name:
                    yield f"{path.relative_to(PACKAGE.parent)}:{node.lineno}", node


def test_runbook_has_an_action_for_every_code_the_source_asks_about():
    asked = [(where, call.args[0].value) for where, call in _calls("runbook_action")
             if call.args and isinstance(call.args[0], ast.Constant)]
    assert asked, "the scan found no runbook_action('...') calls"
    assert [(w, c) for w, c in asked if runbook_action(c) is None] == []


def _error_code_named(node: ast.expr) -> ErrorCode | str | None:
    """The ErrorCode a literal argument names (``ErrorCode.X`` or ``"x"``); the bad name as a
    string when it names none; None when the argument is not a literal."""
    if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
            and node.value.id == "ErrorCode"):
        return ErrorCode.__members__.get(node.attr, f"ErrorCode.{node.attr}")
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return ErrorCode._value2member_map_.get(node.value, node.value)  # type: ignore[return-value]
    if isinstance(node, ast.Dict):  # Reply(409, {"code": "...", ...}) and the like
        for key, value in zip(node.keys, node.values, strict=True):
            if isinstance(key, ast.Constant) and key.value == "code":
                return _error_code_named(value)
    return None


def _status_code_pairs() -> Iterator[tuple[str, int, ErrorCode | str]]:
    """Every call in the package shaped ``f(<int status>, <code literal>, ...)``."""
    for path, tree in _trees():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and len(node.args) >= 2):
                continue
            first = node.args[0]
            if not (isinstance(first, ast.Constant) and type(first.value) is int
                    and 400 <= first.value < 600):
                continue
            code = _error_code_named(node.args[1])
            if code is not None:
                yield f"{path.relative_to(PACKAGE.parent)}:{node.lineno}", first.value, code


def test_every_status_given_with_a_code_in_the_source_is_that_codes_status():
    pairs = list(_status_code_pairs())
    assert len(pairs) >= 3, "the scan found too few (status, code) calls"
    unknown = [(where, code) for where, _, code in pairs if not isinstance(code, ErrorCode)]
    assert unknown == [], "codes missing from workflow_studio.compute.errors"
    wrong = [(where, status, f"{code.value} is {code.status}") for where, status, code in pairs
             if isinstance(code, ErrorCode) and status != code.status]
    assert wrong == []


def test_api_error_calls_name_real_codes():
    seen = 0
    for where, call in _calls("ApiError"):
        args = call.args
        assert not (args and isinstance(args[0], ast.Constant)
                    and type(args[0].value) is int), (where, "the status comes from the code")
        code = _error_code_named(args[0]) if args else None
        assert code is None or isinstance(code, ErrorCode), (where, code)
        seen += 1
    assert seen > 20, "the scan found too few ApiError calls"


def _readme_runbook() -> list[tuple[int, str]]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Errors and the failure runbook", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    pairs = []
    for row in rows:
        symptom = row.split("|")[1]
        pairs += [(int(s), c) for s, c in re.findall(r"\b(\d{3}) `([a-z_]+)`", symptom)]
    return pairs


def test_readme_runbook_lists_each_code_with_its_status_both_ways():
    listed = _readme_runbook()
    assert len(listed) >= 10, "the README's runbook table was not found"
    for status, name in listed:
        code = ErrorCode._value2member_map_.get(name)
        assert code is not None, f"README lists {name!r}, which is not an ErrorCode"
        assert (status, name) == (code.status, name)  # type: ignore[attr-defined]
        assert runbook_action(name), f"README lists {name!r} but the runbook has no action"
    documented = {name for _, name in listed}
    with_action = {c.value for c in ErrorCode if runbook_action(c) is not None}
    assert with_action == documented


def test_client_classes_are_keyed_by_error_codes():
    assert set(client_errors._BY_CODE) <= {c.value for c in ErrorCode}
    for code in ErrorCode:
        error = client_errors.error_from_response(code.status, {"code": code.value,
                                                                "message": "m"}, None)
        assert (error.code, error.status) == (code.value, code.status)


def test_api_error_looks_up_the_status():
    error = ApiError(ErrorCode.NO_ACTIVE_DEPLOYMENT, "none", {"X-A": "1"}, hint=2)
    assert (error.status, error.code, error.message) == (409, "no_active_deployment", "none")
    assert error.headers == {"X-A": "1"} and error.extra == {"hint": 2}
    assert ApiError("invalid_manifest", "m", headers={"X-B": "2"}).status == 400
    assert ApiError("invalid_manifest", "m", headers={"X-B": "2"}).headers == {"X-B": "2"}
    with pytest.raises(ValueError, match="not an ErrorCode"):
        ApiError("no_such_code", "m")


def test_a_status_cannot_be_given_beside_the_code():
    with pytest.raises(ValueError, match="400 is not an ErrorCode"):
        ApiError(400, ErrorCode.NO_ACTIVE_DEPLOYMENT, "none")  # type: ignore[arg-type]


@pytest.mark.parametrize(("raised", "status", "code"), [
    (400, 400, "invalid_request"),
    (409, 409, "conflict"),
    (416, 400, "invalid_request"),  # no generic code of its own: the 400 family's
    (503, 500, "internal_error"),
])
def test_werkzeug_errors_answer_with_the_codes_status(make_settings, raised, status, code):
    app = create_app(make_settings())
    views = Blueprint("aborts", __name__)

    @views.get("/v1/abort")
    @public
    def aborting():
        abort(raised)

    app.register_blueprint(views)
    response = app.test_client().get("/v1/abort")
    assert (response.status_code, response.json["code"]) == (status, code)
