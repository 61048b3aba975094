"""Expiry payoff and the risk profile of a single-expiry combo.

The payoff of a combo at expiry is piecewise linear with kinks at its strikes, so its
extremes lie at spot 0, at a strike, or beyond the highest strike (where the slope is the
net call ratio). That makes max profit, max loss and "is this risk defined?" exact.
"""

from __future__ import annotations

import numpy as np
from attrs import frozen


def expiry_payoff(
    strike: np.ndarray, is_call: np.ndarray, ratio: np.ndarray, spots: np.ndarray
) -> np.ndarray:
    """Value per share of one combo unit at expiry for each spot in ``spots``.

    ``strike``, ``is_call`` and ``ratio`` describe the legs (signed ratio: + long).
    Returns an array shaped like ``spots``.
    """
    k = np.asarray(strike, dtype=np.float64)
    c = np.asarray(is_call, dtype=bool)
    r = np.asarray(ratio, dtype=np.float64)
    s = np.asarray(spots, dtype=np.float64)[..., None]
    intrinsic = np.where(c, np.maximum(s - k, 0.0), np.maximum(k - s, 0.0))
    return intrinsic @ r


@frozen(slots=True)
class RiskProfile:
    """Per share, per combo unit. ``max_loss`` is a positive number or ``inf``."""

    max_profit: float
    max_loss: float

    @property
    def defined(self) -> bool:
        """True when the loss is bounded (no naked short call exposure)."""
        return bool(np.isfinite(self.max_loss))


def risk_profile(
    strike: np.ndarray, is_call: np.ndarray, ratio: np.ndarray, net_price: float
) -> RiskProfile:
    """Max profit and max loss of a combo bought at ``net_price`` (debit > 0, credit < 0)."""
    k = np.asarray(strike, dtype=np.float64)
    points = np.concatenate(([0.0], np.unique(k)))
    pnl = expiry_payoff(k, is_call, ratio, points) - net_price
    upside_slope = float(np.sum(np.asarray(ratio, dtype=np.float64)[np.asarray(is_call, bool)]))
    max_loss = float(-pnl.min())
    max_profit = float(pnl.max())
    if upside_slope < 0:
        max_loss = float("inf")
    elif upside_slope > 0:
        max_profit = float("inf")
    return RiskProfile(max_profit=max_profit, max_loss=max(max_loss, 0.0))
