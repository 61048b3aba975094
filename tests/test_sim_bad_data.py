"""The simulated feed breaks quotes at the rates docs/SIM-MARKET.md states, and the gate
catches them: measured by comparing what the feed delivers with the exchange's own quotes
over seeded sessions, not by asking the feed what it did."""

from __future__ import annotations

import math
from collections import Counter
from datetime import date

import attrs
import numpy as np
import pytest

from v6.config import SimBadDataSettings, SimSettings
from v6.domain.market import OptionChain
from v6.market.calendar import ExchangeCalendar
from v6.market.quality import validate_market
from v6.market.sim_bad_data import BadDataFeed
from v6.market.sim_clock import SimClock
from v6.market.sim_market import SimMarket

pytestmark = pytest.mark.slow

SYMBOLS = ["SPY", "QQQ", "IWM"]
PER_UNDERLYING = ("stale_underlying", "missing_strike")
PER_QUOTE = ("crossed_quote", "wide_quote", "zero_iv", "nan_greeks")


def row_keys(chain: OptionChain) -> np.ndarray:
    """One integer per (expiry, strike, right): rows of two chains can be matched."""
    days = chain.expiry.astype("datetime64[D]").astype(np.int64)
    return (days * 10_000_000 + np.round(chain.strike * 100).astype(np.int64)) * 2 + chain.is_call


def faults_seen(clean: OptionChain, delivered: OptionChain) -> tuple[Counter, Counter]:
    """Faults of each kind in ``delivered`` (and the quotes each kind could hit)."""
    kept = np.isin(row_keys(clean), row_keys(delivered))
    base = clean.select(kept)
    seen, exposed = Counter(), Counter()
    seen["missing_strike"] = int((~kept).sum() // 2)  # a strike is a call and a put
    seen["crossed_quote"] = int((delivered.bid > delivered.ask).sum())
    wider = (delivered.ask - delivered.bid) > (base.ask - base.bid) + 1e-9
    seen["wide_quote"] = int((wider & (delivered.bid <= delivered.ask)).sum())
    seen["zero_iv"] = int((delivered.iv == 0).sum())
    seen["nan_greeks"] = int(np.isnan(delivered.delta).sum())
    for kind in PER_QUOTE:
        exposed[kind] = len(delivered)
    exposed["wide_quote"] = int((base.bid > 0).sum())
    return seen, exposed


@pytest.fixture(scope="module")
def measured():
    calendar = ExchangeCalendar()
    seen, exposed = Counter(), Counter()
    gate = Counter()
    for seed in range(4):
        settings = SimSettings(seed=seed, days=5)
        market = SimMarket(settings, SYMBOLS, calendar)
        feed = BadDataFeed(market, settings.bad_data, seed)
        clock = SimClock(calendar, date(2026, 1, 5), 5, 900)
        first = True
        while (now := clock.next_cycle()) is not None:
            delivered = feed.snapshot(now)
            clean = market.snapshot(now)  # the exchange's own view of the same instant
            for symbol in SYMBOLS:
                if not first:  # the first cycle has no earlier quote to be stale with
                    exposed["stale_underlying"] += 1
                    seen["stale_underlying"] += delivered.underlyings[symbol].time < now
                exposed["missing_strike"] += 1
                s, e = faults_seen(clean.chains[symbol], delivered.chains[symbol])
                seen.update(s)
                exposed.update(e)
            _, reports = validate_market(delivered, 120.0, settings.risk_free_rate)
            for report in reports:
                gate.update(report.rejected)
                gate.update(report.repaired)
            first = False
    return seen, exposed, gate


def test_each_kind_of_bad_data_arrives_at_its_documented_rate(measured):
    seen, exposed, _ = measured
    rates = SimBadDataSettings()
    for kind in PER_UNDERLYING + PER_QUOTE:
        p = getattr(rates, kind)
        expected = p * exposed[kind]
        sd = math.sqrt(expected * (1 - p))
        print(
            f"{kind}: {seen[kind]} of {exposed[kind]} ({seen[kind] / exposed[kind]:.2e}, "
            f"documented {p:g})"
        )
        assert abs(seen[kind] - expected) <= 4 * sd + 1, (kind, seen[kind], expected)


def test_the_gate_rejects_or_repairs_every_kind_it_can_tell_from_a_real_quote(measured):
    seen, _, gate = measured
    # A stale underlying rejects its whole chain; crossed quotes and NaN Greeks are
    # rejected one by one; an IV of zero is re-derived from the mid (or, when no
    # volatility explains the mid, rejected as impossible).
    assert gate["bad_underlying"] > 0
    assert gate["crossed"] == seen["crossed_quote"]
    assert gate["nan"] == seen["nan_greeks"]
    assert gate["repaired_greeks"] + gate["impossible_greeks"] == seen["zero_iv"]


def test_the_feed_never_changes_the_exchange():
    calendar = ExchangeCalendar()
    settings = SimSettings(seed=3, days=1)
    clean = SimMarket(attrs.evolve(settings, bad_data=SimBadDataSettings.off()), SYMBOLS, calendar)
    market = SimMarket(settings, SYMBOLS, calendar)
    feed = BadDataFeed(market, settings.bad_data, settings.seed)
    clock = SimClock(calendar, date(2026, 1, 5), 1, 900)
    while (now := clock.next_cycle()) is not None:
        once = feed.snapshot(now)
        assert feed.snapshot(now) is once  # the same instant twice is the same view
        truth = clean.snapshot(now)
        assert market.snapshot(now).underlyings == truth.underlyings
        assert market.true_regime == clean.true_regime
    assert feed.true_regime == market.true_regime  # the feed answers for the market


def test_a_clean_feed_delivers_the_exchange_quotes_untouched():
    calendar = ExchangeCalendar()
    settings = SimSettings(seed=1, days=1, bad_data=SimBadDataSettings.off())
    market = SimMarket(settings, SYMBOLS, calendar)
    feed = BadDataFeed(market, settings.bad_data, settings.seed)
    assert not settings.bad_data.enabled and SimBadDataSettings().enabled
    clock = SimClock(calendar, date(2026, 1, 5), 1, 900)
    while (now := clock.next_cycle()) is not None:
        view = feed.snapshot(now)
        for symbol in SYMBOLS:
            assert view.chains[symbol] is market.snapshot(now).chains[symbol]
        assert view.underlyings == market.snapshot(now).underlyings
