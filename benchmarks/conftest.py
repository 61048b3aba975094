"""Shared inputs for the benchmarks: a realistic option chain, fixed seed."""

from __future__ import annotations

import numpy as np
import pytest
from attrs import frozen

from v6.pricing import bsm_price

CHAIN_SIZE = 10_000
_EXPIRY_DAYS = np.array([1, 2, 3, 4, 7, 14, 21, 30, 45, 60, 90, 120, 180, 270, 365])


@frozen(slots=True, eq=False)
class BenchChain:
    """Struct of arrays for ``CHAIN_SIZE`` options across several underlyings."""

    spot: np.ndarray
    strike: np.ndarray
    t: np.ndarray
    rate: float
    dividend: np.ndarray
    vol: np.ndarray
    is_call: np.ndarray
    price: np.ndarray

    def __len__(self) -> int:
        return int(self.spot.shape[0])


def build_chain(n: int = CHAIN_SIZE, seed: int = 20261125) -> BenchChain:
    """Options on 20 underlyings (spots 20-600), strikes 70%-130% of spot, 1 day to 1 year
    on a listed-expiry grid, calls and puts, with a smile skewed to the downside that
    steepens as expiry shortens."""
    rng = np.random.default_rng(seed)
    underlying = rng.integers(0, 20, n)
    spots = rng.uniform(20.0, 600.0, 20)
    base_vol = rng.uniform(0.12, 0.45, 20)
    dividends = rng.uniform(0.0, 0.03, 20)
    spot = spots[underlying]
    strike = np.round(spot * rng.uniform(0.7, 1.3, n), 1)
    t = rng.choice(_EXPIRY_DAYS, n) / 365.0
    # Log-moneyness per unit of (time / 30 days)^(1/4): short expiries smile harder.
    moneyness = np.log(strike / spot) / (t / (30 / 365.0)) ** 0.25
    vol = base_vol[underlying] * (1.0 - 1.2 * moneyness + 2.5 * moneyness**2)
    vol = np.clip(vol, 0.05, 3.0)
    is_call = rng.random(n) < 0.5
    dividend = dividends[underlying]
    rate = 0.045
    price = bsm_price(spot, strike, t, rate, dividend, vol, is_call)
    return BenchChain(spot, strike, t, rate, dividend, vol, is_call, price)


@pytest.fixture(scope="session")
def chain() -> BenchChain:
    """A 10,000-option chain shared by every benchmark."""
    return build_chain()
