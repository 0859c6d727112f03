"""The tiny workflow project the contract tests deploy: the workflows the OpenAPI
document's examples name (``checkout``, a hook token ``approve-42``), safe with any
argument schemathesis sends (a wrong one fails the run, it never blocks a slot)."""

from __future__ import annotations

from pathlib import Path

from tests.deployments.helpers import write_project
from workflow_studio.builder.project import BuildResult, build_project

SOURCE = '''
import workflow_studio as ws


@ws.step
def charge(order_id):
    ws.get_writable("log").write({"charging": order_id})
    return {"order": order_id, "charged": True}


@ws.workflow
def checkout(order_id=0):
    return charge(order_id)


@ws.workflow
def approval(token="approve-42"):
    return {"approved": ws.create_hook(token=str(token)).wait()}
'''


def build(root: Path) -> BuildResult:
    config = write_project(root, {"contract_app/__init__.py": "",
                                  "contract_app/flows.py": SOURCE}, ["contract_app.flows"])
    return build_project(str(config), root / "out")
