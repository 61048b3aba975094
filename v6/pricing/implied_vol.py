"""Implied volatility of whole option chains (Black-Scholes-Merton with dividend yield).

The engine inverts every quoted mid each cycle, including 0-DTE and far out-of-the-money
strikes, so the solver must be fast, vectorised and must never raise: a quote no
volatility can explain gets NaN and the rest of the chain is unaffected.

Method. Each option is reduced to an out-of-the-money option on the forward, in
normalised units (Jäckel, "Let's be rational", 2015):

    x = ln(F/K) <= 0 after the reduction,  s = vol * sqrt(t),
    b(s) = e^{x/2} N(x/s + s/2) - e^{-x/2} N(x/s - s/2),  0 < b < e^{x/2}

An in-the-money quote becomes the OTM price of the other right by put-call parity, which
keeps deep ITM options as well conditioned as OTM ones. ``b`` is increasing in ``s`` with
one inflection point at ``s_c = sqrt(2|x|)``. Above ``b(s_c)`` it is concave, so Newton
started at ``s_c`` climbs monotonically to the root. Below it, ``1/ln b`` is close to the
quadratic ``-2 s^2 / x^2`` and Newton on that objective descends monotonically from
``s_c`` even for prices of 1e-100. Every step is kept inside a bracket that tightens
each iteration and falls back to bisection, so no quote can make the solver diverge.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import ndtr

from v6.pricing.bsm import chain_arrays

_INV_SQRT_2PI = 0.3989422804014327
DEFAULT_VOL_MIN = 1e-4
DEFAULT_VOL_MAX = 5.0


def _normalised_price(
    x: np.ndarray, s: np.ndarray, e_pos: np.ndarray, e_neg: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Normalised OTM call value ``b`` and its slope ``db/ds`` (x <= 0, s > 0)."""
    x_over_s = x / s
    half_s = 0.5 * s
    b = e_pos * ndtr(x_over_s + half_s) - e_neg * ndtr(x_over_s - half_s)
    # e^{x/2} n(d1) simplifies to this, with no cancellation.
    slope = np.exp(-0.5 * (x_over_s * x_over_s + half_s * half_s)) * _INV_SQRT_2PI
    return b, slope


def implied_vol(
    price: ArrayLike,
    spot: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    rate: ArrayLike,
    dividend: ArrayLike,
    is_call: ArrayLike,
    *,
    tol: float = 1e-10,
    max_iter: int = 50,
    vol_min: float = DEFAULT_VOL_MIN,
    vol_max: float = DEFAULT_VOL_MAX,
) -> np.ndarray:
    """Volatility that reproduces each option's ``price`` under Black-Scholes-Merton.

    Arguments broadcast like :func:`v6.pricing.bsm.bsm_price`; ``price`` is per share.
    ``tol`` is the accuracy asked of the volatility (a Newton step smaller than it ends
    the search); the repriced value then matches ``price`` to about 1e-12 of the spot.

    NaN marks every option no volatility in ``[vol_min, vol_max]`` explains: a price
    at or below intrinsic value or above the no-arbitrage bound, ``t <= 0``, non-finite
    or non-positive inputs, or a search that did not settle within ``max_iter`` steps.
    Never raises or warns on such quotes, so a whole chain can be passed as it arrives.
    """
    if not 0.0 < vol_min < vol_max or not tol > 0.0 or max_iter < 1:
        raise ValueError(
            f"implied_vol needs 0 < vol_min < vol_max, tol > 0 and max_iter >= 1; got "
            f"vol_min={vol_min}, vol_max={vol_max}, tol={tol}, max_iter={max_iter}"
        )
    p, s0, k, t_, r, q, call = chain_arrays(price, spot, strike, t, rate, dividend, is_call=is_call)
    shape = call.shape
    p, s0, k, t_, r, q, call = (a.reshape(-1) for a in (p, s0, k, t_, r, q, call))
    result = np.full(p.shape, np.nan)

    valid = (
        (s0 > 0.0)
        & (s0 < np.inf)
        & (k > 0.0)
        & (k < np.inf)
        & (t_ > 0.0)
        & (t_ < np.inf)
        & (np.abs(r) < np.inf)
        & (np.abs(q) < np.inf)
        & (p > 0.0)
        & (p < np.inf)
    )
    idx = np.flatnonzero(valid)
    if idx.size < p.size:
        p, s0, k, t_, r, q, call = (a[idx] for a in (p, s0, k, t_, r, q, call))

    # Absurd but finite inputs (rates of 1e4, strikes of 1e-300) can overflow on the way
    # to the normalised price; they end up non-finite and fail the `fits` test below.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        sqrt_t = np.sqrt(t_)
        x = np.log(s0 / k) + (r - q) * t_  # ln(F/K)
        half_x = 0.5 * x
        # Undiscounted price in units of sqrt(F K), then the OTM equivalent by put-call parity.
        beta = p * np.exp(r * t_ - half_x) / k
        w = np.where(call, 1.0, -1.0)
        itm = w * x > 0.0
        beta -= np.where(itm, w * (np.exp(half_x) - np.exp(-half_x)), 0.0)
        x = -np.abs(x)
        e_pos = np.exp(0.5 * x)
        e_neg = 1.0 / e_pos

        lo = vol_min * sqrt_t
        hi = vol_max * sqrt_t
        b_lo, _ = _normalised_price(x, lo, e_pos, e_neg)
        b_hi, _ = _normalised_price(x, hi, e_pos, e_neg)
        # Strictly above intrinsic (beta > 0): at intrinsic no positive volatility fits.
        fits = (beta > 0.0) & (beta >= b_lo) & (beta <= b_hi)

        s_c = np.clip(np.sqrt(-2.0 * x), lo, hi)
        b_c, _ = _normalised_price(x, s_c, e_pos, e_neg)
        lower = beta < b_c
        log_beta = np.log(np.where(fits, beta, 1.0))

    s = _solve(x, beta, log_beta, lower, s_c, lo, hi, e_pos, e_neg, fits, sqrt_t * tol, max_iter)
    vol = s / sqrt_t
    result[idx] = vol
    return result.reshape(shape)


def _solve(
    x: np.ndarray,
    beta: np.ndarray,
    log_beta: np.ndarray,
    lower: np.ndarray,
    s: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    e_pos: np.ndarray,
    e_neg: np.ndarray,
    fits: np.ndarray,
    step_tol: np.ndarray,
    max_iter: int,
) -> np.ndarray:
    """Safeguarded Newton on the options still searching; NaN where it did not settle.

    The per-option arrays are compressed together whenever some options settle, so each
    iteration only computes on the options still searching.
    """
    out = np.full(s.shape, np.nan)
    active = np.flatnonzero(fits)
    per_option = [a[active] for a in (x, beta, log_beta, lower, e_pos, e_neg, step_tol)]
    s, lo, hi = s[active], lo[active], hi[active]
    for _ in range(max_iter):
        if active.size == 0:
            break
        x_a, target, log_target, lower_a, e_pos_a, e_neg_a, step_tol_a = per_option
        b, slope = _normalised_price(x_a, s, e_pos_a, e_neg_a)
        below = b < target
        lo = np.where(below, s, lo)
        hi = np.where(below, hi, s)
        # Underflowed tails (b == 0, slope == 0) give non-finite steps: bisect those.
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            log_b = np.log(b)
            step_lower = (b / slope) * (log_b / log_target) * (log_target - log_b)
            step_upper = (target - b) / slope
        s_new = s + np.where(lower_a, step_lower, step_upper)
        inside = (s_new >= lo) & (s_new <= hi)
        s_new = np.where(inside, s_new, 0.5 * (lo + hi))
        exact = b == target
        s_new[exact] = s[exact]
        done = exact | (np.abs(s_new - s) <= step_tol_a)
        s = s_new
        if done.any():
            out[active[done]] = s[done]
            keep = ~done
            active = active[keep]
            per_option = [a[keep] for a in per_option]
            s, lo, hi = s[keep], lo[keep], hi[keep]
    return out
