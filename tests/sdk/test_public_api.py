"""``workflow_studio``'s curated surface: the lazy names, ``__all__`` and the names type
checkers see (the ``TYPE_CHECKING`` imports) are one and the same list."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

import workflow_studio as ws


def _type_checking_imports() -> dict[str, str]:
    tree = ast.parse(Path(ws.__file__).read_text())
    names: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom) and stmt.module
                for alias in stmt.names:
                    names[alias.asname or alias.name] = stmt.module
    return names


def test_all_lazy_and_type_checking_names_agree():
    exports = ws._EXPORTS
    assert set(ws.__all__) == {"__version__", *exports}
    assert _type_checking_imports() == exports
    assert len(ws.__all__) == len(set(ws.__all__))


@pytest.mark.parametrize("name", sorted(set(ws.__all__) - {"__version__"}))
def test_every_public_name_resolves_to_its_module(name):
    module = _type_checking_imports()[name]
    assert getattr(ws, name) is getattr(importlib.import_module(module), name)


def test_unknown_names_raise_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        ws.nope  # type: ignore[attr-defined]  # noqa: B018
    assert "start_with" in dir(ws)


def test_the_package_is_marked_typed():
    assert (Path(ws.__file__).parent / "py.typed").is_file()


def test_decorated_workflows_and_steps_keep_their_signatures():
    from tests.sdk import flows

    assert inspect.signature(flows.sdk_echo) == inspect.signature(flows.sdk_echo.__workflow__.fn)
    assert flows.sdk_echo.__workflow__.fn is flows.sdk_echo  # @workflow returns the function
    assert str(inspect.signature(flows.shout)) == "(text: 'str') -> 'str'"
    assert flows.shout.fn.__name__ == flows.shout.__name__ == "shout"
    assert ws.Run[int] is not None and ws.Workflow[[int], int] is not None  # subscriptable
