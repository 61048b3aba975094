"""The simulated market offers no static arbitrage on its executable quotes, ever.

Butterflies, verticals and calendars are priced at the quotes a trader would execute
against (buy at the ask, sell at the bid) over many seeded snapshots, in every regime and
at skews from flat to steeper than any index: not one is free. The checker itself is
proven against a brute-force loop over every strike triple.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import attrs
import numpy as np
import pytest

from v6.config import SimSettings
from v6.domain.market import OptionChain
from v6.market.calendar import ExchangeCalendar
from v6.market.sim_clock import SimClock
from v6.market.sim_market import SimMarket
from v6.market.static_arbitrage import cheapest_wings, check_chain
from v6.market.vol_surface import (
    BUTTERFLY_MARGIN,
    SSVI_GAMMA,
    atm_total_variance,
    skew_params,
    ssvi_total_variance,
)

NEW_YORK = ZoneInfo("America/New_York")
SYMBOLS = ["SPY", "QQQ", "IWM"]


@pytest.fixture(scope="module")
def calendar() -> ExchangeCalendar:
    return ExchangeCalendar()


def _chain(strikes, bids, asks, is_call=False) -> OptionChain:
    n = len(strikes)
    now = datetime(2026, 1, 5, 15, tzinfo=UTC)
    return OptionChain(
        underlying="XYZ",
        as_of=now,
        spot=100.0,
        expiry=np.full(n, np.datetime64("2026-02-20")),
        strike=strikes,
        is_call=np.full(n, is_call),
        bid=bids,
        ask=asks,
        iv=np.full(n, 0.2),
        delta=np.full(n, 0.3 if is_call else -0.3),
        gamma=np.full(n, 0.01),
        vega=np.full(n, 0.1),
        theta=np.full(n, -0.01),
        quote_time=np.full(n, np.datetime64(now.replace(tzinfo=None), "us")),
    )


# -- the checker -----------------------------------------------------------------------


def test_the_issue_butterfly_is_caught_on_its_own_quotes():
    # QQQ 2026-03-06 puts 410/420/430 as the old surface quoted them (seed 1, 14:45):
    # buy 5.44 + 7.23, sell 2 x 6.95, receive 1.23.
    report = check_chain(_chain([410.0, 420.0, 430.0], [5.40, 6.95, 7.20], [5.44, 6.99, 7.23]))
    assert report.butterflies == 1
    assert "410/420/430" in report.examples[0]


def test_free_verticals_and_calendars_are_caught():
    # A put at the higher strike offered below the lower one's bid.
    assert check_chain(_chain([90.0, 95.0], [2.00, 1.50], [2.10, 1.60])).verticals == 1
    # A call vertical sold for more than its width.
    assert check_chain(_chain([90.0, 95.0], [12.0, 6.0], [12.1, 6.1], is_call=True)).verticals == 1
    # The same put at a later expiry offered below the earlier one's bid.
    both = attrs.evolve(
        _chain([100.0, 100.0], [3.00, 2.80], [3.10, 2.95]),
        expiry=np.array(["2026-02-20", "2026-03-20"], dtype="datetime64[D]"),
    )
    assert check_chain(both).calendars == 1


def test_cheapest_wings_covers_every_triple_like_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(3, 12))
        strikes = np.sort(rng.choice(np.arange(100, 140), n, replace=False)).astype(float)
        ask = np.round(rng.random(n) * 3, 2)
        bid = np.round(ask - rng.random(n), 2)
        wings, _ = cheapest_wings(strikes, ask)
        fast = bid[None, :] - wings > 1e-9
        slow = np.zeros((n, n), dtype=bool)
        for i in range(n):
            for j in range(i + 1, n):
                for k in range(j + 1, n):
                    lam = (strikes[k] - strikes[j]) / (strikes[k] - strikes[i])
                    slow[i, j] |= lam * ask[i] + (1 - lam) * ask[k] - bid[j] < -1e-9
        assert (fast == slow).all()


# -- the surface -------------------------------------------------------------------------


@pytest.mark.parametrize("slope", [0.0, 0.05, 0.15, 0.3, 0.45, 1.0, 5.0])
def test_ssvi_parameters_keep_the_gatheral_jacquier_conditions(slope):
    rho, eta = skew_params(slope)
    assert abs(rho) < 1.0
    assert eta >= 0.0
    assert eta * (1.0 + abs(rho)) <= 2.0 * BUTTERFLY_MARGIN + 1e-12
    assert 0.0 < SSVI_GAMMA <= 0.5


@pytest.mark.parametrize("spot_vol, long_vol", [(0.10, 0.20), (0.2, 0.2), (1.2, 0.2)])
def test_total_variance_grows_with_maturity_at_every_moneyness(spot_vol, long_vol):
    t = np.linspace(1e-5, 0.5, 400)
    theta = atm_total_variance(spot_vol, long_vol, t)
    assert np.all(np.diff(theta) > 0)
    rho, eta = skew_params(0.45)
    for k in np.linspace(-0.5, 0.5, 21):
        w = ssvi_total_variance(np.full(t.shape, k), theta, rho, eta)
        assert np.all(np.diff(w) >= -1e-15)


def _snapshots(calendar, settings: SimSettings, every: int):
    sim = SimMarket(settings, SYMBOLS, calendar)
    clock = SimClock(calendar, settings.start, settings.days, 900)
    n = 0
    while (now := clock.next_cycle()) is not None:
        view = sim.snapshot(now)
        if n % every == 0:
            yield view
        n += 1


@pytest.mark.parametrize("regime", [None, "calm", "trending", "high_vol", "crash"])
def test_no_executable_static_arbitrage_over_many_seeded_snapshots(calendar, regime):
    chains = found = 0
    examples: list[str] = []
    for seed in range(4):
        settings = SimSettings(seed=seed, days=5, force_regime=regime)
        for view in _snapshots(calendar, settings, every=9):
            for chain in view.chains.values():
                report = check_chain(chain)
                chains += 1
                found += report.total
                examples.extend(report.examples)
    assert chains >= 150
    assert found == 0, examples[:5]


@pytest.mark.parametrize("skew_slope", [0.0, 0.3, 0.45, 0.8])
def test_no_static_arbitrage_whatever_the_skew(calendar, skew_slope):
    settings = SimSettings(days=2)
    underlyings = {
        k: attrs.evolve(v, skew_slope=skew_slope) for k, v in settings.underlyings.items()
    }
    for regime in ("calm", "crash"):
        s = attrs.evolve(settings, underlyings=underlyings, force_regime=regime)
        for view in _snapshots(calendar, s, every=6):
            for chain in view.chains.values():
                report = check_chain(chain)
                assert report.total == 0, report.examples


def test_the_issue_snapshot_offers_no_butterfly(calendar):
    # The snapshot the issue found a free butterfly in: QQQ, 2026-01-05 14:45, seed 1.
    sim = SimMarket(SimSettings(seed=1), SYMBOLS, calendar)
    for hour, minute in ((9, 45), (14, 45)):
        now = datetime.combine(date(2026, 1, 5), time(hour, minute), NEW_YORK).astimezone(UTC)
        chain = sim.snapshot(now).chains["QQQ"]
        assert check_chain(chain).total == 0
