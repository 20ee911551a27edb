"""Typed recipe values: YAML values checked against a field's declared type, and
command-line text (``--set a.b=c``) converted to it.

A config field's type is ``bool``, ``int``, ``float``, ``str``, a ``Literal`` of strings,
or one of those ``| None``. Errors name the dotted key, quote the value and say what was
expected. Like :mod:`seqlab.config`, this module imports no torch.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal

from seqlab.errors import ConfigError

_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")
_NONE = ("none", "null", "~")


def leaf_types(cls: type, prefix: str = "") -> dict[str, Any]:
    """Every dotted leaf key of a config dataclass with its type, in declaration order."""
    out: dict[str, Any] = {}
    for name, hint in typing.get_type_hints(cls).items():
        if dataclasses.is_dataclass(hint):
            out.update(leaf_types(hint, f"{prefix}{name}."))
        else:
            out[f"{prefix}{name}"] = hint
    return out


def parse_text(text: str, hint: Any, key: str) -> Any:
    """Convert command-line text to ``hint``'s type."""
    options = optional_of(hint)
    if options is not None:
        if text.lower() in _NONE:
            return None
        try:
            return parse_text(text, options, key)
        except ConfigError:
            return bad_value(key, text, hint)  # name the whole type, null included
    if typing.get_origin(hint) is Literal:
        for choice in typing.get_args(hint):
            if text == str(choice):
                return choice
        return bad_value(key, text, hint)
    if hint is bool:
        if text.lower() in _TRUE + _FALSE:
            return text.lower() in _TRUE
        return bad_value(key, text, hint)
    if hint in (int, float):
        try:
            return hint(text)
        except ValueError:
            return bad_value(key, text, hint)
    return text


def check_value(value: Any, hint: Any, key: str) -> Any:
    """Return ``value`` if it fits ``hint`` (ints widen to float), else raise a ConfigError."""
    options = optional_of(hint)
    if options is not None:
        if value is None:
            return None
        try:
            return check_value(value, options, key)
        except ConfigError:
            return bad_value(key, value, hint)  # name the whole type, null included
    if typing.get_origin(hint) is Literal:
        return value if value in typing.get_args(hint) and isinstance(value, str) else bad_value(key, value, hint)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str):  # PyYAML reads `1e-3` (no dot) as a string
        return parse_text(value, float, key)
    if type(value) is not hint:  # exact: YAML's `true` is not an int, `3` is not a str
        return bad_value(key, value, hint)
    return value


def optional_of(hint: Any) -> Any:
    """For ``X | None`` return X; for anything else None."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(args) == 1 and len(typing.get_args(hint)) == 2:
            return args[0]
    return None


def describe(hint: Any) -> str:
    options = optional_of(hint)
    if options is not None:
        return f"{describe(options)}, or null"
    if typing.get_origin(hint) is Literal:
        return "one of " + ", ".join(str(choice) for choice in typing.get_args(hint))
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    return names[hint]


def bad_value(key: str, value: Any, hint: Any) -> typing.NoReturn:
    raise ConfigError(f"{key}: expected {describe(hint)}, got {value!r:.80}")


def require(ok: bool, key: str, value: Any, expected: str) -> None:
    if not ok:
        raise ConfigError(f"{key}: expected {expected}, got {value!r:.80}")
