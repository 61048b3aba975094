"""The twelve exit rules: each built-in fires on a crafted position and market,
and when several would fire the more urgent one wins while every verdict is kept.

Everything runs through the real plugin manager and the engine's DecisionEngine, with the
default rule set the embedded config selects.
"""

from __future__ import annotations

from datetime import timedelta

import attrs
import numpy as np
import pytest
from builders import NOW, chain, market

from v6.config import LimitSettings, PluginBlock, PluginsConfig
from v6.domain.account import AccountSnapshot
from v6.domain.decisions import ExitAction, ExitDecision, Regime, RegimeReading
from v6.domain.market import MarketHistory
from v6.domain.plugins import PluginInfo, PluginKind
from v6.domain.positions import PositionMark
from v6.domain.risk import BreakerStatus, PortfolioRisk, StressScenario
from v6.engine.decision_engine import DecisionEngine
from v6.engine.tracks import MarkTracker
from v6.hookspecs import hookimpl
from v6.plugin_manager import discover, select
from v6.testing.positions import mark
from v6.testing.positions import position as condor

TWELVE = [
    "catastrophe",
    "circuit_breaker",
    "data_integrity",
    "days_to_expiry",
    "stop_loss",
    "trailing_stop",
    "portfolio_limits",
    "dynamic_take_profit",
    "delta_breach",
    "regime_change",
    "time_exit",
    "hold",
]


def history(spots=(100.0, 100.0, 100.0), vix=(16.0, 16.0, 16.0)) -> MarketHistory:
    n = len(spots)
    times = np.array(
        [np.datetime64((NOW - timedelta(minutes=15 * (n - 1 - i))).replace(tzinfo=None), "us")
         for i in range(n)]
    )  # fmt: skip
    return MarketHistory(
        times=times,
        spots={"SPY": np.array(spots, dtype=float)},
        atm_iv={"SPY": np.full(n, 0.2)},
        vix=np.array(vix, dtype=float),
    )


def account(net_liquidation: float = 100_000.0, margin: float = 5_000.0) -> AccountSnapshot:
    return AccountSnapshot(
        time=NOW,
        cash=net_liquidation,
        net_liquidation=net_liquidation,
        buying_power=net_liquidation - margin,
        maintenance_margin=margin,
        realized_pnl=0.0,
        unrealized_pnl=0.0,
        commissions=0.0,
    )


def breakers(*tripped: tuple[str, bool]) -> tuple[BreakerStatus, ...]:
    return tuple(
        BreakerStatus(name=name, tripped=True, reason="test", close_positions=closes)
        for name, closes in tripped
    )


def regime(value: str) -> RegimeReading:
    return RegimeReading(underlying="SPY", regime=Regime(value), reason="test")


@pytest.fixture(scope="module")
def engine() -> DecisionEngine:
    errors: list[str] = []
    active = select(discover(), PluginsConfig())
    return DecisionEngine(active, lambda plugin, error: errors.append(plugin.plugin.name))


def judge(engine: DecisionEngine, m: PositionMark, *, track_of=None, **context):
    """Decide ``m`` with a quiet default context, overridden by ``context``."""
    tracker = MarkTracker()
    for earlier in track_of or []:
        tracker.record([earlier])
    track = tracker.record([m])[m.position.position_id]
    full = {
        "market": market(chain(), vix=16.0),
        "regime": regime("normal"),
        "track": track,
        "history": history(),
        "portfolio": PortfolioRisk.empty(NOW),
        "account": account(),
        "breakers": (),
        "limits": LimitSettings(),
        **context,
    }
    return engine.decide(m, full)


def test_the_default_config_runs_all_twelve_rules_in_priority_order(engine):
    assert [(r.plugin.name, r.priority) for r in engine.rules] == [
        (name, 10 * i) for i, name in enumerate(TWELVE, start=1)
    ]


def test_a_quiet_position_is_held_by_the_last_rule_and_every_rule_gives_a_verdict(engine):
    decision, verdicts = judge(engine, mark(0.80))
    assert (decision.rule, decision.priority, decision.action) == ("hold", 120, ExitAction.HOLD)
    assert [v.rule for v in verdicts] == TWELVE
    assert [v.action for v in verdicts[:-1]] == [None] * 11


# -- each rule fires on its own crafted case ----------------------------------------------


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        ({"history": history(spots=(100.0, 100.0, 93.0))}, "gapped -7.0%"),
        ({"history": history(vix=(16.0, 15.0, 25.0)), "market": market(chain(), vix=25.0)},
         "VIX spiked"),
        ({"market": market(chain(), vix=50.0), "history": history(vix=(48.0, 49.0, 50.0))},
         "VIX 50.0 >= 45"),
        ({"account": account(net_liquidation=10_000.0, margin=12_000.0)}, "margin deficiency"),
    ],
)  # fmt: skip
def test_catastrophe_closes_on_a_gap_a_vix_spike_or_a_margin_deficiency(engine, context, expected):
    decision, _ = judge(engine, mark(0.80), **context)
    assert (decision.rule, decision.action) == ("catastrophe", ExitAction.CLOSE)
    assert expected in decision.reason
    assert decision.alert


def test_a_closing_breaker_closes_and_an_entry_only_breaker_does_not(engine):
    closing, _ = judge(engine, mark(0.80), breakers=breakers(("daily_loss", True)))
    assert (closing.rule, closing.action) == ("circuit_breaker", ExitAction.CLOSE)
    assert "daily_loss" in closing.reason
    entry_only, _ = judge(engine, mark(0.80), breakers=breakers(("stale_data", False)))
    assert entry_only.rule == "hold"


def test_bad_quotes_hold_with_an_alert_even_when_the_numbers_say_stop(engine):
    # A mark built from bad quotes that "shows" a huge loss and a tested short.
    bad = mark(5.00, valid=False, short_deltas=(-0.9, 0.1), dte=0)
    decision, verdicts = judge(engine, bad, history=history(spots=(100.0, 100.0, 90.0)))
    assert (decision.rule, decision.action, decision.alert) == (
        "data_integrity",
        ExitAction.HOLD,
        True,
    )
    # No rule acted on the bad mark: every other verdict is "no opinion" (hold aside).
    acted = {v.rule for v in verdicts if v.action is ExitAction.CLOSE}
    assert acted == set()


def test_expiration_rule_closes_at_its_dte_and_earlier_when_a_short_strike_is_itm(engine):
    at_dte, _ = judge(engine, mark(0.80, dte=1))
    assert (at_dte.rule, at_dte.action) == ("days_to_expiry", ExitAction.CLOSE)
    itm, _ = judge(engine, mark(0.80, dte=4, spot=94.0))  # the 95 put is in the money
    assert itm.rule == "days_to_expiry"
    assert "assignment risk" in itm.reason and "SPY 20260130 95P" in itm.reason
    far, _ = judge(engine, mark(0.80, dte=8, spot=94.0))
    assert far.rule != "days_to_expiry"


def test_stop_loss_closes_at_twice_the_credit(engine):
    decision, _ = judge(engine, mark(3.00))  # 1.00 credit, 3.00 to close: a 2.00 loss
    assert (decision.rule, decision.priority) == ("stop_loss", 50)


def test_trailing_stop_closes_a_confirmed_give_back(engine):
    path = [mark(0.80, time=NOW + timedelta(minutes=15 * i)) for i in range(1)]
    path += [mark(0.40, time=NOW + timedelta(minutes=15 * (i + 1))) for i in range(2)]  # 60%
    path += [mark(0.75, time=NOW + timedelta(minutes=15 * (i + 3))) for i in range(2)]  # 25%
    decision, _ = judge(engine, mark(0.75, time=NOW + timedelta(minutes=75)), track_of=path)
    assert (decision.rule, decision.priority) == ("trailing_stop", 60)


def test_portfolio_limits_close_only_the_biggest_contributor_to_a_breach(engine):
    ids = ("small", "ic-1", "other")
    portfolio = PortfolioRisk(
        time=NOW,
        position_ids=ids,
        underlyings=("SPY", "SPY", "SPY"),
        delta=[40.0, 120.0, 30.0],
        beta_delta=[40.0, 120.0, 30.0],  # 190 > 150 x 1.1
        gamma=[0.0, 0.0, 0.0],
        vega=[0.0, 0.0, 0.0],
        theta=[0.0, 0.0, 0.0],
        max_loss=[400.0, 400.0, 400.0],
        margin=[400.0, 400.0, 400.0],
        valid=[True, True, True],
        scenarios=(StressScenario(0.0, 0.0),),
        stress_pnl=[[0.0, 0.0, 0.0]],
    )
    biggest, _ = judge(engine, mark(0.80), portfolio=portfolio)
    assert (biggest.rule, biggest.priority) == ("portfolio_limits", 70)
    assert "beta_delta" in biggest.reason
    other, _ = judge(engine, mark(0.80, position=condor(position_id="small")), portfolio=portfolio)
    assert other.rule == "hold"


def test_a_stress_loss_breach_closes_the_position_losing_most_in_the_worst_scenario(engine):
    scenarios = (StressScenario(-0.2, 0.1), StressScenario(0.1, 0.0))
    portfolio = PortfolioRisk(
        time=NOW,
        position_ids=("ic-1", "b"),
        underlyings=("SPY", "SPY"),
        delta=[0.0, 0.0], beta_delta=[0.0, 0.0], gamma=[0.0, 0.0], vega=[0.0, 0.0],
        theta=[0.0, 0.0], max_loss=[400.0, 400.0], margin=[400.0, 400.0], valid=[True, True],
        scenarios=scenarios,
        stress_pnl=[[-15_000.0, -5_000.0], [100.0, 100.0]],
    )  # fmt: skip
    decision, _ = judge(engine, mark(0.80), portfolio=portfolio)
    assert decision.rule == "portfolio_limits"
    assert "stress loss (spot -20% vol +10pts)" in decision.reason


@pytest.mark.parametrize(
    ("regime_now", "close_mid", "closes", "threshold"),
    [
        ("high_vol", 0.45, True, 0.50),  # 55% captured, 50% target
        ("normal", 0.45, False, 0.80),
        ("normal", 0.15, True, 0.80),  # 85% captured
        ("low_vol", 0.15, False, 0.90),
        ("crash", 0.55, True, 0.40),
    ],
)
def test_dynamic_take_profit_uses_the_regimes_target_and_records_it(
    engine, regime_now, close_mid, closes, threshold
):
    # Entered in the same regime, so the regime-change rule stays out of it.
    held = condor(entry_regime=regime_now)
    decision, verdicts = judge(engine, mark(close_mid, position=held), regime=regime(regime_now))
    take = next(v for v in verdicts if v.rule == "dynamic_take_profit")
    if closes:
        assert (decision.rule, decision.priority) == ("dynamic_take_profit", 80)
        assert decision.inputs["regime"] == regime_now
        assert decision.inputs["threshold"] == threshold
    else:
        assert take.action is None


def test_delta_breach_closes_the_tested_side(engine):
    decision, _ = judge(engine, mark(1.20, short_deltas=(-0.45, 0.05)))
    assert (decision.rule, decision.priority) == ("delta_breach", 90)
    assert decision.inputs["side"] == "put"


def test_regime_change_closes_when_the_regime_turns_adverse_after_entry(engine):
    changed, _ = judge(engine, mark(0.80), regime=regime("high_vol"))
    assert (changed.rule, changed.priority) == ("regime_change", 100)
    same, _ = judge(
        engine, mark(0.80, position=condor(entry_regime="high_vol")), regime=regime("high_vol")
    )
    assert same.rule == "hold"
    benign, _ = judge(engine, mark(0.80), regime=regime("range_bound"))
    assert benign.rule == "hold"
    calmer, _ = judge(  # opened in high_vol, now only trending: better, not worse
        engine, mark(0.80, position=condor(entry_regime="high_vol")), regime=regime("trending")
    )
    assert calmer.rule == "hold"


def test_time_exit_closes_a_position_held_too_long(engine):
    old = condor(opened_at=NOW - timedelta(days=22))
    decision, _ = judge(engine, mark(0.80, position=old, dte=10))
    assert (decision.rule, decision.priority) == ("time_exit", 110)


# -- precedence: when several would fire, the most urgent wins ----------------------------


@pytest.mark.parametrize(
    ("build", "winner", "also_close"),
    [
        # A gap and a stop: catastrophe (10) over stop_loss (50).
        (lambda: (mark(3.50), {"history": history(spots=(100.0, 100.0, 92.0))}),
         "catastrophe", {"stop_loss"}),
        # A closing breaker and a profit target: breaker (20) over take profit (80).
        (lambda: (mark(0.10), {"breakers": breakers(("daily_loss", True))}),
         "circuit_breaker", {"dynamic_take_profit"}),
        # Expiry day with a stop hit: expiration (40) over stop_loss (50) and time (110).
        (lambda: (mark(3.50, dte=0), {}), "days_to_expiry", {"stop_loss", "time_exit"}),
        # A tested short that is also a stop-out: stop_loss (50) over delta_breach (90).
        (lambda: (mark(3.50, short_deltas=(-0.6, 0.02)), {}), "stop_loss", {"delta_breach"}),
        # Target hit in a changed regime after a long hold: take profit (80) first.
        (lambda: (mark(0.10, position=condor(opened_at=NOW - timedelta(days=30))),
                  {"regime": regime("trending")}),
         "dynamic_take_profit", {"regime_change", "time_exit"}),
    ],
)  # fmt: skip
def test_the_more_urgent_rule_wins_and_the_others_are_recorded_as_outranked(
    engine, build, winner, also_close
):
    m, context = build()
    decision, verdicts = judge(engine, m, **context)
    assert decision.rule == winner
    closing = {v.rule for v in verdicts if v.action is ExitAction.CLOSE}
    assert closing == {winner} | also_close
    ranks = {v.rule: v.priority for v in verdicts}
    assert all(ranks[winner] < ranks[rule] for rule in also_close)


class Exploding:
    """An exit rule at priority 1, before every built-in, that always raises."""

    @hookimpl
    def v6_plugin_info(self) -> PluginInfo:
        return PluginInfo(name="exploding", kind=PluginKind.EXIT_RULE, summary="raises", priority=1)

    @hookimpl
    def v6_evaluate_exit(self, mark):
        raise RuntimeError("boom")


def test_a_rule_that_raises_never_stops_the_others_and_its_error_is_recorded():
    failures: list[str] = []
    discovery = discover(extra=[("exploding", Exploding())])
    config = attrs.evolve(
        PluginsConfig(),
        exit_rules={"exploding": PluginBlock(), "stop_loss": PluginBlock(), "hold": PluginBlock()},
    )
    engine = DecisionEngine(
        select(discovery, config), lambda plugin, error: failures.append(plugin.plugin.name)
    )
    decision, verdicts = judge(engine, mark(3.50))
    assert decision.rule == "stop_loss"
    assert failures == ["exploding"]
    assert verdicts[0].rule == "exploding" and "RuntimeError: boom" in verdicts[0].error


# -- room between the built-ins -------------------------------------------------------


class ClosesOnAnyLoss:
    """A third-party rule between the hard stop (50) and the trailing stop (60): close any
    position showing a loss of at least 0.50 per share."""

    @hookimpl
    def v6_plugin_info(self) -> PluginInfo:
        return PluginInfo(name="wide_stop", kind=PluginKind.EXIT_RULE, summary="test", priority=55)

    @hookimpl
    def v6_evaluate_exit(self, mark):
        if mark.close_mid - 1.00 < 0.50:  # the condor was sold for 1.00
            return None
        return ExitDecision(action=ExitAction.CLOSE, reason="loss >= 0.50", inputs={})


@pytest.fixture(scope="module")
def with_wide_stop() -> DecisionEngine:
    discovery = discover(extra=[("wide_stop", ClosesOnAnyLoss())])
    exit_rules = {name: PluginBlock() for name in (*TWELVE, "wide_stop")}
    active = select(discovery, attrs.evolve(PluginsConfig(), exit_rules=exit_rules))
    return DecisionEngine(active, lambda plugin, error: None)


def test_a_rule_at_55_sits_strictly_between_stop_loss_and_trailing_stop(with_wide_stop):
    order = [(r.plugin.name, r.priority) for r in with_wide_stop.rules]
    at = [name for name, _ in order].index("wide_stop")
    assert order[at - 1 : at + 2] == [("stop_loss", 50), ("wide_stop", 55), ("trailing_stop", 60)]
    assert len({priority for _, priority in order}) == len(order)  # no tie anywhere


def test_a_rule_at_55_loses_to_stop_loss_and_wins_over_trailing_stop(with_wide_stop):
    # A 2.50 loss on a 1.00 credit: the hard stop and wide_stop both close; the stop wins.
    stopped, verdicts = judge(with_wide_stop, mark(3.50))
    assert (stopped.rule, stopped.priority) == ("stop_loss", 50)
    assert next(v for v in verdicts if v.rule == "wide_stop").action is ExitAction.CLOSE
    # A confirmed give-back that is also a 0.60 loss: the trailing stop and wide_stop both
    # close, and wide_stop wins by its number alone: in a tie the name would have put
    # trailing_stop first.
    path = [mark(0.80, time=NOW + timedelta(minutes=15 * i)) for i in range(1)]
    path += [mark(0.40, time=NOW + timedelta(minutes=15 * (i + 1))) for i in range(2)]
    path += [mark(1.60, time=NOW + timedelta(minutes=15 * (i + 3))) for i in range(2)]
    decision, verdicts = judge(
        with_wide_stop, mark(1.60, time=NOW + timedelta(minutes=75)), track_of=path
    )
    assert (decision.rule, decision.priority) == ("wide_stop", 55)
    trailing = next(v for v in verdicts if v.rule == "trailing_stop")
    assert (trailing.action, trailing.priority) == (ExitAction.CLOSE, 60)
