"""No mutable module-level state in the engine, storage and worker packages: per-process
machinery lives in the ``Runtime`` (or the object that owns it), so two apps in one
process never share it and each can be tested on its own.

The scan is of the source (AST): a ``global`` statement anywhere, or a module-level
assignment of a mutable container or of a lock, thread-local, event or counter. Constant
tables are tuples, frozensets or ``types.MappingProxyType``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import workflow_studio

PACKAGES = ("engine", "storage", "worker")
MUTABLE_CALLS = frozenset({
    "dict", "list", "set", "bytearray", "defaultdict", "OrderedDict", "Counter", "deque",
    "Lock", "RLock", "local", "Event", "Condition", "Semaphore", "BoundedSemaphore",
    "WeakKeyDictionary", "WeakValueDictionary", "WeakSet", "count", "Queue",
})
# (module, name): why it must be process-wide.
ALLOWED = {
    ("workflow_studio/worker/deployments/loader.py", "IMPORT_LOCK"):
        "guards sys.modules and sys.path, which are process-wide themselves",
}
# Modules whose variables are read as settings by another program.
SETTINGS_MODULES = {
    "workflow_studio/worker/gunicorn_conf.py": "gunicorn's config file format: `bind` is a "
                                               "list, `logconfig_dict` a dict",
}
ROOT = Path(workflow_studio.__file__).parent


def _called_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Name):
            return func.id
        if isinstance(func, ast.Attribute):
            return func.attr
    return None


def _mutable(value: ast.expr | None) -> bool:
    if value is None:
        return False
    if isinstance(value, ast.Dict | ast.List | ast.Set | ast.DictComp | ast.ListComp
                  | ast.SetComp):
        return True
    return _called_name(value) in MUTABLE_CALLS


def _targets(node: ast.stmt) -> list[str]:
    if isinstance(node, ast.Assign):
        return [t.id for t in node.targets if isinstance(t, ast.Name)]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    return []


def findings(path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text(), str(path))
    relative = f"workflow_studio/{path.relative_to(ROOT).as_posix()}"
    if relative in SETTINGS_MODULES:
        return
    for node in ast.walk(tree):
        if isinstance(node, ast.Global):
            yield f"{relative}:{node.lineno}: global {', '.join(node.names)}"
    for node in tree.body:
        value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
        for name in _targets(node):
            if name != "__all__" and _mutable(value) and (relative, name) not in ALLOWED:
                yield f"{relative}:{node.lineno}: module-level mutable {name}"


def test_the_scan_finds_what_it_looks_for(tmp_path: Path) -> None:
    sample = ROOT / "engine" / "_scan_sample.py"
    try:
        sample.write_text("import threading\n_cache: dict[str, int] = {}\n"
                          "_lock = threading.Lock()\nTABLE = (1, 2)\n"
                          "def f():\n    global _cache\n")
        found = list(findings(sample))
    finally:
        sample.unlink()
    assert [f.split(": ", 1)[1] for f in found] == [
        "global _cache", "module-level mutable _cache", "module-level mutable _lock"]


def test_no_mutable_module_level_state() -> None:
    found = [f for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))
             for f in findings(path)]
    assert found == [], "\n".join(found)
