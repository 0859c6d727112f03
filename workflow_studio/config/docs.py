"""The README's settings tables, generated from ``config.table`` so the docs cannot drift.

``python -m workflow_studio.config.docs README.md`` rewrites the tables between their
``<!-- BEGIN ... -->`` / ``<!-- END ... -->`` markers; a test fails when they are stale.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from workflow_studio.config.local_world import LOCAL_WORLD_ENV
from workflow_studio.config.table import OTHER_ENV, SETTINGS

_MIB = 1024 * 1024


def show_default(value: object) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, tuple | dict) and not value:
        return "none"
    if isinstance(value, tuple):
        return ", ".join(f"`{item}`" for item in value)
    if isinstance(value, int) and value >= _MIB and value % _MIB == 0:
        return f"`{value}` ({value // _MIB} MiB)"
    if isinstance(value, float):
        return f"`{value:g}`"
    return f"`{value}`"


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def env_table() -> str:
    """Every variable the worker reads: the settings that have one (``PORT`` first, then by
    name), then the others."""
    with_env = sorted((s for s in SETTINGS if s.env), key=lambda s: (s.env != "PORT", s.env))
    rows = [(f"`{s.env}`", f"`{s.path}`", s.kind.doc, show_default(s.default), s.doc)
            for s in with_env]
    rows += [(f"`{v.name}`", f"adds to `{v.adds_to}`" if v.adds_to else "", "", "", v.doc)
             for v in OTHER_ENV]
    return _table(("variable", "setting", "type", "default", "meaning"), rows)


def settings_table() -> str:
    """Every setting: where it goes in the file, its option name and its variable."""
    rows = [(f"`{s.path}`", f"`{s.option}`", f"`{s.env}`" if s.env else "", s.kind.doc,
             show_default(s.default), s.doc) for s in SETTINGS]
    return _table(("in `define_config`", "option", "variable", "type", "default", "meaning"),
                  rows)


def local_world_table() -> str:
    """The variables of an app's embedded local world (``config.local_world``)."""
    rows = [(f"`{s.env}`", s.kind.doc, show_default(s.default), s.doc) for s in LOCAL_WORLD_ENV]
    return _table(("variable", "type", "default", "meaning"), rows)


TABLES: tuple[tuple[str, Callable[[], str]], ...] = (
    ("settings-env", env_table), ("settings-all", settings_table),
    ("local-world-env", local_world_table))


def update_readme(text: str) -> str:
    """``text`` with each generated table replaced by its current rendering."""
    for name, render in TABLES:
        begin, end = f"<!-- BEGIN {name} -->\n", f"<!-- END {name} -->"
        start, stop = text.find(begin), text.find(end)
        if start < 0 or stop < start:
            raise ValueError(f"README has no {begin.strip()} ... {end} block")
        text = text[:start + len(begin)] + render() + "\n" + text[stop:]
    return text


def main(argv: list[str]) -> int:
    for name in argv or ["README.md"]:
        path = Path(name)
        path.write_text(update_readme(path.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
