"""A simulated week in each forced market regime exercises all twelve exit priorities.

Four real sessions (calm, trending, high_vol, crash) on one seed, with settings a trader
could choose that make every rule get its turn: short-dated structures, a one-day time
exit, a tight delta limit, a daily-loss breaker that closes, 1% of quotes crossed. The
decisions tables must then show each of the twelve rules deciding, with every rule's
verdict stored beside the winner and the winner always the most urgent rule that spoke.
"""

from __future__ import annotations

import json

import attrs
import pandas as pd
import pytest
from sessions import engine_for, sim_config, table
from test_bad_quotes import CorruptingFeed

from v6.config import DEFAULT_EXIT_RULES, PluginBlock, PluginsConfig, SlotSettings

pytestmark = pytest.mark.slow

SEED = 10
REGIMES = ("calm", "trending", "high_vol", "crash")
EXIT_SETTINGS = {
    "catastrophe": {"gap_fraction": 0.02},
    "days_to_expiry": {"close_at_dte": 3},
    "stop_loss": {"loss_multiple": 0.5},
    "portfolio_limits": {"tolerance": 1.0},
    "delta_breach": {"max_short_delta": 0.30},
    "regime_change": {"close_in": ["crash", "high_vol", "trending", "range_bound", "low_vol"]},
    "time_exit": {"max_days_held": 1.0, "max_term_fraction": 0.3},
}


def session_config(tmp_path, regime: str):
    cfg = sim_config(tmp_path / regime, days=3, force_regime=regime, seed=SEED)
    rules = {
        name: PluginBlock(settings=EXIT_SETTINGS.get(name, {}))
        for name in PluginsConfig().exit_rules
    }
    strategy = {"min_dte": 3, "max_dte": 8}
    if regime == "crash":  # a seller who keeps selling into the crash, to be caught by it
        strategy["avoid_regimes"] = []
    plugins = attrs.evolve(
        cfg.plugins,
        exit_rules=rules,
        strategies={name: PluginBlock(settings=dict(strategy)) for name in cfg.plugins.strategies},
    )
    return attrs.evolve(
        cfg,
        plugins=plugins,
        limits=attrs.evolve(
            cfg.limits,
            max_abs_beta_delta=25.0,
            max_open_positions=30,
            max_positions_per_underlying=10,
        ),
        breakers=attrs.evolve(
            cfg.breakers,
            max_daily_loss=250.0,
            close_positions=["daily_loss"],
            max_consecutive_losses=50,
        ),
        slots=attrs.evolve(
            cfg.slots, default=SlotSettings(max_concurrent=3, cooldown_minutes_after_stop=0)
        ),
        # About exit priorities, not fills: entries fill at mid in the cycle sent.
        sim=attrs.evolve(cfg.sim, broker=attrs.evolve(cfg.sim.broker, fill_model="immediate_mid")),
    )


@pytest.fixture(scope="module")
def decisions(tmp_path_factory) -> pd.DataFrame:
    tmp_path = tmp_path_factory.mktemp("regimes")
    frames = []
    for regime in REGIMES:
        cfg = session_config(tmp_path, regime)
        engine, clock = engine_for(cfg)
        engine.market = CorruptingFeed(engine.market, "crossed", 0.01)
        while (now := clock.next_cycle()) is not None:
            engine.run_cycle(now)
        engine.close()
        frame = table(cfg, "decisions")
        frame["forced"] = regime
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def test_every_one_of_the_twelve_priorities_decides_somewhere(decisions):
    won = decisions.groupby("rule")["priority"].first().to_dict()
    assert won == {name: 10 * i for i, name in enumerate(DEFAULT_EXIT_RULES, start=1)}
    by_regime = decisions.groupby("forced")["rule"].agg(set)
    assert "catastrophe" in by_regime["crash"]
    assert all("hold" in rules for rules in by_regime)


def test_every_decision_stores_all_twelve_verdicts_and_the_most_urgent_one_won(decisions):
    for row in decisions.itertuples(index=False):
        verdicts = json.loads(row.verdicts)
        assert [v["rule"] for v in verdicts] == list(DEFAULT_EXIT_RULES)
        first = next(v for v in verdicts if v["action"] is not None)
        assert (first["rule"], first["action"], first["priority"]) == (
            row.rule,
            row.action,
            row.priority,
        )


def test_bad_quotes_are_only_ever_held_and_rules_record_the_regime(decisions):
    integrity = decisions[decisions.rule == "data_integrity"]
    assert set(integrity.action) == {"hold"}
    assert set(decisions.regime) <= {"crash", "high_vol", "normal", "low_vol", "trending",
                                     "range_bound"}  # fmt: skip
    crash = decisions[decisions.forced == "crash"]
    assert (crash.regime == "crash").mean() > 0.5
    take = decisions[decisions.rule == "dynamic_take_profit"]
    for row in take.itertuples(index=False):
        inputs = json.loads(row.inputs)
        assert inputs["regime"] == row.regime
        assert inputs["threshold"] == {
            "crash": 0.40, "high_vol": 0.50, "normal": 0.80, "low_vol": 0.90,
            "trending": 0.85, "range_bound": 0.80,
        }[row.regime]  # fmt: skip
