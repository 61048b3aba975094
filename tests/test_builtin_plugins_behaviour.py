"""Built-in plugins, called directly through their hooks on hand-made markets."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pytest
from builders import iron_condor as condor_legs
from builders import market
from v6_plugins.exit_rules import days_to_expiry, stop_loss, take_profit
from v6_plugins.regimes import volatility_regime
from v6_plugins.strategies import bear_call_spread, bull_put_spread, iron_condor
from v6_plugins.strike_selectors import delta_target

from v6.domain.decisions import ExitAction, Regime, RegimeReading
from v6.domain.market import MarketHistory, OptionChain
from v6.domain.positions import Position, PositionMark, PositionStatus
from v6.pricing import bsm_greeks

NOW = datetime(2026, 1, 6, 15, 0, tzinfo=UTC)


def priced_chain(
    spot=100.0, expiries=(date(2026, 1, 16), date(2026, 2, 20)), vol=0.2, underlying="SPY"
) -> OptionChain:
    """A BSM-priced chain with 1-point strikes, 0.05-wide quotes around the model price."""
    strikes = np.arange(70.0, 131.0)
    exp = np.repeat(np.array(expiries, dtype="datetime64[D]"), 2 * strikes.size)
    k = np.tile(np.concatenate([strikes, strikes]), len(expiries))
    is_call = np.tile(np.repeat([False, True], strikes.size), len(expiries))
    t = (exp - np.datetime64(NOW.date(), "D")).astype(float) / 365.0
    g = bsm_greeks(spot, k, t, 0.04, 0.0, vol, is_call)
    bid = np.maximum(np.round(g.price - 0.025, 2), 0.0)
    return OptionChain(
        underlying=underlying,
        as_of=NOW,
        spot=spot,
        expiry=exp,
        strike=k,
        is_call=is_call,
        bid=bid,
        ask=bid + 0.05,
        iv=np.full(k.size, vol),
        delta=g.delta,
        gamma=g.gamma,
        vega=g.vega,
        theta=g.theta,
        quote_time=np.full(k.size, np.datetime64(NOW.replace(tzinfo=None), "us")),
    )


def propose(module, view, positions=(), regimes=None, **settings):
    return module.v6_propose_entries(
        market=view,
        regimes=regimes or {},
        positions=list(positions),
        underlyings=["SPY", "QQQ"],
        settings=module.Settings(**settings),
    )


def test_strategies_propose_one_candidate_per_underlying_with_their_own_legs():
    view = market(priced_chain(), priced_chain(underlying="QQQ"), now=NOW)
    (condor,) = [c for c in propose(iron_condor, view) if c.underlying == "SPY"]
    assert [(leg.right.value, leg.ratio) for leg in condor.legs] == [
        ("P", -1),
        ("P", 1),
        ("C", -1),
        ("C", 1),
    ]
    assert [c.underlying for c in propose(bull_put_spread, view)] == ["SPY", "QQQ"]
    bear = propose(bear_call_spread, view)[0]
    assert [(leg.right.value, leg.ratio, leg.offset) for leg in bear.legs] == [
        ("C", -1, 0.0),
        ("C", 1, 5.0),
    ]


def test_strategies_respect_room_per_underlying_and_regimes():
    view = market(priced_chain(), priced_chain(underlying="QQQ"), now=NOW)
    held = Position(
        "p",
        "iron_condor",
        "SPY",
        "iron_condor",
        (),
        1,
        -1.0,
        NOW,
        PositionStatus.OPEN,
        100.0,
        400.0,
    )
    assert [c.underlying for c in propose(iron_condor, view, [held])] == ["QQQ"]
    crash = {"QQQ": RegimeReading("QQQ", Regime.CRASH)}
    assert [c.underlying for c in propose(iron_condor, view, [held], crash)] == []
    high = {"SPY": RegimeReading("SPY", Regime.HIGH_VOL)}
    assert [c.underlying for c in propose(bull_put_spread, view, regimes=high)] == ["QQQ"]


def select(candidate, chain, **settings):
    return delta_target.v6_select_strikes(
        candidate=candidate, chain=chain, settings=delta_target.Settings(**settings)
    )


def condor_candidate(**settings):
    view = market(priced_chain(), now=NOW)
    return next(c for c in propose(iron_condor, view, **settings) if c.underlying == "SPY")


def test_delta_target_picks_the_strikes_nearest_the_target_deltas_on_the_nearest_expiry():
    chain = priced_chain()
    candidate = condor_candidate(min_dte=5, max_dte=20, short_delta=0.16, wing_width=5)
    selection = select(candidate, chain)
    assert selection.expiry == date(2026, 1, 16)
    short_put, long_put, short_call, long_call = selection.legs
    rows = (chain.expiry == np.datetime64("2026-01-16")) & ~chain.is_call
    best_put = chain.strike[rows][np.argmin(np.abs(np.abs(chain.delta[rows]) - 0.16))]
    assert short_put.contract.strike == best_put
    assert long_put.contract.strike == best_put - 5
    assert long_call.contract.strike == short_call.contract.strike + 5
    assert selection.net_mid < 0  # a credit


def test_delta_target_refuses_too_little_credit_and_bad_or_zero_bid_shorts():
    chain = priced_chain()
    assert select(condor_candidate(min_dte=5, max_dte=20, min_credit=50.0), chain) is None
    candidate = condor_candidate(min_dte=5, max_dte=20)
    first = select(candidate, chain)
    short_key = first.legs[0].contract
    i = chain.index_of(short_key)
    valid = chain.valid.copy()
    valid[i] = False
    second = select(candidate, chain.with_validity(valid))
    assert second.legs[0].contract != short_key  # moved to the next-best valid strike
    no_window = condor_candidate(min_dte=100, max_dte=120)
    assert select(no_window, chain) is None


def mark(entry_price=-1.00, close_mid=0.5, dte=10, valid=True, qty=1, max_profit=100.0):
    position = Position(
        "p",
        "iron_condor",
        "SPY",
        "iron_condor",
        condor_legs(),
        qty,
        entry_price,
        NOW,
        PositionStatus.OPEN,
        max_profit * qty,
        400.0 * qty,
    )
    pnl = (-close_mid - entry_price) * 100 * qty
    return PositionMark(
        position, NOW, 100.0, close_mid, close_mid + 0.1, pnl, pnl / (max_profit * qty), dte, valid
    )


@pytest.mark.parametrize(
    ("module", "settings", "fires", "holds"),
    [
        (take_profit, {"profit_fraction": 0.5}, mark(close_mid=0.45), mark(close_mid=0.55)),
        (stop_loss, {"loss_multiple": 2.0}, mark(close_mid=3.0), mark(close_mid=2.9)),
        (days_to_expiry, {"close_at_dte": 1}, mark(dte=1), mark(dte=2)),
    ],
)
def test_exit_rules_fire_at_their_threshold_and_not_before(module, settings, fires, holds):
    cfg = module.Settings(**settings)
    decision = module.v6_evaluate_exit(mark=fires, settings=cfg)
    assert decision.action is ExitAction.CLOSE and decision.inputs
    assert module.v6_evaluate_exit(mark=holds, settings=cfg) is None


@pytest.mark.parametrize("module", [take_profit, stop_loss, days_to_expiry])
def test_exit_rules_never_act_on_a_mark_built_from_bad_quotes(module):
    extreme = mark(close_mid=9.0, dte=0, valid=False)
    assert module.v6_evaluate_exit(mark=extreme, settings=module.Settings()) is None


def detect(vix_path):
    settings = volatility_regime.Settings()
    previous = {}
    regimes = []
    for i, vix in enumerate(vix_path):
        view = market(priced_chain(), now=NOW, vix=vix)
        history = MarketHistory(
            times=np.array([]), spots={}, atm_iv={}, vix=np.array(vix_path[: i + 1], dtype=float)
        )
        previous = volatility_regime.v6_detect_regime(
            market=view, history=history, previous=previous, settings=settings
        )
        regimes.append(previous["SPY"].regime.value)
    return regimes


def test_regime_bands_with_hysteresis_do_not_flap_around_an_edge():
    # A regime is entered and left only 1 VIX point past the band edge (25 here).
    assert detect([22, 24.8, 25.3, 26.2, 24.6, 25.4, 23.8]) == [
        "normal",
        "normal",
        "normal",
        "high_vol",
        "high_vol",
        "high_vol",
        "normal",
    ]
    assert detect([12.0, 13.5, 14.2]) == ["low_vol", "low_vol", "normal"]


def test_a_sudden_vix_jump_is_a_crash_before_the_level_gets_there():
    assert detect([15, 15.5, 21])[-1] == "crash"
    assert detect([15, 36])[-1] == "crash"
