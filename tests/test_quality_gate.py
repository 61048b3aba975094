"""The data-quality gate rejects quotes no one should trade on."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
from builders import NOW, chain, market

from v6.market.quality import validate_chain, validate_market


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
