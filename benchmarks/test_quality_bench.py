"""Speed of the data-quality gate on the simulated market's chains (three underlyings).

Run with `make bench`. The gate runs on every chain every cycle, so its common case (a
sound market) must cost a fraction of a millisecond per thousand options; re-deriving
impossible Greeks is paid only for the options that need it. Nothing here asserts on
time; the checks outside the timed part make sure the gate did what it is timed doing.
"""

from __future__ import annotations

import attrs
import numpy as np
import pytest

from v6.config import SimSettings
from v6.domain.market import MarketView
from v6.market.calendar import ExchangeCalendar
from v6.market.quality import validate_market
from v6.market.sim_clock import SimClock
from v6.market.sim_market import SimMarket

RATE = 0.04


@pytest.fixture(scope="module")
def view() -> MarketView:
    """One snapshot of SPY, QQQ and IWM (about 6,000 options), mid-morning."""
    calendar = ExchangeCalendar()
    settings = SimSettings()
    clock = SimClock(calendar, settings.start, 1, 900)
    for _ in range(4):
        now = clock.next_cycle()
    return SimMarket(settings, ["SPY", "QQQ", "IWM"], calendar).snapshot(now)


def _spoiled(view: MarketView, share: float) -> MarketView:
    """``share`` of every chain's options with IB's impossible delta -5.0 and IV 0."""
    rng = np.random.default_rng(9)
    chains = {}
    for symbol, chain in view.chains.items():
        hit = rng.random(len(chain)) < share
        chains[symbol] = attrs.evolve(
            chain, delta=np.where(hit, -5.0, chain.delta), iv=np.where(hit, 0.0, chain.iv)
        )
    return attrs.evolve(view, chains=chains)


def _record(benchmark, view: MarketView) -> int:
    options = sum(len(c) for c in view.chains.values())
    benchmark.extra_info["options"] = options
    if benchmark.stats is not None:  # None with --benchmark-disable
        benchmark.extra_info["median_ns_per_option"] = round(
            benchmark.stats.stats.median / options * 1e9, 1
        )
    return options


def test_quality_gate_sound_market(benchmark, view):
    """Target: <= 2 ms for three underlyings (about 6,000 options)."""
    _, reports = benchmark(validate_market, view, 120.0, RATE)
    assert _record(benchmark, view) > 3_000
    assert all(r.rejected == {} and r.repaired == {} for r in reports)


def test_quality_gate_repairs_ten_percent_impossible_greeks(benchmark, view):
    """Target: <= 5 ms for three underlyings with 10% of the quotes to re-derive."""
    spoiled = _spoiled(view, 0.10)
    gated, reports = benchmark(validate_market, spoiled, 120.0, RATE)
    _record(benchmark, view)
    assert sum(r.repaired.get("repaired_greeks", 0) for r in reports) > 300
    for chain in gated.chains.values():
        assert np.all(np.abs(chain.delta[chain.valid]) <= 1.0)
