"""Value kinds: how one setting's value is checked, whichever source it came from.

``check`` takes a value that must already have the right Python type (the config file and
options hand over typed values: a string ``"4"`` is not an int, a bool is not an int) and
applies the bounds. ``parse`` exists only for the environment, whose values are strings: it
turns the string into that type, and the result then goes through the same ``check``.
A kind raises ``Invalid`` without naming the setting; the caller adds the name and source.
"""

from __future__ import annotations

import dataclasses
import importlib
import ipaddress
import math
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, cast

from workflow_studio.compute.scopes import ALL_SCOPES
from workflow_studio.config.environment import VARIABLE_NAME, is_worker_secret
from workflow_studio.config.model import MIN_KEY_LENGTH, ConfigError, SeedKey

WEBHOOK_PROVIDERS = ("github", "stripe", "standard", "hmac")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


class Invalid(Exception):
    """A bad value; ``where`` locates it below the setting (``[0].key``, ``.github``)."""

    def __init__(self, message: str, where: str = "") -> None:
        super().__init__(message)
        self.message, self.where = message, where

    def below(self, prefix: str) -> Invalid:
        return Invalid(self.message, prefix + self.where)

    def named(self, name: str) -> ConfigError:
        """The one-line error for setting ``name`` (already carrying its source)."""
        return ConfigError(f"{name}{self.where}: {self.message}")


def got(value: object) -> str:
    return "None" if value is None else type(value).__name__


class Kind:
    """Base kind. Kinds without ``parse`` (mappings, callables) have no environment form."""

    _doc: ClassVar[str] = "value"

    @property
    def doc(self) -> str:
        """The type column of the README's settings table."""
        return self._doc

    def check(self, value: object) -> Any:
        raise NotImplementedError

    def parse(self, raw: str) -> object:
        raise Invalid("cannot be set from the environment")


@dataclasses.dataclass(frozen=True)
class Bool(Kind):
    _doc = "bool"

    def check(self, value: object) -> bool:
        if type(value) is not bool:
            raise Invalid(f"expected bool, got {got(value)}")
        return value

    def parse(self, raw: str) -> bool:
        lowered = raw.strip().lower()
        if lowered in _TRUE or lowered in _FALSE:
            return lowered in _TRUE
        raise Invalid(f"expected true or false, got {raw!r}")


@dataclasses.dataclass(frozen=True)
class Int(Kind):
    """An int in ``[minimum, maximum]``; ``rule`` overrides the bounds' wording."""

    minimum: int | None = None
    maximum: int | None = None
    rule: str = ""

    @property
    def doc(self) -> str:
        if self.minimum is not None and self.maximum is not None:
            return f"int {self.minimum}-{self.maximum}"
        return "int" if self.minimum is None else f"int >= {self.minimum}"

    def _rule(self) -> str:
        if self.rule:
            return self.rule
        if self.minimum is not None and self.maximum is not None:
            return f"must be between {self.minimum} and {self.maximum}"
        return "must not be negative" if self.minimum == 0 else f"must be at least {self.minimum}"

    def check(self, value: object) -> int:
        if type(value) is bool or not isinstance(value, int):
            raise Invalid(f"expected int, got {got(value)}")
        if ((self.minimum is not None and value < self.minimum)
                or (self.maximum is not None and value > self.maximum)):
            raise Invalid(f"{self._rule()}, got {value}")
        return value

    def parse(self, raw: str) -> int:
        try:
            return int(raw.strip())
        except ValueError:
            raise Invalid(f"expected an integer, got {raw!r}") from None


@dataclasses.dataclass(frozen=True)
class Seconds(Kind):
    """A finite number of seconds > 0; ints are accepted and become floats."""

    _doc = "number > 0"

    def check(self, value: object) -> float:
        if type(value) is bool or not isinstance(value, int | float):
            raise Invalid(f"expected int or float, got {got(value)}")
        if not math.isfinite(value) or value <= 0:
            raise Invalid(f"must be > 0, got {value}")
        return float(value)

    def parse(self, raw: str) -> float:
        try:
            return float(raw.strip())
        except ValueError:
            raise Invalid(f"expected a number, got {raw!r}") from None


@dataclasses.dataclass(frozen=True)
class Text(Kind):
    """A string of at least ``min_length`` characters (1: not empty)."""

    min_length: int = 1

    @property
    def doc(self) -> str:
        return "string" if self.min_length <= 1 else f"string, >= {self.min_length} chars"

    def check(self, value: object) -> str:
        if not isinstance(value, str):
            raise Invalid(f"expected str, got {got(value)}")
        if len(value) < self.min_length:
            raise Invalid("must not be empty" if self.min_length <= 1 else
                          f"expected a string of at least {self.min_length} characters")
        return value

    def parse(self, raw: str) -> str:
        return raw.strip()


@dataclasses.dataclass(frozen=True)
class Url(Text):
    """An http(s) URL, stored without a trailing slash."""

    @property
    def doc(self) -> str:
        return "http(s) URL"

    def check(self, value: object) -> str:
        text = super().check(value)
        if not text.startswith(("http://", "https://")):
            raise Invalid("expected an http:// or https:// URL")
        return text.rstrip("/")


@dataclasses.dataclass(frozen=True)
class Choice(Kind):
    """One of ``choices``, case-insensitive, stored upper-case (log levels)."""

    choices: tuple[str, ...] = ()

    @property
    def doc(self) -> str:
        return " / ".join(c.lower() for c in self.choices)

    def check(self, value: object) -> str:
        if not isinstance(value, str):
            raise Invalid(f"expected str, got {got(value)}")
        if value.strip().upper() not in self.choices:
            raise Invalid(f"expected one of {', '.join(self.choices)}, got {value!r}")
        return value.strip().upper()

    def parse(self, raw: str) -> str:
        return raw


@dataclasses.dataclass(frozen=True)
class Nullable(Kind):
    """``inner`` or None (None means "not configured")."""

    inner: Kind = dataclasses.field(default_factory=Text)

    @property
    def doc(self) -> str:
        return self.inner.doc

    def check(self, value: object) -> Any:
        return None if value is None else self.inner.check(value)

    def parse(self, raw: str) -> object:
        return self.inner.parse(raw)


def networks(item: str) -> str:
    """An IP address or network, as gunicorn's ``forwarded_allow_ips`` will need it."""
    try:
        ipaddress.ip_network(item, strict=False)
    except ValueError:
        raise Invalid(f"{item!r} is not an IP address or network") from None
    return item


def scopes(item: str) -> str:
    if item not in ALL_SCOPES:
        raise Invalid(f"unknown scope {item!r} (known: {', '.join(ALL_SCOPES)})")
    return item


def names(item: str) -> str:
    if not item:
        raise Invalid("expected non-empty strings, got ''")
    return item


def variable_names(item: str) -> str:
    """An environment variable's name that user code may see (``env_passthrough``)."""
    if not VARIABLE_NAME.fullmatch(item):
        raise Invalid(f"{item!r} is not an environment variable name")
    if is_worker_secret(item):
        raise Invalid(f"{item} is a worker secret; user code never sees it")
    return item


@dataclasses.dataclass(frozen=True)
class Strings(Kind):
    """A list (or tuple) of strings, each checked by ``item``; stored as a tuple. In the
    environment, items are separated by commas or spaces. ``split`` also accepts one string
    of space-separated items (``"scopes": "runs:read runs:write"``)."""

    item: Callable[[str], str] = names
    what: str = "list of strings"
    split: bool = False

    @property
    def doc(self) -> str:
        return self.what

    def check(self, value: object) -> tuple[str, ...]:
        if self.split and isinstance(value, str):
            value = value.split()
        if not isinstance(value, list | tuple):
            raise Invalid(f"expected a list of strings, got {got(value)}")
        for item in value:
            if not isinstance(item, str):
                raise Invalid(f"expected a list of strings, got a {got(item)} in it")
        return tuple(self.item(item) for item in value)

    def parse(self, raw: str) -> tuple[str, ...]:
        return tuple(raw.replace(",", " ").split())


@dataclasses.dataclass(frozen=True)
class Webhooks(Kind):
    """``{"github": {"secret": "..."}, ...}`` (or ``{"github": "..."}``) by provider."""

    _doc = "provider -> {secret}"

    def check(self, value: object) -> dict[str, dict[str, str]]:
        if not isinstance(value, Mapping):
            raise Invalid(f"expected a mapping, got {got(value)}")
        out: dict[str, dict[str, str]] = {}
        for provider, entry in value.items():
            if provider not in WEBHOOK_PROVIDERS:
                raise Invalid(f"unknown webhook provider (known: {', '.join(WEBHOOK_PROVIDERS)})",
                              f".{provider}")
            if isinstance(entry, str):
                entry = {"secret": entry}
            if not isinstance(entry, Mapping) or set(entry) - {"secret"}:
                raise Invalid("expected {'secret': '...'}", f".{provider}")
            secret = entry.get("secret")
            if not isinstance(secret, str) or not secret:
                raise Invalid("expected a non-empty string", f".{provider}.secret")
            out[provider] = {"secret": secret}
        return out


_SEED_FIELDS = ("key", "scopes", "name", "rate_limit_per_minute")
_KEY_LIMIT = Int(minimum=0)
_SCOPES = Strings(scopes, "list of scopes", split=True)


@dataclasses.dataclass(frozen=True)
class SeedKeys(Kind):
    """API keys to create at startup: a key string, a mapping or a ``SeedKey`` each."""

    _doc = "list of {key, scopes, name, rate_limit_per_minute}"

    def check(self, value: object) -> tuple[SeedKey, ...]:
        if not isinstance(value, list | tuple):
            raise Invalid(f"expected a list of keys, got {got(value)}")
        out: list[SeedKey] = []
        for index, item in enumerate(value):
            try:
                out.append(self._one(item))
            except Invalid as exc:
                raise exc.below(f"[{index}]") from None
        return tuple(out)

    @staticmethod
    def _one(item: object) -> SeedKey:
        if isinstance(item, SeedKey):
            item = dataclasses.asdict(item)
        elif isinstance(item, str):
            item = {"key": item}
        if not isinstance(item, Mapping):
            raise Invalid("expected a mapping with 'key' and 'scopes'")
        unknown = sorted(str(name) for name in set(item) - set(_SEED_FIELDS))
        if unknown:
            raise Invalid("unknown setting", f".{unknown[0]}")
        key, name, limit = item.get("key"), item.get("name", "seed"), item.get(
            "rate_limit_per_minute")
        if not isinstance(key, str) or len(key) < MIN_KEY_LENGTH:
            raise Invalid(f"expected a string of at least {MIN_KEY_LENGTH} characters", ".key")
        if not isinstance(name, str):
            raise Invalid(f"expected str, got {got(name)}", ".name")
        try:
            scopes = _SCOPES.check(item.get("scopes", ["admin"]))
        except Invalid as exc:
            raise exc.below(".scopes") from None
        try:
            limit = None if limit is None else _KEY_LIMIT.check(limit)
        except Invalid as exc:
            raise exc.below(".rate_limit_per_minute") from None
        return SeedKey(key=key, scopes=scopes, name=name, rate_limit_per_minute=limit)


@dataclasses.dataclass(frozen=True)
class CallableRef(Kind):
    """A callable, or ``"package.module:function"`` imported when first needed."""

    _doc = "'module:function' or callable"

    def check(self, value: object) -> Any:
        if callable(value):
            return value
        if not isinstance(value, str) or not value.strip():
            raise Invalid(f"expected 'module:function' or a callable, got {got(value)}")
        return value


def resolve_callable(target: object) -> Callable[..., Any] | None:
    """Turn what ``CallableRef`` accepted (``"pkg.module:function"`` or a callable) into the
    callable; done when first needed, so the config file never imports the app's code."""
    if target is None or callable(target):
        return cast("Callable[..., Any] | None", target)
    module_name, _, attr = str(target).partition(":")
    if not attr:
        module_name, _, attr = str(target).rpartition(".")
    try:
        found: object = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(f"on_webhook: cannot import {target!r} ({exc})") from None
    if not callable(found):
        raise ConfigError(f"on_webhook: {target!r} is not callable")
    return cast("Callable[..., Any]", found)
