"""The simulated implied-volatility surface, free of static arbitrage by construction.

The surface is Gatheral and Jacquier's SSVI ("Arbitrage-free SVI volatility surfaces",
Quantitative Finance 14(1), 2014): total implied variance ``w = iv**2 * t`` at
log-forward-moneyness ``k = ln(K / F)`` is

    w(k, t) = theta_t / 2 * (1 + rho * phi * k + sqrt((phi * k + rho)**2 + 1 - rho**2))

with ``theta_t`` the ATM total variance and the power-law ``phi(theta) = eta /
(theta**gamma * (1 + theta)**(1 - gamma))``. Their Theorems 4.1 and 4.2 (Remark 4.4)
give the conditions this module keeps by construction, for every snapshot:

- no calendar arbitrage: ``theta_t`` strictly increasing in ``t`` (the ATM term
  structure below integrates a positive forward variance) and ``0 < gamma <= 1/2``;
- no butterfly arbitrage: ``eta * (1 + |rho|) <= 2`` (a margin below it is kept) and
  ``|rho| < 1``.

So call prices are convex and decreasing in strike, and total variance never falls with
maturity at a fixed moneyness: every model price is free of static arbitrage, and since
the exchange quotes below put the bid at or under the model price and the ask at or
over it, so is every executable quote (:mod:`v6.market.static_arbitrage` checks that).

Shape, in the terms a volatility trader uses:

- ATM level: the market's current volatility times a variance-risk premium (implied
  trades above realised), relaxing toward a long-run level with maturity. The forward
  variance decays exponentially from the spot level to the long-run one (a Heston-style
  expected variance curve): upward sloping when calm, inverted in stress.
- Skew: ``rho < 0`` makes puts richer than calls. The ATM slope of iv / atm per standard
  deviation of moneyness is ``rho * eta / 2`` (with ``gamma = 1/2`` it is the same at
  every maturity, as real index skews roughly are). :func:`skew_params` turns the
  ``skew_slope`` of an underlying (times the market's current skew multiplier, which
  moves with the regime and the volatility level) into ``eta`` at a fixed ``rho``; a
  slope of 0 is a flat smile.

Everything is vectorised over a whole chain.
"""

from __future__ import annotations

import numpy as np

# The variance risk premium: the short end of the implied curve sits this many times
# above the volatility the market is realising now. Option sellers are paid to carry
# crash risk, so implied trades above the volatility that follows: with the long end
# below, SPY's 30-day ATM implied averages about 2.5 vol points above the 21 trading days
# of realised volatility after it (docs/SIM-MARKET.md; published SPX figures: 2-4 points).
VARIANCE_RISK_PREMIUM = 1.4
# The long end of the implied curve, as a multiple of the calm realised volatility: it
# prices the stress a quiet month does not show (long-dated SPX implied sits near 18-20
# while calm realised runs near 10), so the curve is in contango when calm and inverted
# once the short end is lifted by stress.
LONG_RUN_MULTIPLIER = 1.8
# Forward variance relaxes from its spot level to the long-run level with this time
# constant (years): about six weeks, so the 30-day point is mostly the spot level.
TERM_DECAY_YEARS = 0.12
# The default smile slope (SimUnderlyingSettings.skew_slope): iv / atm falls by this
# share per standard deviation of moneyness at the money. 0.15 puts the 30-day SPY
# 25-delta put at about 1.2 times the 25-delta call's volatility.
SKEW_SLOPE = 0.15
# SSVI's correlation-like parameter: how lopsided the smile is. Index smiles are smirks
# (the call wing barely rises), so it is strongly negative; the steepness comes from
# ``eta``. The power-law exponent 1/2 makes the skew per standard deviation the same at
# every maturity.
SSVI_RHO = -0.7
SSVI_GAMMA = 0.5
# eta (1 + |rho|) stays a little below 2, Gatheral and Jacquier's no-butterfly bound.
BUTTERFLY_MARGIN = 0.98
# In the last minutes before expiry SSVI's wings reach any volatility (total variance
# falls more slowly than time); the quoted IV stops here. Only options worth far less
# than a hundredth of a cent get there (they bid zero and offer one tick), so no quote
# changes and the quality gate never sees an impossible IV.
MAX_IV = 4.0
VIX_TENOR_YEARS = 30.0 / 365.0
# VIX is a variance-swap rate: the whole smile, not only the ATM strike, so it sits a
# little above the 30-day ATM volatility.
VIX_SKEW_PREMIUM = 1.05


def atm_total_variance(spot_vol: float, long_vol: float, t: np.ndarray | float) -> np.ndarray:
    """ATM total implied variance ``theta_t`` at maturity ``t`` (years).

    The integral of a forward variance that decays from ``spot_vol**2`` to
    ``long_vol**2`` with time constant ``TERM_DECAY_YEARS``: positive at every maturity,
    so ``theta_t`` strictly increases (no calendar arbitrage).
    """
    t = np.asarray(t, dtype=np.float64)
    v0, vl = spot_vol * spot_vol, long_vol * long_vol
    return vl * t + (v0 - vl) * TERM_DECAY_YEARS * -np.expm1(-t / TERM_DECAY_YEARS)


def atm_vol(spot_vol: float, long_vol: float, t: np.ndarray | float) -> np.ndarray:
    """ATM implied volatility at maturity ``t`` (years) on the term structure above.

    ``spot_vol`` is the very short-dated level, ``long_vol`` the level far out.
    """
    t = np.maximum(np.asarray(t, dtype=np.float64), 1e-12)
    return np.sqrt(atm_total_variance(spot_vol, long_vol, t) / t)


def skew_params(skew_slope: float) -> tuple[float, float]:
    """SSVI ``(rho, eta)`` for an ATM slope of ``skew_slope`` per standard deviation.

    ``rho`` is fixed at ``SSVI_RHO`` and ``rho * eta / 2 = -skew_slope``, with ``eta``
    capped so that ``eta (1 + |rho|)`` stays below 2 (the no-butterfly condition): the
    steepest smile the surface can carry without a free butterfly. 0 is a flat smile.
    """
    rho = SSVI_RHO
    eta = min(2.0 * max(float(skew_slope), 0.0) / abs(rho), BUTTERFLY_MARGIN * 2.0 / (1 - rho))
    return rho, eta


def ssvi_total_variance(
    k: np.ndarray, theta: np.ndarray, rho: float, eta: float, gamma: float = SSVI_GAMMA
) -> np.ndarray:
    """SSVI total implied variance at log-forward-moneyness ``k`` for ATM variance ``theta``."""
    phi = eta / (theta**gamma * (1.0 + theta) ** (1.0 - gamma))
    x = phi * k
    return 0.5 * theta * (1.0 + rho * x + np.sqrt((x + rho) ** 2 + 1.0 - rho * rho))


def implied_vol(
    strike: np.ndarray,
    forward: np.ndarray,
    t: np.ndarray,
    spot_vol: float,
    long_vol: float,
    skew_slope: float,
) -> np.ndarray:
    """Implied volatility of every option of a chain (vectorised)."""
    theta = atm_total_variance(spot_vol, long_vol, t)
    rho, eta = skew_params(skew_slope)
    w = ssvi_total_variance(np.log(strike / forward), theta, rho, eta)
    return np.minimum(np.sqrt(w / t), MAX_IV)


def standardised_moneyness(
    strike: np.ndarray, forward: np.ndarray | float, atm: np.ndarray, t: np.ndarray
) -> np.ndarray:
    """ln(K / F) in standard deviations of the forward to expiry (for spreads)."""
    return np.log(strike / forward) / (atm * np.sqrt(t))


def surface_levels(realised_vol: float, calm_vol: float) -> tuple[float, float]:
    """Spot and long-run ATM levels of an underlying from its current and calm volatility."""
    return VARIANCE_RISK_PREMIUM * realised_vol, LONG_RUN_MULTIPLIER * calm_vol


def vix_level(spy_realised_vol: float, spy_calm_vol: float) -> float:
    """VIX (before noise): 100 x the 30-day volatility of the SPY surface, skew included."""
    spot, long_run = surface_levels(spy_realised_vol, spy_calm_vol)
    return float(100.0 * VIX_SKEW_PREMIUM * atm_vol(spot, long_run, VIX_TENOR_YEARS))
