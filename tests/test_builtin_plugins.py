"""The built-in plugins and the example iron fly, called through their hooks on hand-made data.

Chains are priced with the real Black-Scholes-Merton model (``v6.pricing.bsm_greeks``), so
deltas and premiums have realistic shapes; expected strikes are computed independently
from the chain's own arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import attrs
import numpy as np
import pytest
from builders import iron_condor as condor_legs
from builders import market
from v6_iron_fly import iron_fly
from v6_plugins.exit_rules import days_to_expiry, stop_loss, take_profit
from v6_plugins.regimes import volatility_regime
from v6_plugins.strategies import bear_call_spread, bull_put_spread, iron_condor
from v6_plugins.strike_selectors import delta_target

from v6.conversion import structure
from v6.domain.contracts import Right
from v6.domain.decisions import ExitAction, Regime, RegimeReading
from v6.domain.entries import EntryCandidate, LegTemplate, NoSelection, StrikeSelection
from v6.domain.market import MarketHistory, OptionChain
from v6.domain.positions import Position, PositionMark, PositionStatus
from v6.errors import ConfigError
from v6.pricing import bsm_greeks

NOW = datetime(2026, 1, 6, 15, 0, tzinfo=UTC)
EXPIRIES = (date(2026, 1, 16), date(2026, 2, 2), date(2026, 2, 20))  # 10, 27 and 45 DTE


def bsm_chain(
    underlying: str = "SPY",
    spot: float = 100.0,
    strikes: Sequence[float] = tuple(np.arange(70.0, 130.5, 1.0)),
    expiries: Sequence[date] = EXPIRIES,
    vol: float = 0.20,
    half_spread: float = 0.025,
) -> OptionChain:
    """Puts and calls at every strike and expiry, quoted around the BSM price."""
    k1 = np.asarray(strikes, dtype=float)
    per_expiry = 2 * k1.size
    expiry = np.repeat(np.array(expiries, dtype="datetime64[D]"), per_expiry)
    strike = np.tile(np.concatenate([k1, k1]), len(expiries))
    is_call = np.tile(np.repeat([False, True], k1.size), len(expiries))
    t = (expiry - np.datetime64(NOW.date(), "D")).astype(float) / 365.0
    g = bsm_greeks(spot, strike, t, 0.04, 0.0, vol, is_call)
    bid = np.maximum(np.round(g.price - half_spread, 2), 0.0)
    return OptionChain(
        underlying=underlying,
        as_of=NOW,
        spot=spot,
        expiry=expiry,
        strike=strike,
        is_call=is_call,
        bid=bid,
        ask=np.round(bid + 2 * half_spread, 2),
        iv=np.full(strike.size, vol),
        delta=g.delta,
        gamma=g.gamma,
        vega=g.vega,
        theta=g.theta,
        quote_time=np.full(strike.size, np.datetime64(NOW.replace(tzinfo=None), "us")),
    )


def position(
    underlying: str = "SPY",
    status: PositionStatus = PositionStatus.OPEN,
    entry_price: float = -1.00,
    quantity: int = 1,
    max_profit: float = 100.0,
    max_loss: float = 400.0,
    strategy: str = "iron_condor",
) -> Position:
    return Position(
        position_id=f"{strategy}-{underlying}-{status.value}",
        strategy=strategy,
        underlying=underlying,
        structure=strategy,
        legs=condor_legs(underlying),
        quantity=quantity,
        entry_price=entry_price,
        opened_at=NOW,
        status=status,
        max_profit=max_profit,
        max_loss=max_loss,
    )


# -- strategies --------------------------------------------------------------------------

STRATEGIES = [iron_condor, bull_put_spread, bear_call_spread, iron_fly]


def propose(module, view, positions=(), regimes=None, underlyings=("SPY", "QQQ"), **settings):
    return module.v6_propose_entries(
        market=view,
        regimes=regimes or {},
        positions=list(positions),
        underlyings=list(underlyings),
        settings=module.Settings(**settings),
    )


def two_underlyings(**kwargs):
    return market(bsm_chain("SPY"), bsm_chain("QQQ", spot=200.0), now=NOW, **kwargs)


def leg_shape(leg: LegTemplate) -> tuple:
    return (leg.right, leg.ratio, leg.delta, leg.anchor, leg.offset)


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        (
            iron_condor,
            [
                (Right.PUT, -1, 0.2, None, 0.0),
                (Right.PUT, 1, None, 0, -3.0),
                (Right.CALL, -1, 0.2, None, 0.0),
                (Right.CALL, 1, None, 2, 3.0),
            ],
        ),
        (bull_put_spread, [(Right.PUT, -1, 0.2, None, 0.0), (Right.PUT, 1, None, 0, -3.0)]),
        (bear_call_spread, [(Right.CALL, -1, 0.2, None, 0.0), (Right.CALL, 1, None, 0, 3.0)]),
        (
            iron_fly,
            [
                (Right.PUT, -1, 0.2, None, 0.0),
                (Right.CALL, -1, None, 0, 0.0),
                (Right.PUT, 1, None, 0, -3.0),
                (Right.CALL, 1, None, 0, 3.0),
            ],
        ),
    ],
)
def test_each_strategy_proposes_one_candidate_per_underlying_shaped_by_its_settings(
    module, expected
):
    settings = dict(
        short_delta=0.2, wing_width=3.0, min_dte=10, max_dte=30, quantity=2, min_credit=0.4
    )
    candidates = propose(module, two_underlyings(), **settings)
    assert [c.underlying for c in candidates] == ["SPY", "QQQ"]
    for candidate in candidates:
        assert [leg_shape(leg) for leg in candidate.legs] == expected
        assert candidate.strategy == candidate.structure == module.NAME
        assert (candidate.min_dte, candidate.max_dte) == (10, 30)
        assert (candidate.quantity, candidate.min_credit) == (2, 0.4)


def test_default_settings_suit_a_short_simulation():
    condor = iron_condor.Settings()
    assert (condor.short_delta, condor.wing_width, condor.min_credit) == (0.16, 5.0, 0.30)
    assert (condor.min_dte, condor.max_dte, condor.quantity) == (7, 45, 1)
    assert bull_put_spread.Settings().short_delta == bear_call_spread.Settings().short_delta == 0.25
    assert iron_fly.Settings().short_delta == 0.50


@pytest.mark.parametrize("module", STRATEGIES)
def test_no_strategy_proposes_while_the_market_is_closed(module):
    view = two_underlyings()
    closed = type(view)(
        time=view.time,
        underlyings=view.underlyings,
        chains=view.chains,
        vix=view.vix,
        market_open=False,
    )
    assert propose(module, view) != []
    assert propose(module, closed) == []


@pytest.mark.parametrize("module", STRATEGIES)
def test_open_and_working_positions_use_up_the_room_on_an_underlying_but_closed_ones_do_not(
    module,
):
    view = two_underlyings()
    opening = position("SPY", PositionStatus.OPENING, strategy=module.NAME)
    closed = position("QQQ", PositionStatus.CLOSED, strategy=module.NAME)
    assert [c.underlying for c in propose(module, view, [opening, closed])] == ["QQQ"]
    roomier = propose(module, view, [opening, closed], max_positions_per_underlying=2)
    assert [c.underlying for c in roomier] == ["SPY", "QQQ"]


def test_an_underlying_without_a_chain_gets_no_candidate():
    view = market(bsm_chain("SPY"), now=NOW)
    assert [c.underlying for c in propose(iron_condor, view, underlyings=("SPY", "IWM"))] == ["SPY"]


@pytest.mark.parametrize(
    ("module", "regimes_that_block"),
    [
        (iron_condor, {Regime.CRASH}),
        (bear_call_spread, {Regime.CRASH}),
        (bull_put_spread, {Regime.CRASH, Regime.HIGH_VOL}),
        (iron_fly, {Regime.CRASH, Regime.HIGH_VOL}),
    ],
)
def test_strategies_stay_out_of_the_regimes_they_cannot_live_with(module, regimes_that_block):
    view = two_underlyings()
    for regime in Regime:
        readings = {"SPY": RegimeReading("SPY", regime), "QQQ": RegimeReading("QQQ", "normal")}
        proposed = [c.underlying for c in propose(module, view, regimes=readings)]
        assert proposed == (["QQQ"] if regime in regimes_that_block else ["SPY", "QQQ"]), regime


def test_bull_put_spread_may_be_allowed_into_high_volatility_by_config():
    settings = structure(
        bull_put_spread.Settings,
        {"avoid_regimes": ["crash"]},
        path="plugins.strategies.bull_put_spread.settings",
    )
    high = {"SPY": RegimeReading("SPY", Regime.HIGH_VOL)}
    proposed = bull_put_spread.v6_propose_entries(
        market=two_underlyings(), regimes=high, positions=[], underlyings=["SPY"], settings=settings
    )
    assert [c.underlying for c in proposed] == ["SPY"]


@pytest.mark.parametrize(
    ("module", "raw", "path", "expected"),
    [
        (iron_condor, {"max_dte": 5}, "settings", "max_dte 5 must be >= min_dte 7"),
        (bull_put_spread, {"avoid_regimes": ["crsh"]}, "settings.avoid_regimes[0]", "crash"),
        (bear_call_spread, {"wing_width": 0}, "settings.wing_width", "must be > 0"),
        (iron_fly, {"short_delta": 0}, "settings.short_delta", "must be > 0"),
    ],
)
def test_strategy_settings_are_validated_with_the_key_path(module, raw, path, expected):
    with pytest.raises(ConfigError) as raised:
        structure(module.Settings, raw, path="settings")
    assert raised.value.path == path
    assert expected in raised.value.expected


# -- strike selector ---------------------------------------------------------------------


def candidate(legs, min_dte=7, max_dte=45, min_credit=0.0, structure_name="test"):
    return EntryCandidate(
        strategy="test",
        underlying="SPY",
        structure=structure_name,
        legs=legs,
        min_dte=min_dte,
        max_dte=max_dte,
        min_credit=min_credit,
    )


CONDOR = (
    LegTemplate(Right.PUT, -1, delta=0.16),
    LegTemplate(Right.PUT, 1, anchor=0, offset=-5.0),
    LegTemplate(Right.CALL, -1, delta=0.16),
    LegTemplate(Right.CALL, 1, anchor=2, offset=5.0),
)


def pick(cand, chain, **settings):
    return delta_target.v6_select_strikes(
        candidate=cand, chain=chain, settings=delta_target.Settings(**settings)
    )


def nearest_delta_strike(chain: OptionChain, expiry: date, is_call: bool, target: float) -> float:
    rows = (
        (chain.expiry == np.datetime64(expiry))
        & (chain.is_call == is_call)
        & chain.valid
        & (chain.bid > 0)
    )
    return float(chain.strike[rows][np.argmin(np.abs(np.abs(chain.delta[rows]) - target))])


def test_delta_target_picks_the_strikes_nearest_the_target_deltas_on_the_mid_window_expiry():
    chain = bsm_chain()
    selection = pick(candidate(CONDOR, min_dte=7, max_dte=45), chain)
    assert selection.expiry == date(2026, 2, 2)  # 27 DTE is nearest the window's middle (26)
    short_put, long_put, short_call, long_call = (leg.contract for leg in selection.legs)
    put_strike = nearest_delta_strike(chain, date(2026, 2, 2), False, 0.16)
    call_strike = nearest_delta_strike(chain, date(2026, 2, 2), True, 0.16)
    assert put_strike < 100.0 < call_strike
    assert (short_put.strike, short_put.right) == (put_strike, Right.PUT)
    assert (short_call.strike, short_call.right) == (call_strike, Right.CALL)
    assert (long_put.strike, long_call.strike) == (put_strike - 5, call_strike + 5)
    assert [leg.ratio for leg in selection.legs] == [-1, 1, -1, 1]
    assert {leg.contract.expiry for leg in selection.legs} == {date(2026, 2, 2)}


def test_delta_target_prices_the_structure_at_mid_and_at_natural():
    chain = bsm_chain()
    selection = pick(candidate(CONDOR), chain)
    rows = [chain.index_of(leg.contract) for leg in selection.legs]
    ratios = np.array([leg.ratio for leg in selection.legs], dtype=float)
    mid = (chain.bid[rows] + chain.ask[rows]) / 2
    natural = np.where(ratios > 0, chain.ask[rows], chain.bid[rows]) * ratios
    assert selection.net_mid == pytest.approx(float(ratios @ mid))
    assert selection.net_natural == pytest.approx(float(natural.sum()))
    assert selection.net_natural > selection.net_mid  # crossing the spread costs credit
    assert selection.net_mid < 0  # a condor is sold for a credit


def test_a_target_dte_setting_moves_the_expiry():
    selection = pick(candidate(CONDOR, min_dte=7, max_dte=45), bsm_chain(), target_dte=40)
    assert selection.expiry == date(2026, 2, 20)
    far = pick(candidate(CONDOR, min_dte=60, max_dte=90), bsm_chain())
    assert far == NoSelection("no expiry 60-90 DTE with valid quotes")


def test_a_wing_goes_to_the_listed_strike_nearest_its_offset_beyond_the_short():
    chain = bsm_chain(strikes=tuple(np.arange(70.0, 130.5, 2.5)))
    legs = (
        LegTemplate(Right.PUT, -1, delta=0.16),
        LegTemplate(Right.PUT, 1, anchor=0, offset=-4.0),  # nearest listed: 5 below
        LegTemplate(Right.CALL, -1, delta=0.16),
        LegTemplate(Right.CALL, 1, anchor=2, offset=1.0),  # nearest listed *above*: 2.5
    )
    short_put, long_put, short_call, long_call = (
        leg.contract.strike for leg in pick(candidate(legs), chain).legs
    )
    assert long_put == short_put - 5.0
    assert long_call == short_call + 2.5


def test_an_iron_fly_sells_the_put_and_call_on_one_at_the_money_strike():
    fly = iron_fly.legs(iron_fly.Settings(wing_width=10.0))
    selection = pick(candidate(fly, min_credit=1.0), bsm_chain())
    short_put, short_call, long_put, long_call = (leg.contract for leg in selection.legs)
    assert short_put.strike == short_call.strike == 100.0
    assert (short_put.right, short_call.right) == (Right.PUT, Right.CALL)
    assert (long_put.strike, long_call.strike) == (90.0, 110.0)


def test_too_little_credit_means_no_selection():
    chain = bsm_chain()
    credit = -pick(candidate(CONDOR), chain).net_mid
    assert isinstance(pick(candidate(CONDOR, min_credit=credit - 0.01), chain), StrikeSelection)
    thin = pick(candidate(CONDOR, min_credit=credit + 0.01), chain)
    assert thin == NoSelection(f"credit {credit:.2f} at mid, below the {credit + 0.01:.2f} minimum")


def test_invalid_quotes_are_never_chosen_and_an_all_invalid_chain_selects_nothing():
    chain = bsm_chain()
    cand = candidate(CONDOR)
    first = pick(cand, chain)
    short_put = first.legs[0].contract
    valid = chain.valid.copy()
    valid[chain.index_of(short_put)] = False
    moved = pick(cand, chain.with_validity(valid))
    assert moved.legs[0].contract != short_put
    assert moved.legs[0].contract.strike == nearest_delta_strike(
        chain.with_validity(valid), first.expiry, False, 0.16
    )
    nothing = pick(cand, chain.with_validity(np.zeros(len(chain), dtype=bool)))
    assert isinstance(nothing, NoSelection) and "with valid quotes" in nothing.reason


def test_a_short_leg_is_never_sold_into_a_zero_bid():
    chain = bsm_chain()
    cand = candidate(CONDOR)
    short_call = pick(cand, chain).legs[2].contract
    bid = chain.bid.copy()
    bid[chain.index_of(short_call)] = 0.0
    no_bid = attrs.evolve(chain, bid=bid)
    assert no_bid.valid.all()  # the quote passed the gate; only the zero bid rules it out
    # A loose spread limit, so the zero bid alone (not the 100% wide market) excludes it.
    assert pick(cand, no_bid, max_spread_fraction=10.0).legs[2].contract != short_call
    assert pick(cand, no_bid).legs[2].contract != short_call


def test_legs_that_collapse_onto_one_contract_or_undefined_risk_select_nothing():
    chain = bsm_chain()
    twice = (LegTemplate(Right.PUT, -1, delta=0.16), LegTemplate(Right.PUT, 1, delta=0.16))
    assert pick(candidate(twice), chain) == NoSelection("two legs landed on one contract")
    naked_call = (LegTemplate(Right.CALL, -1, delta=0.16),)
    undefined = NoSelection("the chosen strikes do not define the risk")
    assert pick(candidate(naked_call), chain) == undefined
    covered = (
        LegTemplate(Right.CALL, -1, delta=0.16),
        LegTemplate(Right.CALL, 1, anchor=0, offset=5),
    )
    assert isinstance(pick(candidate(covered), chain), StrikeSelection)


# -- exit rules --------------------------------------------------------------------------


def mark(
    entry_price: float = -1.00,
    close_mid: float = 0.50,
    dte: int = 10,
    valid: bool = True,
    quantity: int = 1,
    max_profit: float = 100.0,
    max_loss: float = 400.0,
    fraction: float | None = None,
) -> PositionMark:
    """A position valued at ``close_mid``; P&L follows the PositionMark definitions."""
    held = position(
        entry_price=entry_price, quantity=quantity, max_profit=max_profit, max_loss=max_loss
    )
    pnl = (-close_mid - entry_price) * 100 * quantity
    if fraction is None:
        fraction = pnl / max_profit if max_profit > 0 else float("nan")
    return PositionMark(
        position=held,
        time=NOW,
        spot=100.0,
        close_mid=close_mid,
        close_natural=close_mid + 0.10,
        unrealized_pnl=pnl,
        pnl_fraction_of_max_profit=fraction,
        dte=dte,
        quotes_valid=valid,
    )


def evaluate(module, m: PositionMark, **settings):
    return module.v6_evaluate_exit(mark=m, settings=module.Settings(**settings))


def test_take_profit_closes_at_its_share_of_max_profit_and_not_before():
    # Sold for 1.00 with 100 max profit: buying back at 0.50 captures 50%.
    decision = evaluate(take_profit, mark(close_mid=0.50))
    assert decision.action is ExitAction.CLOSE
    assert decision.inputs["captured_fraction"] == pytest.approx(0.5)
    assert decision.inputs["target"] == 0.5
    assert evaluate(take_profit, mark(close_mid=0.51)) is None
    assert evaluate(take_profit, mark(close_mid=0.70), profit_fraction=0.3) is not None
    assert evaluate(take_profit, mark(close_mid=0.10, fraction=float("nan"))) is None


def test_stop_loss_closes_a_credit_structure_at_a_multiple_of_the_credit():
    # Sold for 1.00: a 2x stop closes when buying back costs 3.00.
    decision = evaluate(stop_loss, mark(close_mid=3.00))
    assert decision.action is ExitAction.CLOSE
    assert decision.inputs["loss_per_share"] == pytest.approx(2.0)
    assert decision.inputs["limit_per_share"] == pytest.approx(2.0)
    assert evaluate(stop_loss, mark(close_mid=2.99)) is None
    assert evaluate(stop_loss, mark(close_mid=2.00), loss_multiple=1.0) is not None
    assert evaluate(stop_loss, mark(close_mid=0.20)) is None  # a winner is never stopped


def test_stop_loss_closes_a_debit_structure_at_a_share_of_its_max_loss():
    # Bought for 2.00 (max loss 200 for one unit): half of it is 1.00 per share.
    debit = dict(entry_price=2.00, max_loss=200.0, max_profit=300.0)
    decision = evaluate(stop_loss, mark(close_mid=-1.00, **debit))
    assert decision.action is ExitAction.CLOSE
    assert decision.inputs["limit_per_share"] == pytest.approx(1.0)
    assert evaluate(stop_loss, mark(close_mid=-1.05, **debit)) is None


def test_days_to_expiry_closes_inside_its_threshold():
    inputs = evaluate(days_to_expiry, mark(dte=1)).inputs
    assert (inputs["dte"], inputs["close_at_dte"]) == (1, 1)
    assert evaluate(days_to_expiry, mark(dte=0)).action is ExitAction.CLOSE
    assert evaluate(days_to_expiry, mark(dte=2)) is None
    assert evaluate(days_to_expiry, mark(dte=3), close_at_dte=3) is not None


@pytest.mark.parametrize(
    ("module", "would_close"),
    [
        (take_profit, mark(close_mid=0.0)),
        (stop_loss, mark(close_mid=9.0)),
        (days_to_expiry, mark(dte=0)),
    ],
)
def test_no_exit_rule_acts_on_a_mark_built_from_bad_quotes(module, would_close):
    assert evaluate(module, would_close) is not None
    assert evaluate(module, attrs.evolve(would_close, quotes_valid=False)) is None


# -- regime ------------------------------------------------------------------------------


def readings_over(vix_path: Sequence[float], underlyings=("SPY",), **overrides) -> list[str]:
    """The SPY regime after each cycle of ``vix_path``, carrying readings forward."""
    settings = volatility_regime.Settings(**overrides)
    chains = [bsm_chain(symbol) for symbol in underlyings]
    previous: dict[str, RegimeReading] = {}
    seen = []
    for i, vix in enumerate(vix_path):
        history = MarketHistory(
            times=np.array([], dtype="datetime64[us]"),
            spots={},
            atm_iv={},
            vix=np.asarray(vix_path[: i + 1], dtype=float),
        )
        previous = volatility_regime.v6_detect_regime(
            market=market(*chains, now=NOW, vix=vix),
            history=history,
            previous=previous,
            settings=settings,
        )
        seen.append(previous["SPY"].regime.value)
    return seen


def test_vix_bands_classify_a_fresh_start():
    for vix, expected in [(12.0, "low_vol"), (18.0, "normal"), (27.0, "high_vol"), (40, "crash")]:
        assert readings_over([vix]) == [expected]


def test_a_regime_is_only_left_one_vix_point_past_the_band_edge():
    path = [22.0, 24.0, 25.4, 26.1, 24.5, 23.9, 12.5, 11.9, 13.8, 14.1]
    # No dwell, so the VIX band's own hysteresis is what is seen (the dwell is tested in
    # test_regime_detector.py).
    assert readings_over(path, min_dwell_cycles=1) == [
        "normal",
        "normal",
        "normal",  # 25.4 is within 1 point of the 25 edge
        "high_vol",
        "high_vol",  # 24.5 is within 1 point of the edge
        "normal",
        "normal",  # 12.5 is within 1 point of the 13 edge
        "low_vol",
        "low_vol",  # 13.8 is within 1 point of the 13 edge
        "normal",
    ]


def test_a_sudden_vix_jump_is_a_crash_before_the_level_gets_there():
    assert readings_over([15.0, 15.2, 20.0])[-1] == "crash"  # +33% on the window's low
    assert readings_over([15.0, 15.2, 19.0])[-1] == "normal"  # +27%


def test_every_underlying_in_the_market_gets_a_reading_with_its_inputs():
    view = market(bsm_chain("SPY"), bsm_chain("QQQ"), bsm_chain("IWM"), now=NOW, vix=18.0)
    history = MarketHistory(np.array([], "datetime64[us]"), {}, {}, np.array([18.0]))
    readings = volatility_regime.v6_detect_regime(
        market=view, history=history, previous={}, settings=volatility_regime.Settings()
    )
    assert set(readings) == {"SPY", "QQQ", "IWM"}
    assert all(r.inputs["vix"] == 18.0 and r.underlying == s for s, r in readings.items())


def intraday_history(annual_vol: float, atm_iv: float, cycles: int = 30, gap_move: float = 0.0):
    """15-minute closes of SPY moving at ``annual_vol`` (fixed seed), with an overnight gap."""
    rng = np.random.default_rng(11)
    step = 900.0
    sigma = annual_vol * np.sqrt(step / volatility_regime.TRADING_SECONDS_PER_YEAR)
    start = datetime(2026, 1, 5, 14, 30)
    times = [start + timedelta(seconds=step * i) for i in range(cycles)]
    # The last cycles come the next morning: a 17-hour gap carrying ``gap_move``.
    times = times[: cycles - 5] + [t + timedelta(hours=17) for t in times[cycles - 5 :]]
    returns = rng.normal(0.0, sigma, cycles)
    returns[cycles - 5] += gap_move
    return MarketHistory(
        times=np.array(times, dtype="datetime64[us]"),
        spots={"SPY": 100.0 * np.exp(np.cumsum(returns))},
        atm_iv={"SPY": np.full(cycles, atm_iv)},
        vix=np.full(cycles, 16.0),
    )


def detect_with(history: MarketHistory) -> RegimeReading:
    return volatility_regime.v6_detect_regime(
        market=market(bsm_chain("SPY"), now=NOW, vix=16.0),
        history=history,
        previous={},
        settings=volatility_regime.Settings(),
    )["SPY"]


def test_an_underlying_moving_far_faster_than_its_options_imply_is_high_vol_while_vix_is_calm():
    wild = detect_with(intraday_history(annual_vol=0.45, atm_iv=0.15))
    assert wild.regime is Regime.HIGH_VOL
    assert wild.inputs["realised_vol"] == pytest.approx(0.45, rel=0.3)
    assert wild.inputs["atm_iv"] == 0.15
    priced_in = detect_with(intraday_history(annual_vol=0.45, atm_iv=0.45))
    assert priced_in.regime is Regime.NORMAL


def test_an_overnight_gap_is_not_counted_as_intraday_realised_volatility():
    gapped = detect_with(intraday_history(annual_vol=0.10, atm_iv=0.15, gap_move=0.03))
    assert gapped.inputs["realised_vol"] == pytest.approx(0.10, rel=0.3)
    assert gapped.regime is Regime.NORMAL


def test_too_short_a_history_leaves_realised_volatility_unmeasured():
    short = detect_with(intraday_history(annual_vol=0.45, atm_iv=0.15, cycles=8))
    assert np.isnan(short.inputs["realised_vol"])
    assert short.regime is Regime.NORMAL
