"""The data-quality gate rejects quotes no one should trade on."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest
from builders import NOW, chain, market

from v6.config import SimSettings
from v6.market.calendar import ExchangeCalendar
from v6.market.quality import MAX_IV, validate_chain, validate_market
from v6.market.sim_clock import SimClock
from v6.market.sim_market import SimMarket
from v6.pricing import bsm_greeks
from v6.pricing.expiry import years_to_expiry


def test_clean_chain_passes_untouched():
    gated, report = validate_chain(chain(), NOW, 60)
    assert gated.valid.all()
    assert report.rejected == {}


def test_nan_greeks_from_the_broker_are_rejected_not_treated_as_numbers():
    c = chain()
    c.delta[3] = np.nan
    c.iv[4] = np.inf
    gated, report = validate_chain(c, NOW, 60)
    assert not gated.valid[3] and not gated.valid[4]
    assert gated.valid.sum() == len(c) - 2
    assert report.rejected == {"nan": 2}
    assert "SPY" in report.samples["nan"]


def test_crossed_and_negative_quotes_are_rejected():
    c = chain()
    c.bid[0], c.ask[0] = 2.0, 1.5
    c.bid[1], c.ask[1] = -0.05, 0.10
    gated, report = validate_chain(c, NOW, 60)
    assert not gated.valid[0] and not gated.valid[1]
    assert report.rejected == {"crossed": 1, "negative": 1}


def test_stale_quotes_are_rejected():
    c = chain(now=NOW - timedelta(seconds=300))
    gated, report = validate_chain(c, NOW, 120)
    assert not gated.valid.any()
    assert report.rejected == {"stale": len(c)}


def test_a_quote_failing_several_checks_counts_once_toward_the_rejected_share():
    # Three bad options out of ten, each both stale and crossed: the stale-data breaker's
    # share is 3/10, not 6/10 (which would mark the underlying unusable at the default 50%).
    c = chain()
    bad = [0, 4, 7]
    c.quote_time[bad] = c.quote_time[bad] - np.timedelta64(300, "s")
    c.bid[bad], c.ask[bad] = c.ask[bad] + 0.5, c.ask[bad]
    gated, report = validate_chain(c, NOW, 120)
    assert report.rejected == {"crossed": 3, "stale": 3}
    assert report.rejected_total == 3 == (~gated.valid).sum()


def test_zero_bid_far_out_of_the_money_is_counted_but_still_valid_for_buying():
    c = chain()
    c.bid[0], c.delta[0] = 0.0, -0.01
    gated, report = validate_chain(c, NOW, 60)
    assert gated.valid[0]
    assert report.zero_bid == 1
    assert report.rejected == {}


def test_zero_bid_on_an_option_with_real_delta_is_a_broken_quote():
    c = chain()
    c.bid[2], c.delta[2] = 0.0, -0.45
    gated, report = validate_chain(c, NOW, 60)
    assert not gated.valid[2]
    assert report.rejected == {"zero_bid": 1}


def test_a_bad_underlying_quote_invalidates_its_whole_chain():
    view = market(chain("SPY"), chain("QQQ"))
    spy = view.underlyings["SPY"]
    broken = type(spy)(spy.symbol, float("nan"), spy.ask, spy.last, spy.time)
    view = type(view)(view.time, {**view.underlyings, "SPY": broken}, view.chains, view.vix)
    gated, reports = validate_market(view, 60)
    assert not gated.chains["SPY"].valid.any()
    assert gated.chains["QQQ"].valid.all()
    assert {r.underlying: r.rejected for r in reports}["SPY"] == {"bad_underlying": 10}


# -- impossible Greeks and arbitrage bounds ----------------------------------------------

RATE = 0.04

# (row, field, value): each an option no model can produce, on a sound quote. Rows 0-4
# are the 90-110 puts, 5-9 the calls.
IMPOSSIBLE = {
    "delta_below_minus_one": (1, "delta", -5.0),
    "delta_above_one": (6, "delta", 1.5),
    "call_with_negative_delta": (7, "delta", -0.30),
    "put_with_positive_delta": (2, "delta", 0.30),
    "zero_iv": (3, "iv", 0.0),
    "negative_iv": (8, "iv", -0.2),
    "absurd_iv": (4, "iv", 7.5),
    "negative_gamma": (0, "gamma", -0.02),
    "negative_vega": (9, "vega", -0.1),
}


@pytest.mark.parametrize("case", sorted(IMPOSSIBLE))
def test_impossible_greeks_on_a_sound_quote_are_rederived_from_the_mid(case):
    row, name, value = IMPOSSIBLE[case]
    c = chain()
    getattr(c, name)[row] = value
    gated, report = validate_chain(c, NOW, 60, risk_free_rate=RATE)
    assert report.rejected == {}
    assert report.repaired == {"repaired_greeks": 1}
    assert c.contract(row).key in report.samples["repaired_greeks"]
    assert f"{name} {value:.4g}" in report.samples["repaired_greeks"]
    assert gated.valid.all()
    # V6's own numbers: the Black-Scholes IV of the mid and the Greeks at it.
    t = years_to_expiry(c.expiry[row : row + 1], NOW)
    iv = gated.iv[row]
    assert 0 < iv < MAX_IV
    own = bsm_greeks(c.spot, c.strike[row], t, RATE, 0.0, iv, c.is_call[row])
    assert own.price[0] == pytest.approx(c.mid[row], abs=1e-8)
    for field in ("delta", "gamma", "vega", "theta"):
        assert getattr(gated, field)[row] == pytest.approx(getattr(own, field)[0])
    assert (0 <= gated.delta[row] <= 1) if c.is_call[row] else (-1 <= gated.delta[row] <= 0)
    # Every other option keeps the broker's numbers, and the input chain is not changed.
    others = np.arange(len(c)) != row
    for field in ("iv", "delta", "gamma", "vega", "theta"):
        np.testing.assert_array_equal(getattr(gated, field)[others], getattr(c, field)[others])
    assert getattr(c, name)[row] == value


def test_the_ib_case_delta_minus_five_and_zero_iv_on_every_quote_is_repaired_everywhere():
    c = chain()
    c.delta[:] = -5.0
    c.iv[:] = 0.0
    gated, report = validate_chain(c, NOW, 60, risk_free_rate=RATE)
    assert report.repaired == {"repaired_greeks": len(c)} and report.rejected == {}
    assert gated.valid.all()
    assert np.all((gated.delta >= 0) & (gated.delta <= 1) | ~gated.is_call)
    assert np.all((gated.delta <= 0) & (gated.delta >= -1) | gated.is_call)
    assert np.all(gated.iv > 0)


def test_impossible_greeks_that_no_volatility_can_replace_are_rejected():
    c = chain()
    # The 100 call quoted at 60 with 100 at spot: below the spot, so no arbitrage, but
    # no volatility up to MAX_IV prices it there.
    c.bid[7], c.ask[7] = 60.0, 60.10
    c.delta[7], c.iv[7] = -5.0, 0.0
    gated, report = validate_chain(c, NOW, 60, risk_free_rate=RATE)
    assert not gated.valid[7] and gated.valid.sum() == len(c) - 1
    assert report.rejected == {"impossible_greeks": 1} and report.repaired == {}
    assert "SPY 20260130 100C (iv 0, delta -5" in report.samples["impossible_greeks"]
    assert gated.delta[7] == -5.0  # rejected as it came: nothing may read it


def test_impossible_greeks_on_a_bad_quote_are_rejected_not_repaired():
    c = chain(now=NOW - timedelta(seconds=300))
    c.delta[1] = -5.0
    gated, report = validate_chain(c, NOW, 120, risk_free_rate=RATE)
    assert not gated.valid.any()
    assert report.rejected == {"stale": len(c), "impossible_greeks": 1}
    assert report.repaired == {}


def test_greeks_at_the_edge_of_the_possible_are_kept_as_sent():
    c = chain()
    c.delta[9], c.delta[0] = 1.0005, 0.0  # deep ITM call rounded past 1; a put at 0
    c.gamma[1], c.vega[2] = 0.0, -1e-9  # zero, and a rounding error below zero
    c.theta[3] = 0.01  # a deep ITM put may gain value with time
    c.iv[4] = MAX_IV
    gated, report = validate_chain(c, NOW, 60, risk_free_rate=RATE)
    assert gated.valid.all() and report.rejected == {} and report.repaired == {}
    assert gated.delta[9] == 1.0005 and gated.iv[4] == MAX_IV


def test_an_ask_outside_the_arbitrage_bounds_is_rejected():
    c = chain()
    c.bid[5], c.ask[5] = 2.0, 2.10  # the 90 call, 10 in the money, offered at 2.10
    c.bid[4], c.ask[4] = 10.0, 999.0  # the 110 put offered far above its strike
    gated, report = validate_chain(c, NOW, 60, risk_free_rate=RATE)
    assert not gated.valid[5] and not gated.valid[4]
    assert gated.valid.sum() == len(c) - 2
    assert report.rejected == {"arbitrage": 2}
    assert "SPY 20260130 90C" in report.samples["arbitrage"]


def test_a_quote_a_little_below_intrinsic_value_is_kept():
    c = chain()
    # 10 in the money: bid under intrinsic (American market makers do this), ask a few
    # cents under it (a dividend V6 was not told about): neither is a broken quote.
    c.bid[5], c.ask[5] = 9.40, 9.80
    c.bid[4], c.ask[4] = 9.50, 9.90
    gated, report = validate_chain(c, NOW, 60, risk_free_rate=RATE)
    assert gated.valid.all() and report.rejected == {}


def test_the_simulated_market_never_trips_the_greek_or_arbitrage_checks():
    calendar = ExchangeCalendar()
    for seed in (3, 11):
        for regime in ("calm", "high_vol", "crash"):
            settings = SimSettings(start=date(2026, 1, 8), seed=seed, force_regime=regime)
            sim = SimMarket(settings, ["SPY", "QQQ", "IWM"], calendar)
            # Thursday and Friday 2026-01-09, an expiry day, to its close.
            clock = SimClock(calendar, date(2026, 1, 8), 2, 3600)
            while (now := clock.next_cycle()) is not None:
                raw = sim.snapshot(now)
                view, reports = validate_market(raw, 120.0, RATE)
                assert [r.rejected for r in reports] == [{}, {}, {}]
                assert [r.repaired for r in reports] == [{}, {}, {}]
                for symbol, chain_ in view.chains.items():
                    assert chain_.delta is raw.chains[symbol].delta  # untouched, not copied
