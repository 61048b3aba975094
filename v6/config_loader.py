"""Load a TradingConfig from YAML, with errors that name the file, the key and the fix.

Order of precedence, lowest first: the schema defaults, the YAML file (or the embedded
``v6/defaults/sim.yaml``), then a few environment variables for the connection and the
account, which differ per machine and should not be committed:

    V6_IB_HOST, V6_IB_PORT, V6_IB_CLIENT_ID, V6_IB_ACCOUNT

An empty environment variable counts as unset. Everything is validated by the same
converter, so ``V6_IB_PORT=abc`` is reported with its variable name and key path.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from v6.config import Mode, TradingConfig
from v6.config_rules import config_problems
from v6.conversion import describe, structure, unstructure
from v6.errors import ConfigError, V6Error

DEFAULTS_SOURCE = "embedded defaults (v6/defaults/sim.yaml)"


class ConfigFileError(ConfigError):
    """The file itself is unusable: missing, unreadable, or not valid YAML.

    A ``ConfigError`` (exit status 2) whose message is about the file, not a key.
    """

    def __init__(self, source: str, problem: str) -> None:
        self.path = ""
        self.expected = problem
        self.source = source or None
        # Skip ConfigError's "config error at '<key>'" wording: a file problem has no key.
        V6Error.__init__(self, f"{source}: {problem}" if source else problem)


# -- reading -------------------------------------------------------------------------------

# A config file is a few kilobytes (the embedded defaults are about 9 KiB). The bounds
# keep a wrong path or a hostile file from hanging or exhausting the machine: a FIFO would
# block the read forever, /dev/zero never ends, a deeply nested document overflows the
# parser's recursion and a few aliases can expand to billions of values.
MAX_CONFIG_BYTES = 256 * 1024
MAX_NESTING = 32  # mappings and lists inside each other; the schema needs 6
MAX_VALUES = 20_000  # every key and value, aliases counted as often as they are used

_FILE_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (PyYAML silently keeps the last one),
    documents nested deeper than ``MAX_NESTING`` or larger than ``MAX_VALUES`` values
    once aliases are expanded, and reports a value it cannot construct at its line."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._sizes: dict[int, int] = {}  # id(node) -> values in it, aliases expanded

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            node = super().compose_node(parent, index)
            if id(node) not in self._sizes:  # an alias to a node it sits inside
                raise yaml.composer.ComposerError(
                    None, None, f"alias *{event.anchor} refers to itself", event.start_mark
                )
            return node
        collection = not self.check_event(yaml.ScalarEvent)
        self._depth += collection
        try:
            if self._depth > MAX_NESTING:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"nested more than {MAX_NESTING} levels deep",
                    self.peek_event().start_mark,
                )
            node = super().compose_node(parent, index)
        finally:
            self._depth -= collection
        self._sizes[id(node)] = size = 1 + self._children_size(node)
        if size > MAX_VALUES:
            raise yaml.composer.ComposerError(
                None,
                None,
                f"more than {MAX_VALUES} values (aliases counted each time they are used)",
                node.start_mark,
            )
        return node

    def _children_size(self, node: yaml.Node) -> int:
        if isinstance(node, yaml.SequenceNode):
            return sum(self._sizes[id(child)] for child in node.value)
        if isinstance(node, yaml.MappingNode):
            return sum(self._sizes[id(k)] + self._sizes[id(v)] for k, v in node.value)
        return 0

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, AttributeError, OverflowError) as exc:
            # `!!int abc`, `!!float x`, an integer of 5,000 digits: PyYAML raises plain
            # Python errors for these, without a position.
            tag = node.tag.rsplit(":", 1)[-1]
            reason = str(exc).split(";")[0]  # drop Python's advice on its digit limit
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read this value as {tag}: {reason}", node.start_mark
            ) from exc


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    # Keys written in this mapping, as opposed to those a `<<: *anchor` merge brings in,
    # which the mapping's own keys may override (that is what a merge is for).
    own = {id(key) for key, _value in node.value if key.tag != "tag:yaml.org,2002:merge"}
    loader.flatten_mapping(node)  # resolve `<<: *anchor` merges first
    seen: dict[Any, yaml.Node] = {}
    for key_node, _value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, list | dict):
            continue  # unhashable: construct_mapping below reports it with its position
        if key in seen and id(key_node) in own and id(seen[key]) in own:
            first = seen[key].start_mark
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key '{key}' (first defined at line {first.line + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node
    return loader.construct_mapping(node, deep=True)


def _construct_timestamp(loader: _StrictLoader, node: yaml.ScalarNode) -> Any:
    try:
        return loader.construct_yaml_timestamp(node)
    except (ValueError, AttributeError, OverflowError):
        # `2026-02-30` looks like a date but is none: keep the text, so the converter
        # reports it at its key path ("sim.start: expected a date ..."). (`!!timestamp x`
        # makes PyYAML raise AttributeError.)
        return loader.construct_scalar(node)


_StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)  # type: ignore[arg-type]
_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,  # type: ignore[arg-type]
)


def _file_kind(mode: int) -> str | None:
    """What a path that is not a regular file is (None for a regular file)."""
    if stat.S_ISREG(mode):
        return None
    return next((kind for test, kind in _FILE_KINDS if test(mode)), "not a regular file")


def _unreadable(source: str, exc: OSError) -> ConfigFileError:
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return ConfigFileError("", f"config file not found: {source}")
    reason = exc.strerror or type(exc).__name__
    return ConfigFileError("", f"cannot read config file {source}: {reason}")


def _read_bytes(path: str | Path, source: str) -> bytes:
    """At most ``MAX_CONFIG_BYTES`` of a regular file; anything else is refused unopened.

    ``stat`` first, so a FIFO or a device is never opened (opening a FIFO blocks until a
    writer comes); the descriptor is then opened non-blocking and checked again, so a file
    swapped for a FIFO in between cannot hang the read either.
    """
    try:
        info = os.stat(path)
    except OSError as exc:
        raise _unreadable(source, exc) from exc
    except ValueError as exc:  # a NUL byte in the name
        raise ConfigFileError("", f"not a valid file name: {source!r}") from exc
    if stat.S_ISDIR(info.st_mode):
        raise ConfigFileError("", f"config path is a directory, not a file: {source}")
    kind = _file_kind(info.st_mode)
    if kind is not None:
        raise ConfigFileError("", f"config path is {kind}, not a regular file: {source}")
    if info.st_size > MAX_CONFIG_BYTES:
        raise ConfigFileError(source, f"larger than {MAX_CONFIG_BYTES // 1024} KiB; not a config")
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise _unreadable(source, exc) from exc
    try:
        if _file_kind(os.fstat(fd).st_mode) is not None:
            raise ConfigFileError("", f"config path is not a regular file: {source}")
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_CONFIG_BYTES:
            chunk = os.read(fd, MAX_CONFIG_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise _unreadable(source, exc) from exc
    finally:
        os.close(fd)
    if size > MAX_CONFIG_BYTES:  # it grew after the stat (or /proc reports size 0)
        raise ConfigFileError(source, f"larger than {MAX_CONFIG_BYTES // 1024} KiB; not a config")
    return b"".join(chunks)


def _read_text(path: str | Path | None) -> tuple[str, str]:
    if path is None:
        resource = resources.files("v6") / "defaults" / "sim.yaml"
        return resource.read_text(encoding="utf-8"), DEFAULTS_SOURCE
    source = str(path)
    data = _read_bytes(path, source)
    try:
        return data.decode("utf-8"), source
    except UnicodeDecodeError as exc:
        raise ConfigFileError(source, f"not a UTF-8 text file ({exc.reason})") from exc


def parse_yaml(text: str, source: str) -> dict[str, Any]:
    """The YAML document as a mapping; an empty document means "all defaults"."""
    try:
        data = yaml.load(text, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "malformed document"
        raise ConfigFileError(source, f"invalid YAML{where}: {problem}") from exc
    except yaml.YAMLError as exc:
        raise ConfigFileError(source, f"invalid YAML: {exc}") from exc
    except RecursionError as exc:  # a backstop: MAX_NESTING keeps the composer shallow
        raise ConfigFileError(source, "invalid YAML: nested too deeply") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            "(top level)",
            f"expected a mapping of keys like 'mode:' and 'sim:', got {describe(data)}",
            source,
        )
    return data


# -- environment overrides -----------------------------------------------------------------


def _integer_text(text: str) -> int | str:
    # Environment values are text; a non-integer stays text so the converter reports it.
    try:
        return int(text.strip())
    except ValueError:
        return text


ENV_OVERRIDES: dict[str, tuple[tuple[str, str], Callable[[str], Any]]] = {
    "V6_IB_HOST": (("ib", "host"), str.strip),
    "V6_IB_PORT": (("ib", "port"), _integer_text),
    "V6_IB_CLIENT_ID": (("ib", "client_id"), _integer_text),
    "V6_IB_ACCOUNT": (("ib", "account"), str.strip),
}


def apply_env_overrides(
    data: Mapping[str, Any], environ: Mapping[str, str]
) -> tuple[dict[str, Any], list[str]]:
    """``data`` with the set V6_IB_* variables applied, and the names of those variables."""
    merged = dict(data)
    applied: list[str] = []
    for name, ((section, key), parse) in ENV_OVERRIDES.items():
        text = environ.get(name, "")
        if not text.strip():
            continue
        block = merged.get(section)
        merged[section] = {**(block if isinstance(block, Mapping) else {}), key: parse(text)}
        applied.append(name)
    return merged, applied


# -- semantics -----------------------------------------------------------------------------


def validate_semantics(cfg: TradingConfig, source: str | None = None) -> None:
    """Rules across keys that one attrs field cannot check; raises ConfigError on the first.

    Every number finite; names that refer to other things (symbols, breakers, selected
    strategies) match what exists, with a did-you-mean; the stress grid physical; limits
    that do not contradict each other; a config under which V6 could trade and no safety
    is silently disarmed; in sim, a market that fits the exchange calendar and memory.
    The rules and their reasons are in :mod:`v6.config_rules`.
    """
    problem = config_problems(cfg)
    if problem is not None:
        raise ConfigError(problem[0], problem[1], source)


# -- public --------------------------------------------------------------------------------


def load_config(
    path: str | Path | None, *, environ: Mapping[str, str] | None = None
) -> TradingConfig:
    """The validated configuration from ``path``, or the embedded defaults when None.

    ``environ`` defaults to ``os.environ``; its V6_IB_* variables override the file
    (V6_IB_HOST only in paper and live: in sim nothing connects).
    Raises ConfigError (exit status 2) naming the file, the key path and what was expected.
    """
    text, source = _read_text(path)
    data = parse_yaml(text, source)
    # Structure the file alone first, so its errors are blamed on the file, not the env.
    cfg = structure(TradingConfig, data, source=source)
    environ = os.environ if environ is None else environ
    if cfg.mode is Mode.SIM:
        # Sim never connects: a gateway host set for this machine's paper or live service
        # must not stop a simulated run (the file's own host is still checked).
        environ = {k: v for k, v in environ.items() if k != "V6_IB_HOST"}
    merged, applied = apply_env_overrides(data, environ)
    if applied:
        try:
            cfg = structure(TradingConfig, merged, source=source)
        except ConfigError as exc:
            culprit = _env_variable_for(exc.path) or ", ".join(applied)
            raise ConfigError(exc.path, exc.expected, f"environment variable {culprit}") from exc
    validate_semantics(cfg, source)
    return cfg


def _env_variable_for(key_path: str) -> str | None:
    for name, ((section, key), _parse) in ENV_OVERRIDES.items():
        if key_path == f"{section}.{key}":
            return name
    return None


def dump_config(cfg: TradingConfig) -> str:
    """The configuration as YAML that ``load_config`` reads back to an equal value."""
    return yaml.safe_dump(unstructure(cfg), sort_keys=False, default_flow_style=False)
