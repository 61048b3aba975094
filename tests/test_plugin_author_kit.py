"""The fixtures and builders V6 ships for plugin authors (``v6.testing``), used here the way
a third-party package's tests use them: by fixture name, loaded through V6's ``pytest11``
entry point (nothing in this suite's conftest declares them)."""

from __future__ import annotations

import numpy as np
import pytest

from v6.config import PluginBlock
from v6.domain.decisions import ExitAction, ExitDecision
from v6.domain.plugins import PluginInfo, PluginKind
from v6.domain.positions import PositionStatus
from v6.errors import ConfigError
from v6.hookspecs import hookimpl
from v6.testing.markets import simulated_market
from v6.testing.sessions import with_plugins


def test_the_fixtures_come_from_the_installed_pytest_plugin(pytestconfig):
    from importlib.metadata import entry_points

    (entry,) = [e for e in entry_points(group="pytest11") if e.value.startswith("v6.")]
    assert entry.value == "v6.testing.pytest_plugin"
    assert pytestconfig.pluginmanager.has_plugin(entry.name)


def test_v6_market_is_the_gated_simulated_market_and_repeats_with_its_seed(
    v6_market, v6_chain, v6_config
):
    assert set(v6_market.chains) == {"SPY", "QQQ", "IWM"}
    assert v6_market.market_open and v6_market.time.tzinfo is not None
    assert v6_chain is v6_market.chains["SPY"]
    assert v6_chain.valid.any() and len(v6_chain) > 100
    again = simulated_market(v6_config).view
    assert again.chains["SPY"].spot == v6_chain.spot
    np.testing.assert_array_equal(again.chains["SPY"].bid, v6_chain.bid)
    other_seed = simulated_market(v6_config, cycles=5, seed=99).view
    assert (
        other_seed.chains["SPY"].spot
        != simulated_market(v6_config, cycles=5).view.chains["SPY"].spot
    )


def test_v6_history_holds_thirty_cycles_oldest_first(v6_history):
    assert v6_history.times.shape == (30,)
    assert np.all(np.diff(v6_history.times.astype(np.int64)) > 0)
    assert v6_history.spots["SPY"].shape == v6_history.vix.shape == (30,)
    assert np.isfinite(v6_history.atm_iv["QQQ"]).all()


def test_a_simulated_market_of_too_few_days_says_so(v6_config):
    with pytest.raises(ValueError, match=r"raise sim\.days"):
        simulated_market(v6_config, cycles=10_000)


def test_v6_position_is_an_iron_condor_booked_at_mid_and_v6_mark_values_it(
    v6_position, v6_mark, v6_market
):
    assert v6_position.status is PositionStatus.OPEN
    assert [leg.ratio for leg in v6_position.legs] == [-1, 1, -1, 1]
    assert v6_position.entry_price < 0  # a credit
    assert v6_position.max_loss > 0 and v6_position.max_profit > 0
    assert v6_position.opened_at == v6_market.time
    assert v6_mark.position is v6_position and v6_mark.quotes_valid
    # Opened at mid and marked at the same quotes: no P&L, closing at natural costs more.
    assert v6_mark.unrealized_pnl == pytest.approx(0.0, abs=1e-6)
    assert v6_mark.close_natural > v6_mark.close_mid


class CloseEverything:
    """An exit rule registered for one test: closes every position it sees."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    @hookimpl
    def v6_plugin_info(self):
        return PluginInfo(
            name="close_everything", kind=PluginKind.EXIT_RULE, summary="test", priority=1
        )

    @hookimpl
    def v6_evaluate_exit(self, mark):
        self.seen.append(mark.position.position_id)
        return ExitDecision(action=ExitAction.CLOSE, reason="test closes", inputs={})


def test_v6_engine_runs_chosen_plugins_cycle_by_cycle_on_its_own_store(v6_engine, tmp_path):
    rule = CloseEverything()
    sim = v6_engine(
        extra_plugins=[("close_everything", rule)],
        exit_rules={"close_everything": {}, "hold": {}},
    )
    assert [a.plugin.name for a in sim.engine.plugins.exit_rules] == ["close_everything", "hold"]
    reports = sim.run(12)
    assert [r.cycle for r in reports] == list(range(1, 13))
    assert rule.seen, "positions were opened and judged"
    positions = sim.table("positions")
    # An entry the simulated broker never filled is closed as "unfilled", not by a rule.
    assert set(positions["exit_rule"].dropna()) <= {"", "close_everything", "unfilled"}
    assert str(tmp_path) in sim.config.store.path


def test_v6_session_runs_a_whole_session_and_returns_its_tables(v6_session):
    rule = CloseEverything()
    session = v6_session(
        cycles=15,
        extra_plugins=[("close_everything", rule)],
        exit_rules={"close_everything": {"priority": 2}, "hold": {}},
    )
    assert "15 cycles" in session.output
    latest = session.positions()
    assert latest["position_id"].is_unique and not latest.empty
    closed = latest[latest["status"] == "closed"]
    assert set(closed["exit_rule"]) - {"unfilled"} == {"close_everything"}
    assert session.alerts("plugin_error").empty
    assert set(session.orders()["order_ref"]) == set(session.table("orders")["order_ref"])


def test_with_plugins_takes_yaml_blocks_and_names_the_key_path_of_a_mistake(v6_config):
    cfg = with_plugins(v6_config, exit_rules={"stop_loss": {"priority": 3}, "hold": PluginBlock()})
    assert cfg.plugins.exit_rules == {"stop_loss": PluginBlock(priority=3), "hold": PluginBlock()}
    assert cfg.plugins.strategies == v6_config.plugins.strategies
    with pytest.raises(ConfigError) as raised:
        with_plugins(v6_config, strategies={"iron_condor": {"setings": {}}})
    assert raised.value.path == "plugins.strategies.iron_condor.setings"
