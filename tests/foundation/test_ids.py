"""Ids: unique across forked processes and whatever workflow code does to ``random``."""

from __future__ import annotations

import os
import random

from workflow_studio.compute.ids import new_id, parse_id


def test_ids_are_well_formed_and_ordered_by_time() -> None:
    ids = [new_id("wrun") for _ in range(1000)]
    assert all(parse_id(i, "wrun") == i for i in ids)
    assert len(set(ids)) == 1000
    assert [i[5:15] for i in ids] == sorted(i[5:15] for i in ids)  # the time part


def test_seeding_the_global_random_does_not_repeat_ids() -> None:
    random.seed(7)
    first = new_id("evnt")
    random.seed(7)
    assert new_id("evnt")[15:] != first[15:]


def test_a_forked_child_does_not_repeat_its_parents_ids() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, to the parent
        os.write(write, " ".join(new_id("msg") for _ in range(50)).encode())
        os._exit(0)
    os.close(write)
    mine = {new_id("msg")[14:] for _ in range(50)}
    with os.fdopen(read) as pipe:
        theirs = {i[14:] for i in pipe.read().split()}
    os.waitpid(pid, 0)
    assert len(theirs) == 50
    assert not mine & theirs
