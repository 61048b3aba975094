"""Black-Scholes-Merton prices and Greeks over whole option chains.

European options on an underlying paying a continuous dividend yield. Every argument
broadcasts (NumPy arrays or scalars) and the work is done in float64 in a handful of
whole-array operations, so pricing a 10,000-option chain costs well under a millisecond.

Conventions (the ones :class:`v6.domain.market.OptionChain` uses): all values are per
share, ``t`` is in years, ``vega`` is per 1.00 of volatility, ``rho`` per 1.00 of rate,
``theta`` per calendar day (the annual rate of time decay divided by 365).

Edge cases are answered, not warned about: at ``t == 0`` an option is worth its intrinsic
value and at ``vol == 0`` the discounted intrinsic value of the forward. Inputs that
describe no option (non-finite, spot or strike <= 0, t < 0, vol < 0) give NaN.
"""

from __future__ import annotations

import numpy as np
from attrs import frozen
from numpy.typing import ArrayLike
from scipy.special import ndtr

DAYS_PER_YEAR = 365.0
_INV_SQRT_2PI = 0.3989422804014327
# Below this total volatility (vol * sqrt(t)) the distribution of the forward is a point
# mass; dividing by it would overflow, so the option is valued as a forward instead.
_MIN_TOTAL_VOL = 1e-100


@frozen(slots=True, eq=False)
class Greeks:
    """Price and sensitivities of each option, one array element per option (per share).

    ``vega`` is per 1.00 of volatility, ``rho`` per 1.00 of interest rate and ``theta``
    per calendar day (negative when the option loses value as time passes).
    """

    price: np.ndarray
    delta: np.ndarray
    gamma: np.ndarray
    vega: np.ndarray
    theta: np.ndarray
    rho: np.ndarray


def chain_arrays(*values: ArrayLike, is_call: ArrayLike) -> list[np.ndarray]:
    """Broadcast option inputs to one shape: float64 ``values`` then boolean ``is_call``.

    Broadcasting returns views, so a scalar rate next to a 10,000-option chain costs nothing.
    """
    arrays = [np.asarray(v, dtype=np.float64) for v in values]
    arrays.append(np.asarray(is_call, dtype=bool))
    shape = np.broadcast(*arrays).shape
    return [a if a.shape == shape else _stretched(a, shape) for a in arrays]


def _stretched(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``np.broadcast_to(a, shape)``: a read-only view. A scalar (the rate, the time to an
    expiry) is stretched directly; ``np.broadcast_arrays`` cost more than pricing a
    four-leg combo, and combos are priced many times a cycle."""
    if a.ndim:
        return np.broadcast_to(a, shape)
    view = np.ndarray(
        shape, dtype=a.dtype, buffer=np.ascontiguousarray(a), strides=(0,) * len(shape)
    )
    view.flags.writeable = False
    return view


def _positive_finite(a: np.ndarray) -> np.ndarray:
    # NaN compares False, so this is also the finiteness check.
    return (a > 0.0) & (a < np.inf)


def _finite(a: np.ndarray) -> np.ndarray:
    return np.abs(a) < np.inf


class _Terms:
    """Intermediate results shared by the price and every Greek (computed once).

    Written with in-place operations: on small VMs a fresh 80 kB temporary per step costs
    page faults that can take longer than the arithmetic itself.
    """

    __slots__ = ("d1", "deg", "df", "dq", "n_d1", "n_d2", "sqrt_t", "total_vol", "w")

    def __init__(
        self,
        spot: np.ndarray,
        strike: np.ndarray,
        t: np.ndarray,
        rate: np.ndarray,
        dividend: np.ndarray,
        vol: np.ndarray,
        is_call: np.ndarray,
    ) -> None:
        self.w = np.where(is_call, 1.0, -1.0)
        self.sqrt_t = np.sqrt(t)
        self.total_vol = np.multiply(vol, self.sqrt_t)
        self.df = _discount(rate, t)
        self.dq = _discount(dividend, t)
        # ln(F / K) = ln(S / K) + (r - q) t
        log_moneyness = np.divide(spot, strike)
        np.log(log_moneyness, out=log_moneyness)
        carry = np.subtract(rate, dividend)
        carry *= t
        log_moneyness += carry
        deg = self.total_vol < _MIN_TOTAL_VOL
        self.deg: np.ndarray | None = deg if np.logical_or.reduce(deg, axis=None) else None
        if self.deg is None:
            d1 = np.divide(log_moneyness, self.total_vol, out=carry)
        else:
            # Point-mass forward: N(d) is 1, 1/2 or 0 as F is above, at or below K.
            self.total_vol[deg] = 1.0
            d1 = np.divide(log_moneyness, self.total_vol, out=carry)
            d1[deg] = np.copysign(np.inf, log_moneyness[deg])
            d1[deg & (log_moneyness == 0.0)] = 0.0
            self.total_vol[deg] = 0.0
        half = np.multiply(self.total_vol, 0.5, out=log_moneyness)
        d1 += half
        d2 = np.subtract(d1, self.total_vol)
        self.d1 = d1
        self.n_d1 = ndtr(np.multiply(self.w, d1, out=half), out=half)
        d2 *= self.w
        self.n_d2 = ndtr(d2, out=d2)
        if self.deg is not None:
            # Keep t == 0 and vol == 0 free of divisions by zero in the Greeks.
            self.total_vol[self.deg] = 1.0

    def density(self) -> np.ndarray:
        """Standard normal density at d1 (overwrites d1, which nothing needs afterwards).

        At a point-mass forward the density has no finite value; the second-order Greeks
        are zero away from the strike and undefined at it, reported as 0.
        """
        pdf = self.d1
        pdf *= pdf
        pdf *= -0.5
        np.exp(pdf, out=pdf)
        pdf *= _INV_SQRT_2PI
        if self.deg is not None:
            pdf[self.deg] = 0.0
        return pdf


def _discount(rate: np.ndarray, t: np.ndarray) -> np.ndarray:
    factor = np.multiply(rate, t)
    np.negative(factor, out=factor)
    return np.exp(factor, out=factor)


def _prepare(
    spot: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    rate: ArrayLike,
    dividend: ArrayLike,
    vol: ArrayLike,
    is_call: ArrayLike,
) -> tuple[tuple[int, ...], np.ndarray | None, tuple[np.ndarray, ...], np.ndarray]:
    """Broadcast, make at least 1-d (ufuncs turn 0-d arrays into scalars) and sanitise."""
    *arrays, call = chain_arrays(spot, strike, t, rate, dividend, vol, is_call=is_call)
    shape = call.shape
    if not shape:
        arrays = [a.reshape(1) for a in arrays]
        call = call.reshape(1)
    invalid, sane = _sanitise(*arrays)
    return shape, invalid, sane, call


def _sanitise(
    spot: np.ndarray,
    strike: np.ndarray,
    t: np.ndarray,
    rate: np.ndarray,
    dividend: np.ndarray,
    vol: np.ndarray,
) -> tuple[np.ndarray | None, tuple[np.ndarray, ...]]:
    """Replace inputs that describe no option by harmless ones; return the invalid mask."""
    valid = (
        _positive_finite(spot)
        & _positive_finite(strike)
        & (t >= 0.0)
        & (t < np.inf)
        & (vol >= 0.0)
        & (vol < np.inf)
        & _finite(rate)
        & _finite(dividend)
    )
    if np.logical_and.reduce(valid, axis=None):
        return None, (spot, strike, t, rate, dividend, vol)
    invalid = ~valid
    return invalid, (
        np.where(invalid, 1.0, spot),
        np.where(invalid, 1.0, strike),
        np.where(invalid, 0.0, t),
        np.where(invalid, 0.0, rate),
        np.where(invalid, 0.0, dividend),
        np.where(invalid, 0.0, vol),
    )


def bsm_price(
    spot: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    rate: ArrayLike,
    dividend: ArrayLike,
    vol: ArrayLike,
    is_call: ArrayLike,
) -> np.ndarray:
    """Black-Scholes-Merton value per share of European options with a dividend yield.

    Used to mark positions and to turn a volatility back into a price, so it must never
    warn or return NaN for a valid option: expired options (``t == 0``) are worth their
    intrinsic value and zero-volatility ones the discounted intrinsic value of the forward.
    Invalid inputs (non-finite, spot or strike <= 0, negative t or vol) give NaN.
    """
    shape, invalid, (s, k, t_, r, q, v), call = _prepare(
        spot, strike, t, rate, dividend, vol, is_call
    )
    terms = _Terms(s, k, t_, r, q, v, call)
    price = np.multiply(s, terms.dq)
    price *= terms.n_d1
    strike_leg = np.multiply(k, terms.df, out=terms.df)
    strike_leg *= terms.n_d2
    price -= strike_leg
    price *= terms.w
    np.maximum(price, 0.0, out=price)
    if invalid is not None:
        price[invalid] = np.nan
    return price.reshape(shape)


def bsm_greeks(
    spot: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    rate: ArrayLike,
    dividend: ArrayLike,
    vol: ArrayLike,
    is_call: ArrayLike,
) -> Greeks:
    """Price, delta, gamma, vega, theta and rho of European options, per share.

    The risk checks and the dashboard need every Greek of every option each cycle, so d1,
    d2, the normal density and both cumulative probabilities are computed once and shared.
    Units: vega per 1.00 vol, rho per 1.00 rate, theta per calendar day (annual / 365).
    At ``t == 0`` or ``vol == 0`` gamma, vega and the volatility part of theta are 0.
    Invalid inputs give NaN in every field.
    """
    shape, invalid, (s, k, t_, r, q, v), call = _prepare(
        spot, strike, t, rate, dividend, vol, is_call
    )
    terms = _Terms(s, k, t_, r, q, v, call)
    w = terms.w
    pdf = terms.density()
    spot_pdf = np.multiply(s, terms.dq)  # S e^{-qt} n(d1)
    spot_pdf *= pdf
    spot_term = np.multiply(s, terms.dq, out=pdf)  # w S e^{-qt} N(w d1)
    spot_term *= w
    spot_term *= terms.n_d1
    strike_term = np.multiply(k, terms.df, out=terms.df)  # w K e^{-rt} N(w d2)
    strike_term *= w
    strike_term *= terms.n_d2
    price = np.subtract(spot_term, strike_term)
    np.maximum(price, 0.0, out=price)
    delta = np.multiply(w, terms.dq, out=terms.dq)
    delta *= terms.n_d1
    gamma = np.multiply(s, s, out=terms.n_d1)
    gamma *= terms.total_vol
    np.divide(spot_pdf, gamma, out=gamma)
    vega = np.multiply(spot_pdf, terms.sqrt_t, out=terms.sqrt_t)
    # Annual theta: q S e^{-qt} N - r K e^{-rt} N - S e^{-qt} n(d1) vol / (2 sqrt t), with
    # vol / sqrt t written as vol^2 / (vol sqrt t) so that t == 0 needs no division.
    theta = np.multiply(q, spot_term, out=spot_term)
    decay = np.multiply(r, strike_term, out=terms.n_d2)
    theta -= decay
    np.multiply(spot_pdf, v, out=spot_pdf)
    spot_pdf *= v
    spot_pdf /= terms.total_vol
    spot_pdf *= 0.5
    theta -= spot_pdf
    theta /= DAYS_PER_YEAR
    rho = np.multiply(strike_term, t_, out=strike_term)
    if invalid is not None:
        for a in (price, delta, gamma, vega, theta, rho):
            a[invalid] = np.nan
    return Greeks(
        price=price.reshape(shape),
        delta=delta.reshape(shape),
        gamma=gamma.reshape(shape),
        vega=vega.reshape(shape),
        theta=theta.reshape(shape),
        rho=rho.reshape(shape),
    )
