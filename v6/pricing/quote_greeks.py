"""Greeks of quoted options, derived by V6 from their mids.

Where a broker sends no Greeks for an option, or Greeks the data-quality gate finds
impossible, V6 prices the option itself: the implied volatility of its mid under
Black-Scholes-Merton with a dividend yield, then every Greek at that volatility. The
IB adapter and the gate share this one function, so an option is re-priced the same way
whichever of them does it. Vectorised over whole chains; never raises.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from v6.pricing.bsm import Greeks, bsm_greeks, chain_arrays
from v6.pricing.implied_vol import DEFAULT_VOL_MIN, implied_vol

# A mid within this much (per share) of intrinsic value is "all intrinsic": see below.
NO_TIME_VALUE = 0.05


def greeks_from_mid(
    mid: ArrayLike,
    spot: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    rate: ArrayLike,
    dividend: ArrayLike,
    is_call: ArrayLike,
) -> tuple[np.ndarray, Greeks]:
    """The implied volatility of each ``mid`` and the Greeks at that volatility.

    Arguments broadcast like :func:`v6.pricing.bsm.bsm_greeks`; every value is per share.
    Deep in the money a mid is all intrinsic value and no volatility fits (a quote
    rounded to the tick can even sit a cent under the discounted forward's value); such
    an option behaves as stock (delta +-1, no gamma or vega), so when the mid is within
    ``NO_TIME_VALUE`` of intrinsic value, the larger of the exercise value and the
    discounted forward's, it is priced at the minimum volatility rather than left
    unusable exactly when it must be closed. Any other mid no volatility in the
    solver's range explains gives NaN for the volatility and every Greek.
    """
    m, s, k, t_, r, q, call = chain_arrays(mid, spot, strike, t, rate, dividend, is_call=is_call)
    vol = implied_vol(m, s, k, t_, r, q, call)
    with np.errstate(invalid="ignore", over="ignore"):
        w = np.where(call, 1.0, -1.0)
        forward_value = w * (s * np.exp(-q * t_) - k * np.exp(-r * t_))
        intrinsic = np.maximum(np.maximum(w * (s - k), forward_value), 0.0)
        no_time_value = np.isnan(vol) & np.isfinite(m) & (m - intrinsic <= NO_TIME_VALUE)
    vol = np.where(no_time_value, DEFAULT_VOL_MIN, vol)
    return vol, bsm_greeks(s, k, t_, r, q, vol, call)
