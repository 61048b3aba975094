"""A plugin that raises, in any hook, is isolated: the run goes on and the alert is stored."""

from __future__ import annotations

import attrs
import pytest
from sessions import run, sim_config, table

from v6.config import PluginBlock
from v6.domain.plugins import PluginInfo, PluginKind
from v6.hookspecs import hookimpl

pytestmark = pytest.mark.slow


class Boom(RuntimeError):
    pass


class ExplodingStrategy:
    @hookimpl
    def v6_plugin_info(self):
        return PluginInfo(name="exploding_strategy", kind=PluginKind.STRATEGY, summary="raises")

    @hookimpl
    def v6_propose_entries(self, market):
        raise Boom("strategy blew up")


class ExplodingExitRule:
    """Most urgent rule of all, and always raises: it must not block the others."""

    @hookimpl
    def v6_plugin_info(self):
        return PluginInfo(
            name="exploding_exit", kind=PluginKind.EXIT_RULE, summary="raises", priority=1
        )

    @hookimpl
    def v6_evaluate_exit(self, mark):
        raise Boom("exit rule blew up")


class ExplodingRegime:
    @hookimpl
    def v6_plugin_info(self):
        return PluginInfo(name="exploding_regime", kind=PluginKind.REGIME, summary="raises")

    @hookimpl
    def v6_detect_regime(self, market):
        raise Boom("regime blew up")


class ExplodingSelector:
    @hookimpl
    def v6_plugin_info(self):
        return PluginInfo(
            name="exploding_selector", kind=PluginKind.STRIKE_SELECTOR, summary="raises"
        )

    @hookimpl
    def v6_select_strikes(self, candidate):
        raise Boom("selector blew up")


class BrokenInfo:
    @hookimpl
    def v6_plugin_info(self):
        raise Boom("cannot even describe myself")


def with_plugins(cfg, **sections):
    plugins = cfg.plugins
    for section, names in sections.items():
        blocks = dict(getattr(plugins, section))
        for name in names:
            blocks[name] = PluginBlock()
        if section in ("regime", "strike_selector"):
            blocks = {names[0]: PluginBlock()}
        plugins = attrs.evolve(plugins, **{section: blocks})
    return attrs.evolve(cfg, plugins=plugins)


EXTRA = [
    ("exploding_strategy", ExplodingStrategy()),
    ("exploding_exit", ExplodingExitRule()),
    ("exploding_regime", ExplodingRegime()),
    ("exploding_selector", ExplodingSelector()),
    ("broken_info", BrokenInfo()),
]


def test_failing_strategy_exit_rule_and_regime_are_isolated_and_alerted(tmp_path):
    cfg = with_plugins(
        sim_config(tmp_path / "data", days=3),
        strategies=["exploding_strategy"],
        exit_rules=["exploding_exit"],
    )
    # Beside a working driver: a failing *driver* refuses every entry once its readings
    # expire (tests/test_regime_detectors.py), and this test needs positions.
    regime = {"volatility_regime": PluginBlock(), "exploding_regime": PluginBlock()}
    plugins = attrs.evolve(cfg.plugins, regime=regime, regime_driver="volatility_regime")
    cfg = attrs.evolve(cfg, plugins=plugins)
    run(cfg, extra_plugins=EXTRA)
    alerts = table(cfg, "alerts")
    errors = alerts[alerts["code"] == "plugin_error"]
    assert {"exploding_strategy", "exploding_exit", "exploding_regime"} <= set(errors["source"])
    assert errors["message"].str.contains("Boom").all()
    # The healthy strategies still traded, and less urgent exit rules still decided.
    positions = table(cfg, "positions")
    assert len(set(positions["position_id"])) > 0
    decisions = table(cfg, "decisions")
    assert set(decisions["rule"]) & {"take_profit", "stop_loss", "days_to_expiry"}
    assert "exploding_exit" not in set(decisions["rule"])


def test_failing_strike_selector_blocks_entries_but_not_the_run(tmp_path):
    cfg = with_plugins(
        sim_config(tmp_path / "data", days=1), strike_selector=["exploding_selector"]
    )
    output = run(cfg, extra_plugins=EXTRA)
    assert "cycles" in output
    alerts = table(cfg, "alerts")
    assert "exploding_selector" in set(alerts["source"])
    assert table(cfg, "orders").empty
    entries = table(cfg, "entries")
    assert (entries["outcome"] == "rejected").all() and len(entries) > 0
