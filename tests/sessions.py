"""Helpers to run real simulated sessions in tests and read back their Delta tables."""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import attrs
import pandas as pd

from v6.app import build_engine, run_session
from v6.config import PluginBlock, TradingConfig
from v6.config_loader import load_config
from v6.store.delta_store import DeltaStore


def sim_config(store: Path, days: int = 5, **sim_overrides: Any) -> TradingConfig:
    """The embedded defaults with a private store and short-dated, quick-turnover plugins.

    Short DTEs and modest take-profit targets make a simulated week open *and* close
    every structure, which is what the end-to-end tests need to see.
    """
    cfg = load_config(None)
    short_dated = {"min_dte": 3, "max_dte": 12}
    plugins = attrs.evolve(
        cfg.plugins,
        strategies={
            "iron_condor": PluginBlock(settings=dict(short_dated)),
            "bull_put_spread": PluginBlock(settings=dict(short_dated)),
            "bear_call_spread": PluginBlock(settings=dict(short_dated)),
        },
        exit_rules={
            "stop_loss": PluginBlock(),
            "days_to_expiry": PluginBlock(),
            "take_profit": PluginBlock(settings={"profit_fraction": 0.3}),
        },
    )
    sim = attrs.evolve(cfg.sim, days=days, **sim_overrides)
    store_settings = attrs.evolve(cfg.store, path=str(store))
    return attrs.evolve(cfg, plugins=plugins, sim=sim, store=store_settings)


def run(
    cfg: TradingConfig, cycles: int | None = None, extra_plugins: Iterable[tuple[str, object]] = ()
) -> str:
    """Run a session in-process; returns what it printed."""
    out = io.StringIO()
    assert run_session(cfg, cycles=cycles, out=out, extra_plugins=extra_plugins) == 0
    return out.getvalue()


def table(cfg: TradingConfig, name: str) -> pd.DataFrame:
    """Read a table back from disk, as an analyst would."""
    return DeltaStore(cfg.store.path).read(name)


def engine_for(cfg: TradingConfig, extra_plugins: Iterable[tuple[str, object]] = ()):
    """An engine and clock wired exactly as ``v6 run`` wires them."""
    return build_engine(cfg, "test-run", extra_plugins)
