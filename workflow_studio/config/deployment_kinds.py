"""The kinds of what a project declares about its deployments' environment: the
``requirements`` that ``workflow-studio build`` ships and the ``secrets`` their steps read
(checked like every setting, see ``config.kinds``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from workflow_studio.compute.manifest import SECRET_NAME, SecretRef
from workflow_studio.config.environment import is_essential, is_worker_secret
from workflow_studio.config.kinds import Invalid, Kind, got


@dataclasses.dataclass(frozen=True)
class Requirements(Kind):
    """Requirement strings (``"stripe>=12,<13"``), or one string: a requirements.txt path."""

    _doc = "list of requirements, or a requirements.txt path"

    def check(self, value: object) -> tuple[str, ...] | str:
        if isinstance(value, str):
            if not value.strip():
                raise Invalid("expected a requirements file's path or a list, got ''")
            return value
        if not isinstance(value, list | tuple):
            raise Invalid(f"expected a list of requirements or a file's path, got {got(value)}")
        for index, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                raise Invalid("expected a non-empty requirement string", f"[{index}]")
            if "\n" in item or item.lstrip().startswith("-"):
                raise Invalid("expected one requirement (no options, no newline)",
                              f"[{index}]")
        return tuple(item.strip() for item in value)


@dataclasses.dataclass(frozen=True)
class SecretDeclarations(Kind):
    """The secrets a deployment's steps read: names, or ``{"name", "as_env"}`` each."""

    _doc = "list of names or {name, as_env}"

    def check(self, value: object) -> tuple[SecretRef, ...]:
        if not isinstance(value, list | tuple):
            raise Invalid(f"expected a list of secret names, got {got(value)}")
        found: list[SecretRef] = []
        for index, item in enumerate(value):
            try:
                found.append(self._one(item))
            except Invalid as exc:
                raise exc.below(f"[{index}]") from None
        names = [s.name for s in found]
        if len(set(names)) != len(names):
            raise Invalid("names a secret twice")
        return tuple(found)

    @staticmethod
    def _one(item: object) -> SecretRef:
        if isinstance(item, SecretRef):
            return item
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, Mapping):
            raise Invalid("expected a name or {'name': ..., 'as_env': bool}")
        unknown = sorted(str(k) for k in set(item) - {"name", "as_env"})
        if unknown:
            raise Invalid("unknown setting", f".{unknown[0]}")
        name, as_env = item.get("name"), item.get("as_env", False)
        if not isinstance(name, str) or not SECRET_NAME.match(name):
            raise Invalid("expected 1-128 letters, digits and underscores, not starting with "
                          "a digit", ".name")
        if type(as_env) is not bool:
            raise Invalid(f"expected bool, got {got(as_env)}", ".as_env")
        if as_env and (is_worker_secret(name) or is_essential(name)):
            raise Invalid(f"{name} cannot be shown as an environment variable (the worker "
                          "owns it)", ".as_env")
        return SecretRef(name, as_env)
