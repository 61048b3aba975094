"""What a plugin's settings are: each field's name, type, default and documentation.

The convention (the built-ins follow it, ``v6 plugin new`` writes it): a settings class
documents its fields in an ``Attributes:`` section of its docstring, one entry per field,
continuation lines indented further::

    @frozen
    class Settings:
        \"\"\"Close when spot is pinned near a short strike close to expiry.

        Attributes:
            distance: points between spot and a short strike that count as pinned.
            within_dte: act only this many calendar days or fewer before expiry.
        \"\"\"

        distance: float = field(default=1.0, validator=validators.gt(0))
        within_dte: int = field(default=2, validator=validators.ge(0))

A field a subclass inherits keeps its parent's entry. ``v6 plugins --settings NAME``
prints the result.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import attrs
import yaml
from attrs import frozen

from v6.conversion import unstructure

REQUIRED = "(required)"


@frozen(slots=True)
class SettingDoc:
    """One field of a settings class, as a config author needs it."""

    name: str
    type: str
    default: str  # as YAML would write it, or "(required)"
    doc: str


def attribute_docs(cls: type) -> dict[str, str]:
    """The ``Attributes:`` entries of ``cls``'s docstring and its bases' (nearest wins)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        docs.update(_parse_attributes(klass.__dict__.get("__doc__") or ""))
    return docs


def _parse_attributes(docstring: str) -> dict[str, str]:
    lines = inspect.cleandoc(docstring).splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "Attributes:")
    except StopIteration:
        return {}
    docs: dict[str, list[str]] = {}
    header_indent = _indent(lines[start])
    entry_indent: int | None = None
    current: list[str] | None = None
    for line in lines[start + 1 :]:
        if not line.strip():
            if current is not None and entry_indent is not None:
                break  # a blank line ends the section
            continue
        indent = _indent(line)
        if indent <= header_indent:
            break
        if entry_indent is None:
            entry_indent = indent
        if indent == entry_indent and ":" in line:
            name, _, text = line.strip().partition(":")
            current = docs.setdefault(name.strip(), [])
            current.append(text.strip())
        elif current is not None:
            current.append(line.strip())
    return {name: " ".join(part for part in parts if part) for name, parts in docs.items()}


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _type_name(cls: type, name: str, kind: Any) -> str:
    """The field's annotation as written in the source (``tuple[Regime, ...]``), even when
    something has since resolved it into a type object (``attrs.resolve_types``)."""
    for klass in cls.__mro__:
        written = inspect.get_annotations(klass).get(name)
        if isinstance(written, str):
            return written
    if kind is None:
        return "any"
    if isinstance(kind, type) and not getattr(kind, "__args__", None):
        return kind.__name__
    return re.sub(r"\b(?:\w+\.)+(\w+)", r"\1", str(kind))


def _as_yaml(value: Any) -> str:
    text = yaml.safe_dump(unstructure(value), default_flow_style=True, width=1_000)
    return text.removesuffix("\n").removesuffix("\n...").strip()


def describe_settings(cls: type) -> list[SettingDoc]:
    """Every field of the attrs settings class ``cls``, in declaration order."""
    docs = attribute_docs(cls)
    try:
        defaults = cls()
    except Exception:  # a field without a default: list each one's own default
        defaults = None
    described = []
    for field in attrs.fields(cls):
        if defaults is not None:
            default = _as_yaml(getattr(defaults, field.name))
        elif field.default is attrs.NOTHING:
            default = REQUIRED
        elif isinstance(field.default, attrs.Factory):  # type: ignore[arg-type]
            factory = field.default
            default = "(computed)" if factory.takes_self else _as_yaml(factory.factory())
        else:
            default = _as_yaml(field.default)
        doc = docs.get(field.name, "")
        kind = _type_name(cls, field.name, field.type)
        described.append(SettingDoc(field.name, kind, default, doc))
    return described


def undocumented(cls: type) -> list[str]:
    """The fields of ``cls`` that have no documentation."""
    return [s.name for s in describe_settings(cls) if not s.doc]
