"""One cattrs converter for every edge: YAML config, plugin settings and Delta rows.

Values are parsed once, at the edge, into attrs classes; inside the core everything is
already valid. The converter is deliberately stricter than cattrs' defaults, because its
defaults would quietly accept mistakes a trader would want to hear about: ``bool("false")``
is ``True``, ``list("SPY")`` is ``['S', 'P', 'Y']`` and ``str(["x"])`` is a string.

``structure`` turns the first problem cattrs finds into a ``ConfigError`` that names the
full key path (``ib.port``, ``plugins.strategies.iron_condor.settings.short_delta``,
``underlyings[1]``) and says in plain English what was expected.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import numbers
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from enum import Enum, IntEnum, StrEnum
from typing import Any, Literal, TypeVar, get_args, get_origin

import attrs
import cattrs
import numpy as np
from cattrs.cols import is_mapping, list_structure_factory
from cattrs.errors import (
    AttributeValidationNote,
    BaseValidationError,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import mapping_structure_factory

from v6.errors import ConfigError

T = TypeVar("T")

__all__ = ["converter", "describe", "join_path", "structure", "unstructure"]


class InvalidValue(ValueError):
    """Raised by V6's hooks; its message is already the plain-English ``expected`` text."""


def describe(value: Any) -> str:
    """A value as a user wrote it in YAML (``'abc'``, ``-1``, ``null``, ``a list``)."""
    if value is None:
        return "null"
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, str):
        # A whole file pasted into one value must not become a whole file of message.
        return repr(value) if len(value) <= 60 else f"{value[:50]!r}... ({len(value)} characters)"
    if isinstance(value, numbers.Integral) and abs(int(value)) >= 10**30:
        return f"an integer of {len(str(abs(int(value))))} digits"
    if isinstance(value, numbers.Number | date):
        return str(value)
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple | set | frozenset):
        return "a list"
    return f"a {type(value).__name__}"


# -- scalar hooks --------------------------------------------------------------------------


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _structure_int(value: Any, _type: type) -> int:
    # bool is an int in Python, but `port: true` is a mistake, not 1. Table columns with
    # nulls come back as floats; 3.0 is still the integer 3.
    integral = isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)
    whole = isinstance(value, float | np.floating) and math.isfinite(value) and value.is_integer()
    if not (integral or whole):
        raise InvalidValue(f"expected an integer, got {describe(value)}")
    number = int(value)
    # Every integer ends up in NumPy, Arrow or a Delta column, all 64-bit: a bigger one
    # would overflow there, far from the key that caused it.
    if not INT64_MIN <= number <= INT64_MAX:
        raise InvalidValue(
            f"expected an integer between -2**63 and 2**63-1, got {describe(number)}"
        )
    return number


def _structure_float(value: Any, _type: type) -> float:
    # NaN passes: in table rows it means "not measurable" (a Greek, an implied vol).
    # The config loader refuses non-finite numbers itself.
    if isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_):
        return float(value)
    if isinstance(value, str):
        # PyYAML reads `1e3` (no dot) as a string: accept what float() reads as a number.
        try:
            return float(value)
        except ValueError:
            pass
    raise InvalidValue(f"expected a number, got {describe(value)}")


def _structure_str(value: Any, _type: type) -> str:
    if isinstance(value, str):
        return value
    raise InvalidValue(f"expected a string, got {describe(value)}")


def _structure_bool(value: Any, _type: type) -> bool:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    raise InvalidValue(f"expected true or false, got {describe(value)}")


def _structure_date(value: Any, _type: type) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise InvalidValue(f"expected a date (YYYY-MM-DD), got {describe(value)}")


def _structure_datetime(value: Any, _type: type) -> datetime:
    if hasattr(value, "to_pydatetime"):  # pandas.Timestamp, without importing pandas
        value = value.to_pydatetime()
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidValue(
                f"expected an ISO timestamp with a time zone, got {describe(value)}"
            ) from None
    if not isinstance(value, datetime):
        raise InvalidValue(f"expected a timestamp, got {describe(value)}")
    if value.tzinfo is None:
        # Inside the core every timestamp is UTC; a naive one is ambiguous, so refuse it.
        raise InvalidValue(f"expected a timestamp with a time zone, got {value.isoformat()}")
    return value.astimezone(UTC)


@functools.cache
def _choices(cls: type[Enum]) -> str:
    return ", ".join(str(member.value) for member in cls)


def _structure_enum(value: Any, cls: type[Enum]) -> Enum:
    if isinstance(value, cls):
        return value
    try:
        return cls(value)
    except ValueError:
        raise InvalidValue(f"expected one of {_choices(cls)}, got {describe(value)}") from None


def _unstructure_enum(value: Enum) -> Any:
    return value.value


def _is_literal(type_: Any) -> bool:
    return get_origin(type_) is Literal


def _literal_hook(type_: Any) -> Callable[[Any, type], Any]:
    options = get_args(type_)
    choices = ", ".join(str(option) for option in options)

    def structure_literal(value: Any, _type: type) -> Any:
        for option in options:
            # `True == 1`: compare types too, so `1` does not pass for `Literal[True]`.
            if value == option and type(value) is type(option):
                return option
        raise InvalidValue(f"expected one of {choices}, got {describe(value)}")

    return structure_literal


# -- container guards ----------------------------------------------------------------------


def _is_attrs_class(type_: Any) -> bool:
    return isinstance(type_, type) and attrs.has(type_)


def _is_list(type_: Any) -> bool:
    if get_origin(type_) is list:
        return True
    # Homogeneous tuples, tuple[X, ...]; fixed-shape tuples keep cattrs' own hook.
    args = get_args(type_)
    return get_origin(type_) is tuple and len(args) == 2 and args[1] is Ellipsis


def _attrs_hook(cls: type, conv: cattrs.Converter) -> Callable[[Any, type], Any]:
    generated = conv.gen_structure_attrs_fromdict(cls)

    def structure_section(value: Any, type_: type) -> Any:
        # An empty section (`ib:` with nothing under it) means "all defaults".
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            raise InvalidValue(f"expected a mapping of keys, got {describe(value)}")
        return generated(value, type_)

    return structure_section


def _mapping_hook(type_: Any, conv: cattrs.Converter) -> Callable[[Any, type], Any]:
    # Not conv.gen_structure_mapping: it caches its result for the type, replacing this guard.
    generated = mapping_structure_factory(
        type_, conv, dict, detailed_validation=conv.detailed_validation
    )

    def structure_mapping(value: Any, type_: type) -> Any:
        if value is None:  # `settings:` with nothing under it
            value = {}
        if not isinstance(value, Mapping):
            raise InvalidValue(f"expected a mapping, got {describe(value)}")
        return generated(value, type_)

    return structure_mapping


def _list_hook(type_: Any, conv: cattrs.Converter) -> Callable[[Any, type], Any]:
    generated = list_structure_factory(type_, conv)
    make = tuple if get_origin(type_) is tuple else list

    def structure_list(value: Any, type_: type) -> Any:
        # A string or a mapping is iterable, but `underlyings: SPY` is not a list of one.
        if isinstance(value, str | bytes | Mapping) or not hasattr(value, "__iter__"):
            raise InvalidValue(f"expected a list, got {describe(value)}")
        return make(generated(value, type_))

    return structure_list


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    conv.register_structure_hook(int, _structure_int)
    conv.register_structure_hook(float, _structure_float)
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(bool, _structure_bool)
    conv.register_structure_hook(date, _structure_date)
    conv.register_structure_hook(datetime, _structure_datetime)
    # StrEnum and IntEnum subclass str and int: register them so they win over those hooks.
    for base in (Enum, StrEnum, IntEnum):
        conv.register_structure_hook(base, _structure_enum)
        conv.register_unstructure_hook(base, _unstructure_enum)
    conv.register_structure_hook_factory(_is_literal, _literal_hook)
    conv.register_structure_hook_factory(_is_attrs_class, _attrs_hook)
    conv.register_structure_hook_factory(is_mapping, _mapping_hook)
    conv.register_structure_hook_factory(_is_list, _list_hook)
    return conv


converter: cattrs.Converter = _make_converter()


# -- errors --------------------------------------------------------------------------------

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
# attrs' own validator messages: "'port' must be > 0: -1", "'x' must be in [...] (got 'y')".
_ATTRS_FIELD = re.compile(r"'(?P<name>[^']+)' (?P<rest>must .*)\Z", re.DOTALL)
_ATTRS_BOUND = re.compile(r"must be (?P<op>[<>]=?) (?P<bound>\S+): (?P<value>.*)\Z", re.DOTALL)
_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


def join_path(path: str, key: Any) -> str:
    """``path`` and ``key`` as a key path: ``ib.port``, ``underlyings[1]``,
    ``sim.underlyings['BRK.B']`` (a key that is not a plain name is quoted)."""
    if isinstance(key, int) and not isinstance(key, bool):
        return f"{path}[{key}]"
    text = str(key)
    if isinstance(key, str) and _KEY.match(text) and len(text) <= 60:
        return f"{path}.{text}" if path else text
    return f"{path}[{describe(key)}]"


def _note(exc: BaseException) -> AttributeValidationNote | IterableValidationNote | None:
    for note in getattr(exc, "__notes__", ()):
        if isinstance(note, AttributeValidationNote | IterableValidationNote):
            return note
    return None


def _field_names(cls: type) -> list[str]:
    if attrs.has(cls):
        return [a.name for a in attrs.fields(cls)]
    if dataclasses.is_dataclass(cls):
        return [f.name for f in dataclasses.fields(cls)]
    return []


def _unknown_key(exc: ForbiddenExtraKeysError, path: str) -> tuple[str, str]:
    key = sorted(exc.extra_fields, key=str)[0]
    names = _field_names(exc.cl)
    close = difflib.get_close_matches(str(key), names, n=1, cutoff=0.6)
    if close:
        hint = f"did you mean '{close[0]}'?"
    elif names:
        hint = f"valid keys: {', '.join(names)}"
    else:
        hint = "this section takes no keys"
    return join_path(path, key), f"unknown key '{key}'; {hint}"


def _validator_message(exc: BaseException, path: str) -> tuple[str, str]:
    """An attrs validator's error, which cattrs reports at the class, moved to its field."""
    message = str(exc.args[0]) if exc.args else str(exc)
    match = _ATTRS_FIELD.match(message)
    if not match:
        return path, message
    field_path = join_path(path, match["name"])
    rest = match["rest"]
    # in_() passes (message, attribute, options, value).
    if len(exc.args) == 4 and isinstance(exc.args[2], list | tuple | set | frozenset):
        choices = ", ".join(str(option) for option in exc.args[2])
        return field_path, f"expected one of {choices}, got {describe(exc.args[3])}"
    bound = _ATTRS_BOUND.match(rest)
    if bound:
        return field_path, f"must be {bound['op']} {bound['bound']}, got {bound['value']}"
    return field_path, rest


def _leaf_message(exc: BaseException, type_: Any) -> str:
    if isinstance(exc, InvalidValue):
        return str(exc)
    if isinstance(exc, KeyError):
        return "required key missing"
    wanted = _TYPE_NAMES.get(type_) or getattr(type_, "__name__", None) or str(type_)
    detail = str(exc.args[0]) if exc.args else type(exc).__name__
    return f"expected {wanted}: {detail}" if type_ is not None else detail


def first_problem(exc: BaseException, path: str = "") -> tuple[str, str]:
    """The key path and plain-English description of the first problem in a cattrs error.

    Within one section an unknown key is reported before the section's other problems,
    because a misspelt key is usually why a sibling looks missing.
    """
    if isinstance(exc, ForbiddenExtraKeysError):
        return _unknown_key(exc, path)
    if isinstance(exc, BaseValidationError):
        subs = list(exc.exceptions)
        subs.sort(key=lambda sub: not isinstance(sub, ForbiddenExtraKeysError))
        sub = subs[0]
        note = _note(sub)
        if note is None:
            if isinstance(sub, BaseValidationError | ForbiddenExtraKeysError):
                return first_problem(sub, path)
            if isinstance(exc, ClassValidationError):
                # Raised by the class's __init__: an attrs validator or converter.
                return _validator_message(sub, path)
            return path, _leaf_message(sub, None)
        key = note.name if isinstance(note, AttributeValidationNote) else note.index
        sub_path = join_path(path, key)
        if isinstance(sub, BaseValidationError | ForbiddenExtraKeysError):
            return first_problem(sub, sub_path)
        return sub_path, _leaf_message(sub, note.type)
    if isinstance(exc, ValueError | TypeError) and not isinstance(exc, InvalidValue):
        return _validator_message(exc, path)
    return path, _leaf_message(exc, None)


_CONFIG_FAILURES = (
    ClassValidationError,
    IterableValidationError,
    ForbiddenExtraKeysError,
    ValueError,
    TypeError,
    KeyError,
)


def structure(cls: type[T], data: Any, path: str = "", source: str | None = None) -> T:
    """``data`` (YAML, a table row, a plugin's settings) as a validated ``cls``.

    ``path`` is where ``data`` sits in the whole config, so a plugin's settings errors read
    ``plugins.strategies.iron_condor.settings.short_delta``; ``source`` names the file.
    Raises ``ConfigError`` for the first problem found.
    """
    try:
        return converter.structure(data, cls)
    except _CONFIG_FAILURES as exc:
        where, expected = first_problem(exc, path)
        raise ConfigError(where or "(top level)", expected, source) from exc


def unstructure(obj: Any) -> Any:
    """Plain dicts, lists and scalars (enums as their values) for YAML, JSON or a table."""
    return converter.unstructure(obj)
