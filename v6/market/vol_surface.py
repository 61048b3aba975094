"""The simulated implied-volatility surface, and VIX read off it.

Shape, in the terms a volatility trader uses:

- ATM level: the market's current volatility times a variance-risk premium (implied
  trades above realised), so it follows the regime.
- Term structure: the ATM level at maturity ``t`` relaxes from that spot level toward
  a long-run level. Calm markets sit below the long run (an upward curve); in stress the
  spot level is far above it (an inverted curve).
- Skew and smile: a quadratic in standardised log-moneyness
  ``z = ln(K / F) / (atm * sqrt(t))`` with a negative slope (puts richer than calls) and
  more curvature on the put wing. Measuring moneyness in standard deviations keeps the
  25-delta skew similar across maturities, as it is in real markets.

Everything is vectorised over a whole chain.
"""

from __future__ import annotations

import numpy as np

VARIANCE_RISK_PREMIUM = 1.1
LONG_RUN_MULTIPLIER = 1.25
TERM_DECAY_YEARS = 0.12
SKEW_SLOPE = 0.28
PUT_WING_CURVATURE = 0.10
CALL_WING_CURVATURE = 0.08
MONEYNESS_CLIP = 4.0
MIN_IV = 0.02
MAX_IV = 4.0
VIX_TENOR_YEARS = 30.0 / 365.0
# VIX is a variance-swap rate: the whole smile, not only the ATM strike, so it sits a
# little above the 30-day ATM volatility.
VIX_SKEW_PREMIUM = 1.05


def atm_vol(spot_vol: float, long_vol: float, t: np.ndarray | float) -> np.ndarray:
    """ATM implied volatility at maturity ``t`` (years) on an exponential term structure.

    ``spot_vol`` is the very short-dated level, ``long_vol`` the level far out.
    """
    t = np.asarray(t, dtype=np.float64)
    return long_vol + (spot_vol - long_vol) * np.exp(-t / TERM_DECAY_YEARS)


def standardised_moneyness(
    strike: np.ndarray, forward: np.ndarray | float, atm: np.ndarray, t: np.ndarray
) -> np.ndarray:
    """ln(K / F) in standard deviations of the forward to expiry, clipped at the wings."""
    z = np.log(strike / forward) / (atm * np.sqrt(t))
    return np.clip(z, -MONEYNESS_CLIP, MONEYNESS_CLIP)


def smile(atm: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Implied volatility at standardised moneyness ``z`` around the ATM level ``atm``."""
    curvature = np.where(z < 0.0, PUT_WING_CURVATURE, CALL_WING_CURVATURE)
    iv = atm * (1.0 - SKEW_SLOPE * z + curvature * z * z)
    return np.clip(iv, MIN_IV, MAX_IV)


def surface_levels(realised_vol: float, calm_vol: float) -> tuple[float, float]:
    """Spot and long-run ATM levels of an underlying from its current and calm volatility."""
    return VARIANCE_RISK_PREMIUM * realised_vol, LONG_RUN_MULTIPLIER * calm_vol


def vix_level(spy_realised_vol: float, spy_calm_vol: float) -> float:
    """VIX (before noise): 100 x the 30-day volatility of the SPY surface, skew included."""
    spot, long_run = surface_levels(spy_realised_vol, spy_calm_vol)
    return float(100.0 * VIX_SKEW_PREMIUM * atm_vol(spot, long_run, VIX_TENOR_YEARS))
