"""Speed of one simulated-market cycle: SPY, QQQ and IWM with full chains.

Run with `make bench`. Target: well under 50 ms per snapshot for three underlyings, so a
simulated week of 15-minute cycles spends its time in the engine, not in the market.
Nothing here asserts on time.
"""

from __future__ import annotations

from v6.config import SimSettings
from v6.market.calendar import ExchangeCalendar
from v6.market.sim_clock import SimClock
from v6.market.sim_market import SimMarket


def test_sim_market_snapshot_three_underlyings(benchmark):
    calendar = ExchangeCalendar()
    settings = SimSettings()
    market = SimMarket(settings, ["SPY", "QQQ", "IWM"], calendar)
    # Many sessions of cycles, so every timed round moves the market (a repeated time
    # would only return the cached view).
    clock = SimClock(calendar, settings.start, 250, 900)

    def step():
        return market.snapshot(clock.next_cycle())

    view = benchmark.pedantic(step, rounds=300, iterations=1, warmup_rounds=5)
    options = sum(len(c) for c in view.chains.values())
    benchmark.extra_info["options"] = options
    assert options > 3_000


def test_sim_feed_with_bad_data_three_underlyings(benchmark):
    """The same cycle read through the bad-data feed: its extra cost per snapshot."""
    from v6.market.sim_bad_data import BadDataFeed

    calendar = ExchangeCalendar()
    settings = SimSettings()
    feed = BadDataFeed(
        SimMarket(settings, ["SPY", "QQQ", "IWM"], calendar), settings.bad_data, settings.seed
    )
    clock = SimClock(calendar, settings.start, 250, 900)

    def step():
        return feed.snapshot(clock.next_cycle())

    view = benchmark.pedantic(step, rounds=300, iterations=1, warmup_rounds=5)
    assert sum(len(c) for c in view.chains.values()) > 3_000
