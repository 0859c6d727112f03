"""World-proxy client mistakes the review found answered with 500: 400 now."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.both_backends


@pytest.mark.parametrize("cursor", ["²", str(2**64)])
def test_unusable_cursors_are_400(proxy, cursor):
    run_id = proxy.new_run()
    response = proxy.post("/v1/world/events/list", {"runId": run_id, "cursor": cursor})
    assert (response.status_code, response.get_json()["code"]) == (400, "invalid_request")


def test_bad_hook_metadata_is_refused_and_reads_keep_working(proxy):
    run_id = proxy.new_run()
    proxy.event(run_id, "run_started")
    bad = proxy.event(run_id, "hook_created", token="tok-bad", seq=1, metadata={"$uuid": "nope"})
    assert bad.status_code == 400
    good = proxy.event(run_id, "hook_created", token="tok-good", seq=2, metadata={"k": "v"})
    assert good.status_code == 201, good.get_json()
    listed = proxy.post("/v1/world/hooks/list", {"runId": run_id})
    assert listed.status_code == 200
    assert [h["token"] for h in listed.get_json()["data"]] == ["tok-good"]
