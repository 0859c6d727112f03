"""Who owns a claim, and when that owner is certainly dead.

A claim is owned by (node, pid). The node is ``host/machine/token``: the host name (for
people), the machine (this kernel's boot and the process's pid namespace, read from
``/proc``) and a random token drawn per gunicorn master or local world. Two owners with the
same host and machine parts run in the same pid namespace of the same running kernel, so
there a pid names one live process: a claim whose pid is no longer alive (or is a zombie) is
certainly abandoned, and any process of that machine may release it at once instead of
waiting for its lease. (A pid reused by a new process meanwhile looks alive: its claims are
left to their lease, which is safe.)

Containers that share a host name but not a pid namespace, other machines, and owners
written without a machine part (older nodes) never match, so their claims are never
touched. Where ``/proc`` cannot be read (macOS, Windows, a locked-down sandbox) the machine
is ``?``, which matches nothing: such processes rely on releasing at exit and on leases.
"""

from __future__ import annotations

import os
import secrets
import socket

UNKNOWN_MACHINE = "?"


def machine_id() -> str:
    """This kernel's boot and this process's pid namespace (``?`` when unknown)."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as handle:
            boot = handle.read().strip().replace("-", "")[:12]
        namespace = os.readlink("/proc/self/ns/pid")  # "pid:[4026531836]"
    except OSError:
        return UNKNOWN_MACHINE
    inode = namespace.partition("[")[2].rstrip("]")
    if not boot or not inode.isdigit():
        return UNKNOWN_MACHINE
    return f"{boot}.{inode}"


def node_id() -> str:
    """A new owner identity for claims: ``host/machine/token`` (see the module docstring)."""
    return f"{socket.gethostname()}/{machine_id()}/{secrets.token_hex(4)}"


def _machine(node: str) -> str | None:
    """The ``host/machine`` part of a node, or None when it names no known machine."""
    parts = node.split("/")
    if len(parts) != 3 or parts[1] == UNKNOWN_MACHINE:
        return None
    return f"{parts[0]}/{parts[1]}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    except OSError:
        return True  # cannot tell: assume alive
    try:  # a zombie (killed, not yet reaped by its parent) holds nothing any more
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rpartition(")")[2].split()[:1] != ["Z"]
    except OSError:
        return True


def certainly_dead(node: str | None, pid: int | None, own_node: str) -> bool:
    """Whether the claim owner (``node``, ``pid``) is a process of our machine that no
    longer lives. False whenever that cannot be known for sure."""
    if node is None or pid is None or pid == os.getpid():
        return False  # unowned, or this process's (it may run several executors)
    machine = _machine(node)
    if machine is None or machine != _machine(own_node):
        return False
    return not _alive(pid)
