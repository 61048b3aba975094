"""The sweep's grid file: config key paths and the values to try, checked before anything runs.

```yaml
plugins.exit_rules.stop_loss.settings.multiple: [1.5, 2.0, 3.0]
limits.max_loss_per_trade: [500, 1000]
```

The combinations are the cartesian product of the lists (or a random sample of it, with
``--sample K --seed S``). Every combination's config is built from the base config's
values with the combination's keys replaced, then checked exactly as a config file is
(the converter, the cross-key rules, each selected plugin's own settings), so a bad key
path or value is one line naming it, exit status 2, before the first backtest starts.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from v6.config import TradingConfig
from v6.config_loader import _read_text, parse_yaml, validate_semantics
from v6.conversion import describe, structure, unstructure
from v6.errors import ConfigError

MAX_COMBINATIONS = 10_000
"""The most combinations one sweep runs (a grid's product, or ``--sample K``): each is a
whole backtest with its own output store, so more is a mistake, not a plan."""

Settings = dict[str, Any]


@attrs.frozen
class Grid:
    """Key paths in the file's order and, for each, the values to try."""

    keys: tuple[str, ...]
    values: tuple[tuple[Any, ...], ...]
    source: str

    @property
    def size(self) -> int:
        return math.prod(len(v) for v in self.values)

    def combination(self, index: int) -> Settings:
        """The ``index``-th combination of the product (the last key varies fastest)."""
        settings: Settings = {}
        for key, values in zip(reversed(self.keys), reversed(self.values), strict=True):
            index, digit = divmod(index, len(values))
            settings[key] = values[digit]
        return {key: settings[key] for key in self.keys}

    def combinations(self, sample: int | None = None, seed: int = 0) -> list[Settings]:
        """Every combination, or ``sample`` of them drawn without replacement by ``seed``."""
        if sample is None:
            if self.size > MAX_COMBINATIONS:
                raise ConfigError(
                    "(grid)",
                    f"{self.size:,} combinations, more than the {MAX_COMBINATIONS:,} a sweep "
                    "runs: shorten the lists or draw a random sample with --sample K",
                    self.source,
                )
            return [self.combination(i) for i in range(self.size)]
        if sample > MAX_COMBINATIONS:
            raise ConfigError(
                "(grid)", f"--sample {sample} is above the cap of {MAX_COMBINATIONS:,}", self.source
            )
        picked = random.Random(seed).sample(range(self.size), min(sample, self.size))
        return [self.combination(i) for i in sorted(picked)]


def load_grid(path: str | Path) -> Grid:
    """The grid file, refused in one line when it is not a mapping of key paths to
    non-empty lists of scalar values."""
    text, source = _read_text(path)
    try:
        data = parse_yaml(text, source)
    except ConfigError as exc:
        if exc.path != "(top level)":
            raise
        raise ConfigError(
            "(grid)",
            "expected a mapping of config key paths to lists of values, like "
            "'limits.max_loss_per_trade: [500, 1000]'",
            source,
        ) from None
    if not data:
        raise ConfigError("(grid)", "empty: list at least one key path and its values", source)
    keys: list[str] = []
    values: list[tuple[Any, ...]] = []
    for key, options in data.items():
        if not isinstance(key, str) or not key or any(not part for part in key.split(".")):
            raise ConfigError(
                str(key), "expected a config key path like 'limits.max_loss_per_trade'", source
            )
        if not isinstance(options, list):
            raise ConfigError(
                key, f"expected a list of values to try, got {describe(options)}", source
            )
        if not options:
            raise ConfigError(key, "empty list: give at least one value to try", source)
        for value in options:
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(key, f"{value} is not a number to try", source)
        if len({json.dumps(v, sort_keys=True, default=str) for v in options}) != len(options):
            raise ConfigError(key, "the same value is listed twice", source)
        keys.append(key)
        values.append(tuple(options))
    for key in keys:
        for other in keys:
            if other != key and other.startswith(key + "."):
                raise ConfigError(other, f"inside '{key}', which the grid also sets", source)
    return Grid(tuple(keys), tuple(values), source)


def apply(base: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    """The config document ``base`` with each key path of ``settings`` set to its value."""
    document = json.loads(json.dumps(base, default=str))
    for key, value in settings.items():
        node = document
        parts = key.split(".")
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part) if isinstance(node, dict) else None
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                where = ".".join(parts[: depth + 1])
                raise ConfigError(key, f"'{where}' is {describe(child)}, not a section")
            node = child
        node[parts[-1]] = value
    return document


def combination_config(
    base: TradingConfig, settings: Settings, source: str, check: Any = None
) -> TradingConfig:
    """The base config with ``settings`` applied, validated like a config file.

    ``check`` is the plugin check (``v6.cli.check_plugins``-like callable taking a config),
    run after the converter and the cross-key rules.
    """
    document = apply(unstructure(base), settings)
    where = f"{source} (combination {combination_id(settings)})"
    try:
        config = structure(TradingConfig, document, source=where)
    except ConfigError as exc:
        raise ConfigError(exc.path, exc.expected, where) from None
    validate_semantics(config, where)
    if check is not None:
        check(config, where)
    return config


def combination_id(settings: Settings) -> str:
    """A stable digest of the settings: the same values give the same id in every run."""
    text = json.dumps(settings, sort_keys=True, default=str, separators=(",", ":"))
    return "c-" + hashlib.sha256(text.encode()).hexdigest()[:12]


def settings_json(settings: Settings) -> str:
    return json.dumps(settings, sort_keys=True, default=str)
