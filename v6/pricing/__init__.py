"""Pricing: pure, vectorised functions over whole option chains (no I/O).

- :func:`bsm_price`, :func:`bsm_greeks` and :class:`Greeks`: Black-Scholes-Merton with a
  continuous dividend yield, per share; theta per calendar day, vega and rho per 1.00.
- :func:`implied_vol`: the volatility behind each quoted price, NaN where none fits.
- :mod:`v6.pricing.payoff`: expiry payoff and the risk profile of a combo.
"""

from v6.pricing.bsm import DAYS_PER_YEAR, Greeks, bsm_greeks, bsm_price
from v6.pricing.implied_vol import DEFAULT_VOL_MAX, DEFAULT_VOL_MIN, implied_vol

__all__ = [
    "DAYS_PER_YEAR",
    "DEFAULT_VOL_MAX",
    "DEFAULT_VOL_MIN",
    "Greeks",
    "bsm_greeks",
    "bsm_price",
    "implied_vol",
]
