"""When a claim's owner counts as certainly dead: only a process of our own host name,
kernel boot and pid namespace whose pid is gone. Anything else keeps its claims."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from workflow_studio.engine.owners import certainly_dead, machine_id, node_id


@pytest.fixture
def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.mark.skipif(machine_id() == "?", reason="no /proc: no owner is ever judged dead")
def test_only_a_dead_process_of_this_machine_is_dead(dead_pid: int) -> None:
    ours = node_id()
    host, machine, _ = ours.split("/")
    assert host == socket.gethostname() and machine == machine_id()
    sibling = f"{host}/{machine}/0badc0de"  # another master or local world, same machine
    assert certainly_dead(sibling, dead_pid, ours)
    assert certainly_dead(ours, dead_pid, ours)  # a dead process of our own gunicorn master
    assert not certainly_dead(sibling, os.getppid(), ours)  # alive
    assert not certainly_dead(sibling, os.getpid(), ours)  # this process (other executor)
    boot, namespace = machine.split(".")
    for other in (f"{host}/{boot}.1/0badc0de",        # another pid namespace (container)
                  f"{host}/000000000000.{namespace}/0badc0de",  # another boot or machine
                  f"other-{host}/{machine}/0badc0de",  # another host name
                  f"{host}/?/0badc0de", f"{host}/0badc0de", host):  # unknown, older nodes
        assert not certainly_dead(other, dead_pid, ours), other
    assert not certainly_dead(None, None, ours)
