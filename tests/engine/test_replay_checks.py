"""A replay that diverges from the log is non-determinism, however it diverges (issue 14,
item 6).

Found as an app developer would: a run parks (on a hook); the workflow's code changes before
it resumes (another process with another version of the module, or workflow code reading a
file on the worker). A recorded step called with other arguments used to return its old
result, and a workflow that now returns before the positions its log recorded used to
complete. Both fail the run with ``nondeterministic_replay`` naming the step and position,
unless the step opted out of the argument check (``@step(check_args=False)``). Equal
arguments never mismatch (dicts built in another order), nor do steps recorded before
digests existed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import workflow_studio as ws
from tests.conftest import ADMIN_KEY
from tests.deployments.helpers import write_project
from tests.engine import flows, replay_flows
from tests.engine.e2e_project import wait_for
from tests.engine.local_processes import finish, spawn
from tests.engine.test_e2e import finished, parked_on
from workflow_studio.builder.project import build_project
from workflow_studio.client import ComputeClient
from workflow_studio.compute import payloads
from workflow_studio.engine.log import call_json
from workflow_studio.sdk import RunFailedError

SHOP = '''
import workflow_studio as ws

VERSION = {version!r}


@ws.step
def charge(order, amount):
    return f"charged {{amount}} for {{order}}"


@ws.step(check_args=False)  # its stamp may differ on replay: the recorded result stands
def notify(order, stamp):
    return f"notified {{order}} at {{stamp}}"


@ws.workflow
def checkout(order, change):
    changed = VERSION == "B"
    receipt = charge(order, 20 if changed and change == "amount" else 10)
    if changed and change == "early":
        return {{"receipt": receipt}}
    note = notify(order, f"stamp-{{VERSION}}")
    ws.create_hook(token=f"go-{{order}}").wait()
    return {{"receipt": receipt, "note": note}}
'''

FIRST = """
import time

import workflow_studio as ws
import shop_a

runs = [ws.start(shop_a.checkout, f"o-{change}", change) for change in
        ("amount", "stamp", "early")]
deadline = time.monotonic() + 20
for run in runs:
    while (run.info()["waitingOn"] or {}).get("type") != "hook":
        assert time.monotonic() < deadline, run.info()
        time.sleep(0.01)
print(" ".join(run.id for run in runs))
"""  # and exits while the runs wait

SECOND = """
import json
import sys

import workflow_studio as ws
import shop_b

for change in ("amount", "stamp", "early"):
    ws.resume_hook(f"go-o-{change}", None)  # and this process executes from now on
for run_id in sys.argv[1:]:
    run = ws.get_run(run_id)
    try:
        print(json.dumps({"output": run.result(timeout=20)}))
    except ws.RunFailedError as exc:
        print(json.dumps({"error": exc.error}))
"""


def test_changed_code_is_nondeterminism_on_the_local_world(tmp_path: Path) -> None:
    (tmp_path / "shop_a.py").write_text(SHOP.format(version="A"))
    (tmp_path / "shop_b.py").write_text(SHOP.format(version="B"))
    ids = finish(spawn(tmp_path, FIRST)).split()
    amount, stamp, early = (json.loads(line) for line in
                            finish(spawn(tmp_path, SECOND, *ids), 60).splitlines())

    assert amount["error"]["code"] == "nondeterministic_replay"
    assert amount["error"]["message"].startswith(
        "non-deterministic replay at position 1: the workflow called step 'charge' with "
        "other arguments than the log recorded")
    assert "check_args=False" in amount["error"]["message"]

    assert stamp == {"output": {"receipt": "charged 10 for o-stamp",
                                "note": "notified o-stamp at stamp-A"}}

    assert early["error"]["code"] == "nondeterministic_replay"
    assert early["error"]["message"] == (
        "non-deterministic replay: the workflow returned after position 1 but the log "
        "recorded step 'notify' at position 2 (of 3)")


@pytest.mark.parametrize(("args", "kwargs"), [
    ((), {}), ((1, "two", None, True, -(10**30)), {}), (("é \u2028 \"q\"\n\x00",), {"k": 1}),
    ((1,), {"b": "x", "a": False}), ((1.5, (2,), [3], {"$x": 1}), {}), ((), {"$x": 1})])
def test_a_replay_writes_the_arguments_as_they_were_stored(args: tuple[Any, ...],
                                                          kwargs: dict[str, Any]) -> None:
    """The digest a replay computes is over the same text the first execution stored
    (plain values skip the tagging walk, ``log.call_json``)."""
    stored = payloads.dumps({"args": args, "kwargs": kwargs}, "step arguments")
    assert call_json(args, kwargs, None) == stored


def on_hook(run: ws.Run[Any]) -> bool:
    return (run.info()["waitingOn"] or {}).get("type") == "hook"


@pytest.mark.both_backends
def test_equal_arguments_built_in_another_order_are_the_same_call(world: Any) -> None:
    run = ws.start(replay_flows.rc_reordered_flow, "rc-reorder")
    wait_for(lambda: on_hook(run))
    flows.switches["reorder"] = True  # the replay builds its dicts in another order
    ws.resume_hook("rc-reorder", None)
    value, options = run.result(10)
    assert list(value) == ["a", "b", "c"] and options == {"a": 1, "b": 1, "c": 1}
    assert flows.calls["rc_echo"] == 1


@pytest.mark.both_backends
def test_a_step_recorded_without_a_digest_never_mismatches(world: Any) -> None:
    checked = ws.start(replay_flows.rc_changed_flow, "rc-checked")
    legacy = ws.start(replay_flows.rc_changed_flow, "rc-legacy")
    wait_for(lambda: on_hook(checked) and on_hook(legacy))
    with world.db.connection().transaction() as conn:  # as recorded before migration 0008
        conn.execute("UPDATE workflow_steps SET args_digest = NULL WHERE run_id = ?",
                     (legacy.id,))
    flows.switches["change"] = True
    ws.resume_hook("rc-legacy", None)
    ws.resume_hook("rc-checked", None)
    assert legacy.result(10) == [1, {}]
    with pytest.raises(RunFailedError) as failed:
        checked.result(10)
    assert failed.value.code == "nondeterministic_replay"
    assert failed.value.error["message"].startswith(
        "non-deterministic replay at position 1: the workflow called step 'rc_echo' with "
        'other arguments than the log recorded (now {"args":{"$tuple":[2]},"kwargs":{}}, '
        'recorded {"args":{"$tuple":[1]},"kwargs":{}})')


DRIFTING = '''
from pathlib import Path

import workflow_studio as ws


@ws.step
def charge(amount):
    return f"charged {amount}"


@ws.step
def ship():
    return "shipped"


@ws.workflow
def drifting(directory):
    # Workflow code that reads a file is not deterministic: the test edits it meanwhile.
    receipt = charge(int(Path(directory, "amount").read_text()))
    if Path(directory, "early").exists():
        return receipt
    shipped = ship()
    ws.create_hook(token=Path(directory).name).wait()
    return [receipt, shipped]
'''


@pytest.mark.e2e
@pytest.mark.both_backends
def test_a_diverging_replay_is_nondeterminism_on_the_worker(tmp_path: Path,
                                                            worker: Any) -> None:
    remote = ComputeClient(worker.url, ADMIN_KEY)
    config = write_project(tmp_path / "project", {"drift_app/__init__.py": "",
                                                  "drift_app/flows.py": DRIFTING},
                           ["drift_app.flows"])
    built = build_project(str(config), tmp_path / "out")
    deployment = remote.create_deployment(built.manifest_path, built.artifact_path)
    remote.activate_deployment(deployment["id"])
    directories = {name: tmp_path / name for name in ("amount", "early", "same")}
    started = {}
    for name, directory in directories.items():
        directory.mkdir()
        (directory / "amount").write_text("10")
        started[name] = remote.trigger_run("drifting", [str(directory)])["id"]
    for name in started:
        wait_for(lambda name=name: parked_on(remote, started[name], "hook"))
    (directories["amount"] / "amount").write_text("20")
    (directories["early"] / "early").touch()
    for name in started:
        remote.resume_hook(name, None)

    amount = finished(remote, started["amount"])["error"]
    assert amount["code"] == "nondeterministic_replay"
    assert amount["message"].startswith(
        "non-deterministic replay at position 1: the workflow called step 'charge' with "
        'other arguments than the log recorded (now {"args":{"$tuple":[20]},"kwargs":{}}, '
        'recorded {"args":{"$tuple":[10]},"kwargs":{}})')
    early = finished(remote, started["early"])["error"]
    assert early["code"] == "nondeterministic_replay"
    assert "returned after position 1 but the log recorded step 'ship' at position 2" in (
        early["message"])
    assert finished(remote, started["same"])["output"] == ["charged 10", "shipped"]
