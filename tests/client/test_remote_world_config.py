"""A remote world that is missing its URL or key says which variable to set."""

from __future__ import annotations

import pytest

import workflow_studio as ws
from workflow_studio.client.errors import ComputeClientError

REMOTE = "workflow-studio/world-remote"


@pytest.mark.parametrize(("env", "missing"), [
    ({}, "WORKFLOW_COMPUTE_BASE_URL"),
    ({"WORKFLOW_COMPUTE_BASE_URL": "http://127.0.0.1:9"}, "WORKFLOW_COMPUTE_API_KEY"),
    ({"WORKFLOW_COMPUTE_API_KEY": "wsk_x_0123456789"}, "WORKFLOW_COMPUTE_BASE_URL"),
    ({"WORKFLOW_COMPUTE_BASE_URL": " ", "WORKFLOW_COMPUTE_API_KEY": "k"},
     "WORKFLOW_COMPUTE_BASE_URL"),
])
def test_missing_variable_is_named(monkeypatch, env, missing):
    monkeypatch.setenv("WORKFLOW_TARGET_WORLD", REMOTE)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ComputeClientError) as info:
        ws.start("anything")
    assert info.value.code == "invalid_configuration"
    assert missing in str(info.value)
