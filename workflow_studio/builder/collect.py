"""Import a project's workflow modules and print what they register, as one JSON line.

Run as ``python -I -B -m workflow_studio.builder.collect ROOT [--path DIR]... MODULE...`` in
a fresh interpreter (each ``--path`` goes on ``sys.path`` right after ROOT: the project's
dependencies, unpacked): ``-I`` ignores PYTHONPATH and the user site, ``-B`` keeps
``__pycache__`` out of the sources, and nothing the user code imports or prints can leak
into the caller. Both the build and the worker's activation check use it, so "it builds"
and "it activates" agree.

Output on stdout: ``{"workflows": [...], "steps": [...], "sources": [...]}`` (exit 0) or
``{"error": {"type", "message", "file", "line"}}`` (exit 2). ``sources`` are the project-relative
paths of the top-level packages or modules that were imported.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

EXIT_IMPORT_ERROR = 2


def _location(exc: BaseException, root: Path) -> tuple[str | None, int | None]:
    """The file and line to blame: the syntax error's, else the deepest frame in the project."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return _relative(exc.filename, root), exc.lineno
    frames = traceback.extract_tb(exc.__traceback__)
    inside = [f for f in frames if _is_under(f.filename, root)]
    chosen = inside[-1] if inside else (frames[-1] if frames else None)
    if chosen is None:
        return None, None
    return _relative(chosen.filename, root), chosen.lineno


def _is_under(filename: str, root: Path) -> bool:
    try:
        Path(filename).resolve().relative_to(root)
        return True
    except ValueError:
        return False


def _relative(filename: str, root: Path) -> str:
    path = Path(filename).resolve()
    return path.relative_to(root).as_posix() if _is_under(filename, root) else str(path)


def _source_of(top: str, root: Path) -> str:
    """The project-relative path of top-level module ``top``; it must live under ``root``."""
    module = sys.modules[top]
    paths = list(getattr(module, "__path__", []) or [])
    where = paths[0] if paths else getattr(module, "__file__", None)
    if not where or not _is_under(where, root):
        raise ImportError(f"module {top!r} is imported from {where or 'nowhere'}, which is "
                          f"outside the project directory {root}")
    return Path(where).resolve().relative_to(root).as_posix()


def collect(root: Path, modules: list[str], paths: list[str] | None = None) -> dict[str, Any]:
    """Import ``modules`` from ``root`` (then ``paths``) inside a fresh registry and describe
    the result."""
    from workflow_studio.authoring.registry import capture

    sys.path[0:0] = [str(root), *(paths or [])]
    with capture() as registry:
        for name in modules:
            importlib.import_module(name)
    sources = sorted({_source_of(name.split(".")[0], root) for name in modules})
    return {"workflows": sorted(registry.workflows), "steps": sorted(registry.steps),
            "sources": sources}


class CollectError(Exception):
    """The modules could not be imported; ``file``/``line`` point at the cause when known."""

    def __init__(self, message: str, file: str | None = None, line: int | None = None,
                 kind: str = "ImportError") -> None:
        super().__init__(message)
        self.message, self.file, self.line, self.kind = message, file, line, kind

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}: " if self.file and self.line else (
            f"{self.file}: " if self.file else "")
        return f"{where}{self.kind}: {self.message}"


def run_collect(root: str | Path, modules: list[str] | tuple[str, ...],
                timeout: float | None = None,
                env: Mapping[str, str] | None = None,
                paths: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """Run the collector in a clean child interpreter; raise ``CollectError`` on failure.
    ``env`` is the child's whole environment (the worker's activation check passes a minimal
    one); ``None`` inherits this process's, as a local build does. ``paths`` follow ``root``
    on the child's ``sys.path`` (a deployment's unpacked dependencies)."""
    # -I: no PYTHONPATH, user site or cwd; the running workflow_studio is appended so a
    # source checkout works too. Equivalent to `python -I -B -m workflow_studio.builder.collect`.
    package_parent = str(Path(__file__).resolve().parents[2])
    bootstrap = (f"import sys; sys.path.append({package_parent!r}); "
                 "from workflow_studio.builder.collect import main; sys.exit(main(sys.argv[1:]))")
    extra = [arg for path in paths for arg in ("--path", str(path))]
    argv = [sys.executable, "-I", "-B", "-c", bootstrap, str(root), *extra, *modules]
    try:
        done = subprocess.run(argv, capture_output=True, timeout=timeout, check=False,
                              cwd=str(root), stdin=subprocess.DEVNULL,
                              env=None if env is None else dict(env))
    except subprocess.TimeoutExpired:
        raise CollectError(f"importing {', '.join(modules)} did not finish within "
                           f"{timeout:g} s", kind="Timeout") from None
    lines = done.stdout.decode("utf-8", "replace").strip().splitlines()
    try:
        result = json.loads(lines[-1]) if lines else None
    except ValueError:
        result = None
    if not isinstance(result, dict):
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-5:]
        raise CollectError(f"the import process exited with status {done.returncode}"
                           + (f": {' | '.join(tail)}" if tail else ""), kind="ProcessError")
    if "error" in result:
        err = result["error"]
        raise CollectError(str(err.get("message")), err.get("file"), err.get("line"),
                           str(err.get("type") or "ImportError"))
    return result


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: python -m workflow_studio.builder.collect ROOT MODULE...", file=sys.stderr)
        return 64
    root = Path(argv[0]).resolve()
    rest, paths = argv[1:], []
    while len(rest) >= 2 and rest[0] == "--path":
        paths.append(rest[1])
        rest = rest[2:]
    out = sys.stdout
    sys.stdout = sys.stderr  # user code that prints must not corrupt our JSON
    os.chdir(root)
    try:
        result: dict[str, Any] = collect(root, rest, paths)
        status = 0
    except BaseException as exc:  # any failure of user code is reported, not raised
        if isinstance(exc, KeyboardInterrupt):
            raise
        file, line = _location(exc, root)
        result = {"error": {"type": type(exc).__name__, "message": str(exc),
                            "file": file, "line": line}}
        status = EXIT_IMPORT_ERROR
    out.write(json.dumps(result) + "\n")
    out.flush()
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
