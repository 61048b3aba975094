"""Small hand-made market values for unit tests (no simulator involved)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np

from v6.domain.contracts import Leg, OptionContract, Right
from v6.domain.market import MarketView, OptionChain, UnderlyingQuote

NOW = datetime(2026, 1, 6, 15, 0, tzinfo=UTC)
EXPIRY = date(2026, 1, 30)


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
    return OptionContract(underlying=underlying, expiry=expiry, strike=strike, right=Right(right))


def iron_condor(underlying: str = "SPY", expiry: date = EXPIRY) -> tuple[Leg, ...]:
    """90/95 put spread and 105/110 call spread, one unit."""
    return (
        Leg(contract(90, "P", underlying, expiry), 1),
        Leg(contract(95, "P", underlying, expiry), -1),
        Leg(contract(105, "C", underlying, expiry), -1),
        Leg(contract(110, "C", underlying, expiry), 1),
    )
