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
  25-delta skew similar across maturities, as it is in real markets. The slope is set
  per underlying (``sim.underlyings.<symbol>.skew_slope``; 0 is a flat smile) so a
  skew-aware strategy can be tested against steep and flat markets; the wing curvature
  is the same everywhere.

Everything is vectorised over a whole chain.
"""

from __future__ import annotations

import numpy as np

VARIANCE_RISK_PREMIUM = 1.1
LONG_RUN_MULTIPLIER = 1.25
TERM_DECAY_YEARS = 0.12
# The default smile slope (SimUnderlyingSettings.skew_slope): a typical equity index.
SKEW_SLOPE = 0.28
PUT_WING_CURVATURE = 0.10
CALL_WING_CURVATURE = 0.08
MONEYNESS_CLIP = 4.0
# The smile flattens beyond this many standard deviations (and sooner for steep skews:
# at ``WING_LIMIT / skew_slope``). A quadratic smile carried further prices a farther
# put above a nearer one, a free vertical spread no real market shows; 2.0 and 0.68 are
# where the simulated chains stop showing any such arbitrage for slopes up to 0.6.
WING_FLAT_BEYOND = 2.0
WING_LIMIT = 0.68
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


def smile(atm: np.ndarray, z: np.ndarray, skew_slope: float = SKEW_SLOPE) -> np.ndarray:
    """Implied volatility at standardised moneyness ``z`` around the ATM level ``atm``.

    ``skew_slope`` is how much richer each standard deviation down makes a put (and
    cheaper a call); 0 leaves only the wing curvature, a nearly symmetric smile.
    """
    flat = WING_FLAT_BEYOND if skew_slope <= 0 else min(WING_FLAT_BEYOND, WING_LIMIT / skew_slope)
    z = np.clip(z, -flat, flat)
    curvature = np.where(z < 0.0, PUT_WING_CURVATURE, CALL_WING_CURVATURE)
    iv = atm * (1.0 - skew_slope * z + curvature * z * z)
    return np.clip(iv, MIN_IV, MAX_IV)


def surface_levels(realised_vol: float, calm_vol: float) -> tuple[float, float]:
    """Spot and long-run ATM levels of an underlying from its current and calm volatility."""
    return VARIANCE_RISK_PREMIUM * realised_vol, LONG_RUN_MULTIPLIER * calm_vol


def vix_level(spy_realised_vol: float, spy_calm_vol: float) -> float:
    """VIX (before noise): 100 x the 30-day volatility of the SPY surface, skew included."""
    spot, long_run = surface_levels(spy_realised_vol, spy_calm_vol)
    return float(100.0 * VIX_SKEW_PREMIUM * atm_vol(spot, long_run, VIX_TENOR_YEARS))
