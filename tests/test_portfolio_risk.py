"""PortfolioRiskCalculator: Greeks, beta weighting, margin and full-revaluation stress."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import attrs
import numpy as np
import pytest
from builders import NOW, contract, iron_condor

from v6.config import RiskSettings
from v6.domain.contracts import Leg
from v6.domain.market import MarketView, OptionChain, UnderlyingQuote
from v6.domain.positions import Position, PositionStatus
from v6.domain.risk import StressScenario
from v6.pricing import bsm_greeks, bsm_price
from v6.risk.portfolio_risk import PortfolioRiskCalculator

EXPIRY = date(2026, 1, 30)
RATE = 0.04
SPOTS = {"SPY": 600.0, "QQQ": 500.0, "IWM": 220.0}


def years_to(expiry: date, now: datetime = NOW) -> float:
    close = datetime(expiry.year, expiry.month, expiry.day, 16, tzinfo=ZoneInfo("America/New_York"))
    return max(0.0, (close - now).total_seconds()) / (365 * 86400)


def smile(strike: np.ndarray, spot: float) -> np.ndarray:
    """Puts richer than calls, as on an index: makes the test numbers less symmetric."""
    return 0.18 - 0.4 * np.log(strike / spot)


def bsm_chain(underlying: str, spot: float, width: float = 0.25) -> OptionChain:
    """Puts and calls every 5 points within ``width`` of spot, Greeks by BSM (so they agree
    with the stress revaluation)."""
    k = np.arange(round(spot * (1 - width) / 5) * 5, spot * (1 + width) + 1, 5.0)
    strike = np.concatenate([k, k])
    is_call = np.repeat([False, True], k.size)
    iv = smile(strike, spot)
    g = bsm_greeks(spot, strike, years_to(EXPIRY), RATE, 0.0, iv, is_call)
    n = strike.size
    return OptionChain(
        underlying=underlying,
        as_of=NOW,
        spot=spot,
        expiry=np.full(n, np.datetime64(EXPIRY, "D")),
        strike=strike,
        is_call=is_call,
        bid=g.price - 0.05,
        ask=g.price + 0.05,
        iv=iv,
        delta=g.delta,
        gamma=g.gamma,
        vega=g.vega,
        theta=g.theta,
        quote_time=np.full(n, np.datetime64(NOW.replace(tzinfo=None), "us")),
    )


def market_of(*chains: OptionChain, quotes: dict[str, float] | None = None) -> MarketView:
    quotes = quotes if quotes is not None else {c.underlying: c.spot for c in chains}
    return MarketView(
        time=NOW,
        underlyings={u: UnderlyingQuote(u, s - 0.01, s + 0.01, s, NOW) for u, s in quotes.items()},
        chains={c.underlying: c for c in chains},
        vix=16.0,
    )


def default_market() -> MarketView:
    return market_of(*(bsm_chain(u, s) for u, s in SPOTS.items()))


def position(
    legs: tuple[Leg, ...],
    quantity: int = 1,
    max_loss: float = 400.0,
    status: PositionStatus = PositionStatus.OPEN,
    pid: str = "p1",
) -> Position:
    return Position(
        position_id=pid,
        strategy="test",
        underlying=legs[0].contract.underlying,
        structure="test",
        legs=legs,
        quantity=quantity,
        entry_price=-1.0,
        opened_at=NOW,
        status=status,
        max_profit=100.0,
        max_loss=max_loss,
    )


def short_put(strike: float, underlying: str = "SPY") -> tuple[Leg, ...]:
    return (Leg(contract(strike, "P", underlying, EXPIRY), -1),)


def put_spread(short: float, long: float, underlying: str = "SPY") -> tuple[Leg, ...]:
    return (
        Leg(contract(long, "P", underlying, EXPIRY), 1),
        Leg(contract(short, "P", underlying, EXPIRY), -1),
    )


def call_spread(short: float, long: float, underlying: str = "SPY") -> tuple[Leg, ...]:
    return (
        Leg(contract(short, "C", underlying, EXPIRY), -1),
        Leg(contract(long, "C", underlying, EXPIRY), 1),
    )


def row(chain: OptionChain, strike: float, is_call: bool) -> int:
    return int(np.flatnonzero((chain.strike == strike) & (chain.is_call == is_call))[0])


@pytest.fixture
def calc() -> PortfolioRiskCalculator:
    return PortfolioRiskCalculator(RiskSettings(risk_free_rate=RATE))


# -- scenarios and empty books ---------------------------------------------------------


def test_scenarios_are_every_pair_with_spot_moves_outer_in_config_order():
    settings = RiskSettings(spot_moves=[-0.1, 0.0, 0.05], vol_shifts=[0.2, -0.05])
    scenarios = PortfolioRiskCalculator(settings).scenarios
    assert scenarios == tuple(StressScenario(m, v) for m in (-0.1, 0.0, 0.05) for v in (0.2, -0.05))


def test_no_positions_is_the_empty_risk_with_the_scenarios(calc):
    market = default_market()
    risk = calc.compute([], market)
    assert len(risk) == 0
    assert risk.time == market.time
    assert risk.scenarios == calc.scenarios
    assert risk.stress_pnl.shape == (36, 0)
    assert risk.worst_scenario() == (None, 0.0)


# -- Greeks ------------------------------------------------------------------------------


@pytest.mark.parametrize("quantity", [1, 3])
def test_short_put_greeks_are_minus_chain_greeks_times_units_and_multiplier(calc, quantity):
    market = default_market()
    chain = market.chains["SPY"]
    i = row(chain, 580.0, False)
    risk = calc.compute([position(short_put(580.0), quantity)], market)
    assert risk.valid.tolist() == [True]
    assert risk.delta[0] == pytest.approx(-chain.delta[i] * 100 * quantity)
    assert risk.gamma[0] == pytest.approx(-chain.gamma[i] * 100 * quantity)
    assert risk.vega[0] == pytest.approx(-chain.vega[i] * quantity)  # x100 shares / 100 pts
    assert risk.theta[0] == pytest.approx(-chain.theta[i] * 100 * quantity)
    assert risk.delta[0] > 0 and risk.theta[0] > 0 and risk.vega[0] < 0


def test_iron_condor_is_near_delta_neutral_and_short_vega_gamma_long_theta(calc):
    market = default_market()
    chain = market.chains["SPY"]
    # Short strikes at the listed 16-delta put and call, as a delta-target selector picks.
    puts, calls = ~chain.is_call, chain.is_call
    short_put = chain.strike[puts][np.argmin(np.abs(chain.delta[puts] + 0.16))]
    short_call = chain.strike[calls][np.argmin(np.abs(chain.delta[calls] - 0.16))]
    condor = (
        Leg(contract(short_put - 10, "P", "SPY", EXPIRY), 1),
        Leg(contract(short_put, "P", "SPY", EXPIRY), -1),
        Leg(contract(short_call, "C", "SPY", EXPIRY), -1),
        Leg(contract(short_call + 10, "C", "SPY", EXPIRY), 1),
    )
    risk = calc.compute([position(condor)], market)
    short_put_shares = abs(chain.delta[row(chain, short_put, False)]) * 100
    assert abs(risk.delta[0]) < 0.25 * short_put_shares
    assert risk.vega[0] < 0
    assert risk.gamma[0] < 0
    assert risk.theta[0] > 0


def test_beta_delta_converts_qqq_shares_to_spy_shares(calc):
    market = market_of(bsm_chain("QQQ", 500.0), bsm_chain("SPY", 600.0))
    risk = calc.compute(
        [position(short_put(480.0, "QQQ"), pid="q"), position(short_put(580.0), pid="s")],
        market,
    )
    q, s = risk.index("q"), risk.index("s")
    assert risk.beta_delta[q] == pytest.approx(risk.delta[q] * 500.0 * 1.2 / 600.0)
    assert risk.beta_delta[s] == pytest.approx(risk.delta[s])


def test_beta_delta_without_a_reference_quote_is_delta_times_beta(calc):
    market = market_of(bsm_chain("QQQ", 500.0))  # no SPY anywhere
    risk = calc.compute([position(short_put(480.0, "QQQ"))], market)
    assert risk.valid[0]
    assert risk.beta_delta[0] == pytest.approx(risk.delta[0] * 1.2)


def test_totals_and_by_underlying_are_sums_of_positions_and_margin_is_max_loss(calc):
    market = default_market()
    book = [
        position(put_spread(580, 570), pid="a", max_loss=800.0),
        position(call_spread(620, 630), quantity=2, pid="b", max_loss=1700.0),
        position(put_spread(480, 470, "QQQ"), pid="c", max_loss=900.0),
    ]
    risk = calc.compute(book, market)
    assert risk.margin.tolist() == risk.max_loss.tolist() == [800.0, 1700.0, 900.0]
    totals = risk.totals()
    assert totals.positions == 3
    for name in ("delta", "beta_delta", "gamma", "vega", "theta", "max_loss", "margin"):
        assert getattr(totals, name) == pytest.approx(getattr(risk, name).sum())
    by = risk.by_underlying()
    assert set(by) == {"SPY", "QQQ"}
    assert by["SPY"].delta == pytest.approx(risk.delta[0] + risk.delta[1])
    assert by["QQQ"].vega == pytest.approx(risk.vega[2])
    assert by["SPY"].max_loss + by["QQQ"].max_loss == pytest.approx(totals.max_loss)


# -- stress ------------------------------------------------------------------------------


def test_short_put_spread_crash_pnl_is_the_hand_revaluation_and_bounded_by_width(calc):
    market = default_market()
    chain = market.chains["SPY"]
    units = 2
    risk = calc.compute([position(put_spread(580, 570), quantity=units)], market)
    spot = market.underlyings["SPY"].mid
    strikes = np.array([570.0, 580.0])
    ratios = np.array([1.0, -1.0])
    iv = chain.iv[[row(chain, 570, False), row(chain, 580, False)]]
    t = years_to(EXPIRY)
    base = bsm_price(spot, strikes, t, RATE, 0.0, iv, False) @ ratios
    for shift in (0.0, 0.10, -0.05):
        crashed = bsm_price(spot * 0.9, strikes, t, RATE, 0.0, iv + shift, False) @ ratios
        s = calc.scenarios.index(StressScenario(-0.10, shift))
        assert risk.stress_pnl[s, 0] == pytest.approx((crashed - base) * units * 100)
    assert -risk.stress_pnl.min() <= 10.0 * 100 * units  # a 10-wide spread, per unit
    assert risk.stress_pnl[calc.scenarios.index(StressScenario(0.0, 0.0)), 0] == 0.0


def test_stress_vol_is_floored_at_one_point():
    calc = PortfolioRiskCalculator(RiskSettings(spot_moves=[0.0], vol_shifts=[-5.0]))
    market = default_market()
    chain = market.chains["SPY"]
    risk = calc.compute([position(short_put(580.0))], market)
    spot, t, iv = market.underlyings["SPY"].mid, years_to(EXPIRY), chain.iv[row(chain, 580, False)]
    expected = (
        -(
            bsm_price(spot, 580.0, t, 0.04, 0.0, 0.01, False)
            - bsm_price(spot, 580.0, t, 0.04, 0.0, iv, False)
        )
        * 100
    )
    assert risk.stress_pnl[0, 0] == pytest.approx(float(expected))
    assert np.isfinite(risk.stress_pnl).all()


def test_worst_scenario_is_the_crash_for_puts_and_the_rally_for_calls(calc):
    market = default_market()
    moves = RiskSettings().spot_moves
    puts = calc.compute([position(put_spread(580, 570))], market)
    calls = calc.compute([position(call_spread(620, 630))], market)
    worst_put, put_loss = puts.worst_scenario()
    worst_call, call_loss = calls.worst_scenario()
    assert worst_put is not None and worst_put.spot_move == min(moves)
    assert worst_call is not None and worst_call.spot_move == max(moves)
    assert put_loss > 0 and call_loss > 0


# -- invalid data ------------------------------------------------------------------------


def _spoil(chain: OptionChain, i: int, field: str, value: float) -> OptionChain:
    values = getattr(chain, field).copy()
    values[i] = value
    return attrs.evolve(chain, **{field: values})


@pytest.mark.parametrize(
    "spoil",
    ["nan_gamma", "nan_iv", "nan_theta", "invalid_quote", "unlisted_leg", "no_chain", "no_spot"],
)
def test_unvaluable_position_is_invalid_with_zero_greeks_and_full_loss_everywhere(calc, spoil):
    market = default_market()
    spy = market.chains["SPY"]
    i = row(spy, 570, False)  # the long leg of the spread under test
    chains = dict(market.chains)
    quotes = {u: q.mid for u, q in market.underlyings.items()}
    legs = put_spread(580, 570)
    if spoil == "nan_gamma":
        chains["SPY"] = _spoil(spy, i, "gamma", np.nan)
    elif spoil == "nan_iv":
        chains["SPY"] = _spoil(spy, i, "iv", np.nan)
    elif spoil == "nan_theta":
        chains["SPY"] = _spoil(spy, i, "theta", np.inf)
    elif spoil == "invalid_quote":
        valid = spy.valid.copy()
        valid[i] = False
        chains["SPY"] = spy.with_validity(valid)
    elif spoil == "unlisted_leg":
        legs = put_spread(580, 571)
    elif spoil == "no_chain":
        del chains["SPY"]
    elif spoil == "no_spot":
        quotes["SPY"] = float("nan")
        chains["SPY"] = attrs.evolve(spy, spot=float("nan"))
    spoiled = MarketView(
        time=NOW,
        underlyings={u: UnderlyingQuote(u, s, s, s, NOW) for u, s in quotes.items()},
        chains=chains,
        vix=16.0,
    )
    bad = position(legs, max_loss=750.0, pid="bad")
    good = position(put_spread(480, 470, "QQQ"), pid="good")
    risk = calc.compute([bad, good], spoiled)
    assert risk.valid.tolist() == [False, True]
    for name in ("delta", "beta_delta", "gamma", "vega", "theta"):
        assert getattr(risk, name)[0] == 0.0
    assert (risk.stress_pnl[:, 0] == -750.0).all()
    assert risk.max_loss[0] == risk.margin[0] == 750.0
    alone = calc.compute([good], spoiled)
    np.testing.assert_allclose(risk.stress_pnl[:, 1], alone.stress_pnl[:, 0])
    assert risk.delta[1] == pytest.approx(alone.delta[0]) and risk.delta[1] != 0.0


# -- units, composition ------------------------------------------------------------------


def test_working_entry_with_nothing_filled_counts_one_unit(calc):
    market = default_market()
    opening = calc.compute(
        [position(put_spread(580, 570), quantity=0, status=PositionStatus.OPENING)], market
    )
    held = calc.compute([position(put_spread(580, 570), quantity=1)], market)
    assert opening.valid[0]
    assert opening.delta[0] == pytest.approx(held.delta[0]) and held.delta[0] != 0.0
    assert opening.vega[0] == pytest.approx(held.vega[0])
    np.testing.assert_allclose(opening.stress_pnl, held.stress_pnl)


def test_closed_position_carries_no_risk_even_when_its_contracts_are_gone(calc):
    market = default_market()
    gone = put_spread(580, 571)  # not listed any more
    risk = calc.compute(
        [position(gone, quantity=0, status=PositionStatus.CLOSED, max_loss=1000.0)], market
    )
    assert risk.valid[0]
    assert risk.delta[0] == risk.vega[0] == risk.max_loss[0] == risk.margin[0] == 0.0
    assert (risk.stress_pnl == 0.0).all()


def test_combined_with_a_candidate_equals_computing_the_whole_book(calc):
    market = default_market()
    book = [
        position(put_spread(580, 570), pid="a"),
        position(call_spread(520, 530, "QQQ"), pid="b"),
    ]
    candidate = position(iron_condor("IWM"), pid="cand", max_loss=300.0)
    # builders' condor strikes (90..110) are not in the IWM chain: use listed ones.
    candidate = attrs.evolve(
        candidate,
        legs=(
            Leg(contract(200, "P", "IWM", EXPIRY), 1),
            Leg(contract(205, "P", "IWM", EXPIRY), -1),
            Leg(contract(235, "C", "IWM", EXPIRY), -1),
            Leg(contract(240, "C", "IWM", EXPIRY), 1),
        ),
    )
    current = calc.compute(book, market)
    after = current.combined(calc.compute([candidate], market))
    whole = calc.compute([*book, candidate], market)
    assert after.position_ids == ("a", "b", "cand")
    for name in ("delta", "beta_delta", "gamma", "vega", "theta", "max_loss", "stress_pnl"):
        np.testing.assert_allclose(getattr(after, name), getattr(whole, name))
    assert after.totals().max_loss == current.totals().max_loss + 300.0
    assert after.totals().worst_stress_loss == pytest.approx(whole.totals().worst_stress_loss)


def test_positions_on_two_underlyings_match_computing_each_alone(calc):
    market = default_market()
    spy = position(put_spread(580, 570), pid="spy")
    qqq = position(call_spread(520, 530, "QQQ"), quantity=2, pid="qqq")
    both = calc.compute([spy, qqq], market)
    assert both.underlyings == ("SPY", "QQQ")
    assert both.valid.all()
    for i, alone in enumerate((calc.compute([spy], market), calc.compute([qqq], market))):
        for name in ("delta", "beta_delta", "gamma", "vega", "theta"):
            assert getattr(both, name)[i] == pytest.approx(getattr(alone, name)[0])
        np.testing.assert_allclose(both.stress_pnl[:, i], alone.stress_pnl[:, 0])
    assert both.delta[0] != both.delta[1]


@pytest.mark.parametrize("q", [0.0, 0.013, 0.03])
def test_stress_revalues_with_the_dividend_yield_the_chain_was_priced_with(calc, q):
    """One source of dividends: the simulator pays 1.3% and prices its chains with it, so
    the stress revaluation must use the same yield (it used 0 whatever the chain said)."""
    market = default_market()
    chain = attrs.evolve(market.chains["SPY"], dividend_yield=q)
    market = attrs.evolve(market, chains={**market.chains, "SPY": chain})
    risk = calc.compute([position(put_spread(580, 570))], market)
    spot = market.underlyings["SPY"].mid
    strikes = np.array([570.0, 580.0])
    ratios = np.array([1.0, -1.0])
    iv = chain.iv[[row(chain, 570, False), row(chain, 580, False)]]
    t = years_to(EXPIRY)
    base = bsm_price(spot, strikes, t, RATE, q, iv, False) @ ratios
    crashed = bsm_price(spot * 0.9, strikes, t, RATE, q, iv, False) @ ratios
    s = calc.scenarios.index(StressScenario(-0.10, 0.0))
    assert risk.stress_pnl[s, 0] == pytest.approx((crashed - base) * 100)


def test_simulated_chains_carry_the_underlyings_dividend_yield():
    from v6.config_loader import load_config
    from v6.market.calendar import ExchangeCalendar
    from v6.market.sim_market import SimMarket

    cfg = load_config(None)
    market = SimMarket(cfg.sim, list(cfg.underlyings), ExchangeCalendar())
    view = market.snapshot(datetime(2026, 1, 5, 15, 0, tzinfo=UTC))
    for symbol, chain in view.chains.items():
        assert chain.dividend_yield == cfg.sim.underlyings[symbol].dividend_yield > 0
