"""The simulated market: a seeded, regime-switching market quoted like a real exchange."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import attrs
import numpy as np
import pytest

from v6.config import SimSettings
from v6.domain.market import MarketView, OptionChain
from v6.errors import V6Error
from v6.market.calendar import ExchangeCalendar
from v6.market.quality import validate_market
from v6.market.sim_clock import SimClock
from v6.market.sim_market import SimMarket
from v6.ports import MarketData

SYMBOLS = ["SPY", "QQQ", "IWM"]
NEW_YORK = ZoneInfo("America/New_York")
START = date(2026, 1, 5)


def ny(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), NEW_YORK).astimezone(UTC)


@pytest.fixture(scope="module")
def calendar() -> ExchangeCalendar:
    return ExchangeCalendar()


def market(calendar: ExchangeCalendar, symbols=SYMBOLS, **overrides) -> SimMarket:
    return SimMarket(attrs.evolve(SimSettings(start=START), **overrides), symbols, calendar)


def run(
    calendar: ExchangeCalendar, sim: SimMarket, days: int, interval: int = 900, start=START
) -> Iterator[MarketView]:
    clock = SimClock(calendar, start, days, interval)
    while (now := clock.next_cycle()) is not None:
        yield sim.snapshot(now)


def near_delta(chain: OptionChain, expiry: np.datetime64, is_call: bool, target: float) -> int:
    rows = np.flatnonzero((chain.expiry == expiry) & (chain.is_call == is_call))
    return int(rows[np.argmin(np.abs(np.abs(chain.delta[rows]) - target))])


def expiry_near(chain: OptionChain, days: int) -> np.datetime64:
    expiries = chain.expiries()
    dte = (expiries - np.datetime64(chain.as_of.date(), "D")).astype(int)
    return expiries[int(np.argmin(np.abs(dte - days)))]


# -- the port and its determinism ------------------------------------------------------


def test_sim_market_is_an_engine_market_data_source(calendar):
    sim = market(calendar)
    assert isinstance(sim, MarketData)
    assert list(sim.symbols) == SYMBOLS
    view = sim.snapshot(ny(START, 10))
    assert set(view.underlyings) == set(SYMBOLS) == set(view.chains)


def test_unknown_symbol_is_refused_with_the_fix(calendar):
    with pytest.raises(V6Error, match=r"TSLA.*sim\.underlyings"):
        market(calendar, symbols=["SPY", "TSLA"])


def _fingerprint(views: list[MarketView]) -> list[np.ndarray]:
    out = []
    for v in views:
        out.append(np.array([v.vix] + [v.underlyings[s].last for s in SYMBOLS]))
        out.extend(np.concatenate([v.chains[s].bid, v.chains[s].ask]) for s in SYMBOLS)
    return out


def test_same_seed_and_times_give_the_same_market(calendar):
    a = _fingerprint(list(run(calendar, market(calendar, seed=11), 2)))
    b = _fingerprint(list(run(calendar, market(calendar, seed=11), 2)))
    assert len(a) == len(b)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_different_seeds_give_different_markets(calendar):
    a = list(run(calendar, market(calendar, seed=11), 2))[-1]
    b = list(run(calendar, market(calendar, seed=12), 2))[-1]
    assert a.underlyings["SPY"].last != b.underlyings["SPY"].last
    assert not np.array_equal(a.chains["QQQ"].bid, b.chains["QQQ"].bid)


def test_same_time_twice_is_the_same_view_and_time_never_runs_back(calendar):
    sim = market(calendar)
    first = sim.snapshot(ny(START, 10))
    later = sim.snapshot(ny(START, 11))
    assert sim.snapshot(ny(START, 11)) is later
    assert later.time > first.time
    with pytest.raises(V6Error, match="forward"):
        sim.snapshot(ny(START, 10, 30))


def test_prices_stand_still_while_the_market_is_shut(calendar):
    friday = date(2026, 1, 9)
    sim = market(calendar)
    at_close = sim.snapshot(ny(friday, 16))
    saturday = sim.snapshot(ny(date(2026, 1, 10), 12))
    monday = sim.snapshot(ny(date(2026, 1, 12), 9, 45))
    assert at_close.market_open and not saturday.market_open and monday.market_open
    assert saturday.underlyings["SPY"].last == at_close.underlyings["SPY"].last
    assert saturday.vix == at_close.vix
    assert monday.underlyings["SPY"].last != saturday.underlyings["SPY"].last


def test_overnight_gaps_are_larger_than_intraday_steps(calendar):
    day, next_day = date(2026, 1, 6), date(2026, 1, 7)
    intraday, overnight = [], []
    for seed in range(40):
        sim = market(calendar, seed=seed, force_regime="calm")
        spots = [
            sim.snapshot(t).underlyings["SPY"].last
            for t in (ny(day, 15, 45), ny(day, 16), ny(next_day, 9, 45))
        ]
        intraday.append(np.log(spots[1] / spots[0]))
        overnight.append(np.log(spots[2] / spots[1]))
    assert np.mean(np.square(overnight)) > 3 * np.mean(np.square(intraday))


# -- chains ----------------------------------------------------------------------------


def test_chains_list_calls_and_puts_on_the_strike_grid_around_spot(calendar):
    settings = SimSettings(start=START)
    view = market(calendar).snapshot(ny(START, 10))
    for symbol, chain in view.chains.items():
        step = settings.underlyings[symbol].strike_step
        assert 1_000 <= len(chain) <= 3_000
        assert np.allclose(chain.strike / step, np.round(chain.strike / step))
        assert np.all(chain.strike > 0)
        assert np.all(chain.quote_time == np.datetime64(view.time.replace(tzinfo=None), "us"))
        dte = chain.dte()
        assert dte.min() >= 0 and dte.max() <= settings.max_dte
        for expiry in chain.expiries():
            calls = np.sort(chain.strike[(chain.expiry == expiry) & chain.is_call])
            puts = np.sort(chain.strike[(chain.expiry == expiry) & ~chain.is_call])
            assert np.array_equal(calls, puts)
            assert len(np.unique(calls)) == len(calls) <= 2 * settings.strikes_per_side + 1
            assert calls[0] < chain.spot < calls[-1]
            # The base step is listed near the money, where strategies pick strikes.
            near = calls[np.abs(calls - chain.spot) <= 5 * step]
            assert np.allclose(np.diff(near), step)


def test_spy_and_qqq_list_daily_expiries_for_the_next_week(calendar):
    today = date(2026, 1, 5)
    view = market(calendar).snapshot(ny(today, 10))
    next_week = set(calendar.sessions_between(today, today + timedelta(days=7)))
    for symbol in ("SPY", "QQQ"):
        listed = {d.astype(date) for d in view.chains[symbol].expiries()}
        assert next_week <= listed
    iwm = {d.astype(date) for d in view.chains["IWM"].expiries()}
    assert all(d.weekday() in (0, 2, 4) for d in iwm if d in next_week)
    third_friday = calendar.third_friday(2026, 1)
    assert all(third_friday in {d.astype(date) for d in c.expiries()} for c in view.chains.values())


@pytest.mark.parametrize(
    "today",
    [date(2026, 3, 30), date(2026, 6, 15), date(2026, 11, 23), date(2026, 12, 21)],
    ids=["good-friday", "juneteenth", "thanksgiving", "christmas"],
)
def test_every_expiry_is_a_trading_session(calendar, today):
    view = market(calendar).snapshot(ny(today, 10))
    for chain in view.chains.values():
        expiries = [d.astype(date) for d in chain.expiries()]
        assert all(calendar.is_session(d) for d in expiries)
        # Each week's Friday options still exist: on the Thursday when Friday is a holiday.
        fridays = [today + timedelta(days=(4 - today.weekday()) % 7 + 7 * k) for k in range(4)]
        assert {calendar.session_on_or_before(f) for f in fridays} <= set(expiries)


def test_quotes_are_never_crossed_or_negative_in_any_regime(calendar):
    for regime in ("calm", "trending", "high_vol", "crash"):
        for view in run(calendar, market(calendar, force_regime=regime), 1, interval=3600):
            for chain in view.chains.values():
                assert np.all(chain.bid >= 0.0)
                assert np.all(chain.ask > chain.bid)
                assert np.allclose(chain.bid * 100, np.round(chain.bid * 100))
            for quote in view.underlyings.values():
                assert 0 < quote.bid < quote.ask and quote.bid <= quote.last <= quote.ask


def test_the_data_quality_gate_accepts_every_simulated_quote_including_expiry_day(calendar):
    # Friday 2026-01-09 is an expiry: its closing cycle prices options with minutes left.
    friday = date(2026, 1, 9)
    sim = market(calendar, force_regime="crash")
    for now in (ny(friday, 9, 45), ny(friday, 15, 45), ny(friday, 16)):
        view, reports = validate_market(sim.snapshot(now), max_age_seconds=120.0)
        assert all(r.rejected_total == 0 for r in reports)
        for chain in view.chains.values():
            greeks = np.vstack([chain.iv, chain.delta, chain.gamma, chain.vega, chain.theta])
            assert np.all(np.isfinite(greeks[:, chain.valid]))
            assert np.all(np.abs(chain.delta) <= 1.0)


def test_deep_out_of_the_money_wings_may_bid_zero_but_never_ask_zero(calendar):
    view = market(calendar).snapshot(ny(START, 10))
    chain = view.chains["SPY"]
    zero = chain.bid == 0.0
    assert zero.any()
    assert np.all(np.abs(chain.delta[zero]) < 0.05)
    assert np.all(chain.ask[zero] > 0.0)


# -- the volatility surface -------------------------------------------------------------


@pytest.mark.parametrize("regime", ["calm", "high_vol", "crash"])
def test_puts_carry_skew_over_calls_at_25_delta(calendar, regime):
    view = market(calendar, force_regime=regime).snapshot(ny(START, 10))
    for chain in view.chains.values():
        for days in (7, 30, 45):
            expiry = expiry_near(chain, days)
            put = near_delta(chain, expiry, False, 0.25)
            call = near_delta(chain, expiry, True, 0.25)
            atm = near_delta(chain, expiry, True, 0.5)
            assert chain.iv[put] > chain.iv[atm] > chain.iv[call]


def _skew_ratio(chain: OptionChain, days: int) -> float:
    expiry = expiry_near(chain, days)
    put = near_delta(chain, expiry, False, 0.25)
    call = near_delta(chain, expiry, True, 0.25)
    return float(chain.iv[put] / chain.iv[call])


def test_the_25_delta_skew_is_index_like_and_moves_with_the_volatility_level(calendar):
    # Published SPY 30-day 25-delta put/call IV ratios sit around 1.1-1.3 (docs/SIM-MARKET.md).
    ratios = {}
    for regime in ("calm", "high_vol", "crash"):
        views = list(run(calendar, market(calendar, force_regime=regime), 5, interval=3600))
        ratios[regime] = np.array([_skew_ratio(v.chains["SPY"], 30) for v in views])
    calm = ratios["calm"]
    assert 1.1 < calm.mean() < 1.3
    assert calm.max() - calm.min() > 0.02  # it moves from day to day, not frozen
    # Stress bids calls as well as puts: the ratio flattens as volatility rises.
    assert calm.mean() > ratios["high_vol"].mean() > ratios["crash"].mean() > 1.0


def _atm_iv(chain: OptionChain, days: int) -> float:
    return float(chain.iv[near_delta(chain, expiry_near(chain, days), True, 0.5)])


def test_term_structure_slopes_up_when_calm_and_inverts_in_stress(calendar):
    start = ny(START, 10)
    calm = market(calendar, force_regime="calm").snapshot(start).chains["SPY"]
    crash = market(calendar, force_regime="crash").snapshot(start).chains["SPY"]
    assert _atm_iv(calm, 2) < _atm_iv(calm, 30) < _atm_iv(calm, 55)
    assert _atm_iv(crash, 2) > _atm_iv(crash, 30) > _atm_iv(crash, 55)
    assert _atm_iv(crash, 30) > 1.5 * _atm_iv(calm, 30)


def test_spreads_widen_in_high_vol_and_crash(calendar):
    # The first snapshot has the same spot in every regime, so the same contracts compare.
    start = ny(START, 10)
    widths = {}
    for regime in ("calm", "high_vol", "crash"):
        view = market(calendar, force_regime=regime).snapshot(start)
        chain = view.chains["SPY"]
        near = np.abs(chain.strike / chain.spot - 1.0) < 0.03
        widths[regime] = (
            float(np.median(((chain.ask - chain.bid) / chain.mid)[near])),
            view.underlyings["SPY"].ask - view.underlyings["SPY"].bid,
        )
    assert widths["calm"][0] < widths["high_vol"][0] < widths["crash"][0]
    assert widths["calm"][1] == pytest.approx(0.01)
    assert widths["calm"][1] < widths["crash"][1]


# -- regimes and VIX --------------------------------------------------------------------


def test_vix_stays_in_a_calm_range_when_calm(calendar):
    vix = [v.vix for v in run(calendar, market(calendar, force_regime="calm"), 5)]
    assert min(vix) >= 10.0 and max(vix) <= 25.0


def test_vix_tracks_spy_30_day_atm_implied_vol(calendar):
    for regime in ("calm", "crash"):
        for view in run(calendar, market(calendar, force_regime=regime), 2, interval=7200):
            iv30 = _atm_iv(view.chains["SPY"], 30)
            assert view.vix == pytest.approx(100 * iv30, rel=0.2)


def test_crash_brings_large_falls_and_a_vix_spike(calendar):
    falls, worst_crash, worst_calm = [], [], []
    for seed in range(8):
        crash = list(run(calendar, market(calendar, ["SPY"], seed=seed, force_regime="crash"), 3))
        calm = list(run(calendar, market(calendar, ["SPY"], seed=seed, force_regime="calm"), 3))
        spy = np.array([v.underlyings["SPY"].last for v in crash])
        falls.append(spy[-1] / spy[0] - 1.0)
        worst_crash.append(np.diff(np.log(spy)).min())
        worst_calm.append(np.diff(np.log([v.underlyings["SPY"].last for v in calm])).min())
        assert min(v.vix for v in crash) > 30.0 > max(v.vix for v in calm)
    assert np.mean(falls) < -0.04
    assert all(c < k for c, k in zip(worst_crash, worst_calm, strict=True))
    assert np.median(worst_crash) < -0.02  # a jump: a 2% drop inside 15 minutes


def test_forced_regime_stays_and_free_regimes_switch(calendar):
    pinned = market(calendar, force_regime="high_vol")
    free = market(calendar, seed=3)
    seen_pinned, seen_free = set(), set()
    clock = SimClock(calendar, START, 250, 23_400)  # one cycle mid-session, one at the bell
    while (now := clock.next_cycle()) is not None:
        pinned.snapshot(now)
        free.snapshot(now)
        seen_pinned.add(pinned.true_regime)
        seen_free.add(free.true_regime)
    assert seen_pinned == {"high_vol"}
    assert len(seen_free) >= 3
    assert "calm" in seen_free


def test_strikes_once_listed_stay_listed_when_the_spot_runs_away(calendar):
    views = list(run(calendar, market(calendar, force_regime="crash"), days=3))
    first, last = views[0].chains["SPY"], views[-1].chains["SPY"]
    assert abs(last.spot / first.spot - 1) > 0.03, "the crash should move SPY well away"
    expiry = expiry_near(first, 30)
    before = set(first.strike[first.expiry == expiry])
    after = set(last.strike[last.expiry == expiry])
    assert before <= after


@pytest.mark.parametrize("skew_slope", [0.0, 0.28, 0.45, 0.6])
@pytest.mark.parametrize("regime", [None, "crash"])
def test_no_chain_offers_a_free_vertical_spread_whatever_the_skew(calendar, skew_slope, regime):
    """Put mids rise with the strike and call mids fall, on every expiry (to the cent)."""
    settings = SimSettings()
    underlyings = {
        k: attrs.evolve(v, skew_slope=skew_slope) for k, v in settings.underlyings.items()
    }
    sim = market(calendar, underlyings=underlyings, force_regime=regime)
    start = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
    for step in range(0, 40, 8):
        view = sim.snapshot(start + step * timedelta(minutes=15))
        for chain in view.chains.values():
            order = np.lexsort((chain.strike, chain.is_call, chain.expiry))
            expiry, is_call, mid = chain.expiry[order], chain.is_call[order], chain.mid[order]
            same_series = (expiry[1:] == expiry[:-1]) & (is_call[1:] == is_call[:-1])
            step_up = np.diff(mid)
            wrong = np.where(is_call[1:], step_up > 0.02, step_up < -0.02) & same_series
            assert not wrong.any(), f"{chain.underlying}: {int(wrong.sum())} inverted verticals"
