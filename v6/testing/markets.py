"""Market values for tests: small hand-made chains, and the seeded simulated market.

Two kinds, for two kinds of test. ``chain`` and ``market`` build a tidy five-strike chain
by hand, so a unit test can see every number it depends on. ``simulated_market`` steps
the real simulated market of a config (the one ``v6 run`` trades in sim) through its
first cycles and passes every view through the data-quality gate, so a plugin sees
exactly what the engine would hand it: the same seed gives the same market every time.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
from attrs import frozen

from v6.config import TradingConfig
from v6.domain.contracts import Leg, OptionContract, Right
from v6.domain.market import MarketHistory, MarketView, OptionChain, UnderlyingQuote

NOW = datetime(2026, 1, 6, 15, 0, tzinfo=UTC)
"""The time of the hand-made values: a Tuesday, 10:00 in New York (all V6 times are UTC)."""
EXPIRY = date(2026, 1, 30)
"""The expiry of the hand-made chain and legs (24 calendar days after ``NOW``)."""


def chain(
    underlying: str = "SPY",
    spot: float = 100.0,
    strikes: tuple[float, ...] = (90, 95, 100, 105, 110),
    expiry: date = EXPIRY,
    now: datetime = NOW,
    spread: float = 0.10,
) -> OptionChain:
    """A tidy chain: puts and calls at ``strikes``, mids from a simple linear model."""
    k = np.array(strikes, dtype=float)
    n = k.size
    k2 = np.concatenate([k, k])
    is_call = np.concatenate([np.zeros(n, bool), np.ones(n, bool)])
    intrinsic = np.where(is_call, np.maximum(spot - k2, 0), np.maximum(k2 - spot, 0))
    mid = intrinsic + 2.0 * np.exp(-np.abs(k2 - spot) / 8.0)
    delta = (
        np.where(is_call, 1, -1)
        * np.exp(-np.maximum(np.where(is_call, k2 - spot, spot - k2), 0) / 6.0)
        * 0.5
    )
    return OptionChain(
        underlying=underlying,
        as_of=now,
        spot=spot,
        expiry=np.full(2 * n, np.datetime64(expiry, "D")),
        strike=k2,
        is_call=is_call,
        bid=np.round(mid - spread / 2, 2),
        ask=np.round(mid + spread / 2, 2),
        iv=np.full(2 * n, 0.2),
        delta=delta,
        gamma=np.full(2 * n, 0.01),
        vega=np.full(2 * n, 0.1),
        theta=np.full(2 * n, -0.05),
        quote_time=np.full(2 * n, np.datetime64(now.replace(tzinfo=None), "us")),
    )


def market(*chains: OptionChain, now: datetime = NOW, vix: float = 16.0) -> MarketView:
    """A market view holding ``chains`` with a matching underlying quote each."""
    return MarketView(
        time=now,
        underlyings={
            c.underlying: UnderlyingQuote(c.underlying, c.spot - 0.01, c.spot + 0.01, c.spot, now)
            for c in chains
        },
        chains={c.underlying: c for c in chains},
        vix=vix,
    )


def contract(
    strike: float, right: str, underlying: str = "SPY", expiry: date = EXPIRY
) -> OptionContract:
    """One option contract of the hand-made chain."""
    return OptionContract(underlying=underlying, expiry=expiry, strike=strike, right=Right(right))


def iron_condor_legs(underlying: str = "SPY", expiry: date = EXPIRY) -> tuple[Leg, ...]:
    """90/95 put spread and 105/110 call spread of the hand-made chain, one unit."""
    return (
        Leg(contract(90, "P", underlying, expiry), 1),
        Leg(contract(95, "P", underlying, expiry), -1),
        Leg(contract(105, "C", underlying, expiry), -1),
        Leg(contract(110, "C", underlying, expiry), 1),
    )


@frozen(slots=True)
class SimulatedMarket:
    """The first cycles of a config's simulated market, as the engine's plugins see them.

    ``views`` are the gated market views of cycles 1..n (oldest first); ``history`` is the
    :class:`MarketHistory` the engine would pass after the last of them.
    """

    views: tuple[MarketView, ...]
    history: MarketHistory

    @property
    def view(self) -> MarketView:
        """The latest view (cycle n)."""
        return self.views[-1]

    def chain(self, underlying: str | None = None) -> OptionChain:
        """The latest gated chain of ``underlying`` (default: the first underlying)."""
        view = self.view
        return view.chains[underlying or next(iter(view.chains))]


def simulated_market(
    config: TradingConfig | None = None, *, cycles: int = 1, seed: int | None = None
) -> SimulatedMarket:
    """Step ``config``'s simulated market (default: the embedded defaults) through its first
    ``cycles`` cycles, on the simulated clock, through the data-quality gate.

    ``seed`` overrides ``config.sim.seed``. The same config and seed give the same market.
    """
    import attrs

    from v6.engine.history import HistoryRecorder
    from v6.market.calendar import ExchangeCalendar
    from v6.market.quality import validate_market
    from v6.market.sim_clock import SimClock
    from v6.market.sim_market import SimMarket

    if cycles < 1:
        raise ValueError(f"cycles must be >= 1, got {cycles}")
    config = config or TradingConfig()
    if seed is not None:
        config = attrs.evolve(config, sim=attrs.evolve(config.sim, seed=seed))
    calendar = ExchangeCalendar()
    clock = SimClock(
        calendar, config.sim.start, config.sim.days, config.cycle.interval_seconds, speed=0
    )
    times = clock.cycle_times[:cycles]
    if len(times) < cycles:
        raise ValueError(
            f"the simulated market has {len(times)} cycles in {config.sim.days} days, "
            f"not {cycles}: raise sim.days"
        )
    sim = SimMarket(config.sim, list(config.underlyings), calendar)
    max_age = config.cycle.max_quote_age_seconds
    recorder = HistoryRecorder(list(config.underlyings), max_quote_age=max_age)
    views = [validate_market(sim.snapshot(time), max_age)[0] for time in times]
    history = [recorder.record(view) for view in views][-1]
    return SimulatedMarket(views=tuple(views), history=history)
