"""Run real simulated sessions in tests and read back their Delta tables.

Everything here runs the engine exactly as ``v6 run`` does in sim (``v6.app``): the
installed plugins found through their entry points, plus any plugin objects passed as
``extra_plugins`` (registered for this session only), on a store of its own.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs
import pandas as pd

from v6.config import PluginBlock, PluginsConfig, SimBadDataSettings, TradingConfig
from v6.conversion import structure
from v6.store.delta_store import DeltaStore

Plugins = Iterable[tuple[str, object]]


def sim_config(store: Path | str, days: int = 5, **sim_overrides: Any) -> TradingConfig:
    """The embedded defaults with a private store and short-dated, quick-turnover plugins.

    Short DTEs and modest take-profit targets make a simulated week open *and* close
    every structure, which is what end-to-end tests need to see. The simulated feed is
    clean (``sim.bad_data`` all 0), so a test sees exactly the faults it injects itself;
    ``bad_data=SimBadDataSettings()`` restores the default rates. ``sim_overrides`` set
    fields of ``sim`` (``seed``, ``force_regime``, ``bad_data``, ...).
    """
    from v6.config_loader import load_config

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
    sim_overrides.setdefault("bad_data", SimBadDataSettings.off())
    sim = attrs.evolve(cfg.sim, days=days, **sim_overrides)
    store_settings = attrs.evolve(cfg.store, path=str(store))
    return attrs.evolve(cfg, plugins=plugins, sim=sim, store=store_settings)


def with_plugins(
    config: TradingConfig, **sections: Mapping[str, Any] | str | None
) -> TradingConfig:
    """``config`` with whole sections of ``plugins`` replaced (``strategies``,
    ``strike_selector``, ``exit_rules``, ``regime``, ``regime_driver``).

    Each section maps a plugin name to its block as YAML writes it (``{}``,
    ``{"settings": {...}, "priority": 25}``) or to a :class:`PluginBlock`. To add a rule
    beside the ones selected, spread the old section in:
    ``with_plugins(cfg, exit_rules={**cfg.plugins.exit_rules, "pin_risk": {}})``. With
    several regime detectors, ``regime_driver`` names the one that drives exits:
    ``with_plugins(cfg, regime={"volatility_regime": {}, "vix_band": {}},
    regime_driver="vix_band")``.
    """
    raw = {
        section: (
            {
                name: attrs.asdict(block) if isinstance(block, PluginBlock) else dict(block)
                for name, block in blocks.items()
            }
            if isinstance(blocks, Mapping)
            else blocks
        )
        for section, blocks in sections.items()
    }
    chosen = structure(PluginsConfig, raw, path="plugins")
    replaced = {section: getattr(chosen, section) for section in sections}
    return attrs.evolve(config, plugins=attrs.evolve(config.plugins, **replaced))


def run(cfg: TradingConfig, cycles: int | None = None, extra_plugins: Plugins = ()) -> str:
    """Run a session in-process, as ``v6 run`` does; returns what it printed."""
    from v6.app import run_session

    out = io.StringIO()
    run_session(cfg, cycles=cycles, out=out, extra_plugins=extra_plugins)
    return out.getvalue()


def table(cfg: TradingConfig, name: str) -> pd.DataFrame:
    """Read a table back from disk, as an analyst would."""
    return DeltaStore(cfg.store.path).read(name)


def latest(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    """The latest row of each ``key`` (``position_id``, ``order_ref``) of a state table:
    the one written last, by ``seq`` (rows of one instant share a ``time``)."""
    from v6.store.rows import in_write_order

    return in_write_order(frame).drop_duplicates(key, keep="last").reset_index(drop=True)


def engine_for(cfg: TradingConfig, extra_plugins: Plugins = ()) -> tuple[Any, Any]:
    """An engine and clock wired exactly as ``v6 run`` wires them."""
    from v6.app import build_engine

    return build_engine(cfg, "test-run", extra_plugins)


@attrs.define
class SimEngine:
    """An engine on its simulated clock, cycled by the test: inspect ``engine`` between
    cycles (its ``book``, ``regimes``, ``market_history``), then read the tables."""

    config: TradingConfig
    engine: Any
    clock: Any
    reports: list[Any] = attrs.Factory(list)
    closed: bool = False

    def run(self, cycles: int = 1) -> list[Any]:
        """Run up to ``cycles`` more cycles (fewer when the simulated days run out)."""
        reports = []
        for _ in range(cycles):
            now: datetime | None = self.clock.next_cycle()
            if now is None:
                break
            reports.append(self.engine.run_cycle(now))
        self.reports.extend(reports)
        return reports

    def close(self) -> None:
        """Flush every buffered row to the tables (once)."""
        if not self.closed:
            self.closed = True
            self.engine.close()

    def table(self, name: str) -> pd.DataFrame:
        """A table as written so far; flushes the engine's buffers first."""
        self.engine.recorder.flush()
        return table(self.config, name)


def sim_engine(cfg: TradingConfig, extra_plugins: Plugins = ()) -> SimEngine:
    """A :class:`SimEngine` for ``cfg`` (mode sim) with ``extra_plugins`` registered."""
    engine, clock = engine_for(cfg, extra_plugins)
    return SimEngine(config=cfg, engine=engine, clock=clock)


@attrs.frozen
class SimSession:
    """A finished simulated session: what it printed, and its tables."""

    config: TradingConfig
    output: str

    @property
    def store(self) -> DeltaStore:
        """The session's store (``config.store.path``)."""
        return DeltaStore(self.config.store.path)

    def table(self, name: str) -> pd.DataFrame:
        """Every row of table ``name`` (``positions``, ``decisions``, ``alerts``...)."""
        return table(self.config, name)

    def positions(self) -> pd.DataFrame:
        """The latest state of every position (one row each)."""
        return latest(self.table("positions"), "position_id")

    def orders(self) -> pd.DataFrame:
        """The latest state of every order (one row each)."""
        return latest(self.table("orders"), "order_ref")

    def alerts(self, code: str | None = None) -> pd.DataFrame:
        """The alerts, or only those with ``code`` (``plugin_error``, ...)."""
        alerts = self.table("alerts")
        return alerts if code is None else alerts[alerts["code"] == code]


def run_sim_session(
    cfg: TradingConfig, cycles: int | None = None, extra_plugins: Plugins = ()
) -> SimSession:
    """Run a whole simulated session of ``cfg`` (``cycles`` at most) and return it."""
    return SimSession(config=cfg, output=run(cfg, cycles, extra_plugins))
