"""Portfolio Greeks and full-revaluation stress scenarios, vectorised over every leg.

The entry gate asks "what would the portfolio look like after this trade?" every cycle,
for every candidate, so the calculator works on flat per-leg arrays: legs are located
in their chains with one ``searchsorted`` per underlying, Greeks are summed per position
with ``np.bincount``, and every leg is repriced under every scenario in a single
:func:`~v6.pricing.bsm_price` call over a ``(scenarios + 1, legs)`` grid. Python only
loops over positions to read their fields and over underlyings to pick their chain.

Missing data never loosens a limit: a position that cannot be valued is reported
``valid=False`` with zero Greeks and its full ``max_loss`` lost in every scenario.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from v6.config import RiskSettings
from v6.domain.market import MarketView, locate_legs
from v6.domain.positions import Position, PositionStatus
from v6.domain.risk import PortfolioRisk, StressScenario
from v6.pricing import bsm_price
from v6.pricing.expiry import years_to_expiry

# A shocked volatility below one point is not a market anyone quotes; it would also
# collapse the option to its forward value and hide the risk the scenario is meant to show.
MIN_STRESS_VOL = 0.01


def position_units(position: Position) -> int:
    """Combo units the portfolio must be able to carry for ``position``.

    A working entry (``OPENING`` with nothing filled yet) counts one unit: once the order
    fills that risk is in the book, so the limits must already allow for it. A closed
    position carries nothing, whatever its stored quantity.
    """
    if position.status is PositionStatus.CLOSED:
        return 0
    if position.status is PositionStatus.OPENING and position.quantity == 0:
        return 1
    return position.quantity


def _positive_finite(value: float) -> bool:
    return math.isfinite(value) and value > 0.0


class PortfolioRiskCalculator:
    """Measures :class:`PortfolioRisk` of a set of positions against one market view.

    ``scenarios`` is every ``(spot_move, vol_shift)`` pair of the settings, spot moves in
    the outer loop, both in config order, so ``stress_pnl[s]`` lines up with it.

    Conventions: spot is the underlying quote's mid (the chain's spot when the quote is
    unusable); the beta reference's own spot converts deltas to reference shares, and
    when the reference is not quoted at all ``beta_delta`` falls back to ``delta x beta``.
    Time to expiry runs to 16:00 New York on the expiry date; ``margin`` equals
    ``max_loss`` because every structure V6 trades is defined-risk.
    """

    def __init__(self, settings: RiskSettings) -> None:
        self.settings = settings
        self.scenarios: tuple[StressScenario, ...] = tuple(
            StressScenario(float(m), float(v))
            for m in settings.spot_moves
            for v in settings.vol_shifts
        )
        # Row 0 is the unshocked base; rows 1.. are the scenarios in order.
        self._spot_factor = np.array(
            [1.0, *(1.0 + s.spot_move for s in self.scenarios)], dtype=np.float64
        )[:, None]
        self._vol_shift = np.array([0.0, *(s.vol_shift for s in self.scenarios)], dtype=np.float64)[
            :, None
        ]

    # -- public --------------------------------------------------------------------------

    def compute(self, positions: Sequence[Position], market: MarketView) -> PortfolioRisk:
        """Greeks, margin and stress P&L of every position in ``positions`` at ``market``.

        Greeks come from the chain (the numbers the market quotes); stress P&L from a full
        Black-Scholes revaluation of each leg at the shocked spot and volatility with the
        same time to expiry (an instantaneous shock), because a linear delta-gamma estimate
        understates the loss of short options in exactly the crash the scenario is about.
        """
        if not positions:
            return PortfolioRisk.empty(market.time, self.scenarios)
        n = len(positions)
        units = np.array([position_units(p) for p in positions], dtype=np.float64)
        max_loss = np.array([p.max_loss for p in positions], dtype=np.float64)
        legs = [leg for p in positions for leg in p.legs]
        counts = np.array([len(p.legs) for p in positions], dtype=np.int64)
        owner = np.repeat(np.arange(n), counts)
        n_legs = len(legs)

        strike = np.array([leg.contract.strike for leg in legs], dtype=np.float64)
        is_call = np.array([leg.contract.is_call for leg in legs], dtype=bool)
        weight = np.array([leg.ratio * leg.contract.multiplier for leg in legs], dtype=np.float64)
        weight *= units[owner]  # ratio x units x multiplier: shares per per-share value
        years = years_to_expiry(
            np.array([leg.contract.expiry for leg in legs], dtype="datetime64[D]"), market.time
        )

        iv = np.full(n_legs, np.nan)
        delta = np.full(n_legs, np.nan)
        gamma = np.full(n_legs, np.nan)
        vega = np.full(n_legs, np.nan)
        theta = np.full(n_legs, np.nan)
        spot = np.full(n_legs, np.nan)
        dividend = np.zeros(n_legs)
        listed = np.zeros(n_legs, dtype=bool)
        beta_factor = np.zeros(n)  # beta_delta / delta, per position

        reference_spot = self._spot(market, self.settings.beta_reference)
        by_underlying: dict[str, list[int]] = {}
        for i, p in enumerate(positions):
            by_underlying.setdefault(p.underlying, []).append(i)
        for underlying, members in by_underlying.items():
            member = np.zeros(n, dtype=bool)
            member[members] = True
            rows = np.flatnonzero(member[owner])
            u_spot = self._spot(market, underlying)
            beta = float(self.settings.betas.get(underlying, 1.0))
            # Without a reference quote the deltas cannot be converted to reference
            # shares; delta x beta keeps the beta weighting and treats both spots as equal,
            # which is the least surprising number and is still limited.
            beta_factor[members] = (
                u_spot * beta / reference_spot
                if _positive_finite(reference_spot) and _positive_finite(u_spot)
                else beta
            )
            chain = market.chains.get(underlying)
            if chain is None or len(chain) == 0 or rows.size == 0:
                continue  # nothing to value against: every leg stays unlisted
            idx = locate_legs(chain, [legs[r] for r in rows])
            found = idx >= 0
            hit = rows[found]
            at = idx[found]
            listed[hit] = chain.valid[at]
            iv[hit] = chain.iv[at]
            delta[hit] = chain.delta[at]
            gamma[hit] = chain.gamma[at]
            vega[hit] = chain.vega[at]
            theta[hit] = chain.theta[at]
            spot[rows] = u_spot
            dividend[rows] = chain.dividend_yield  # what the chain was priced with

        leg_ok = (
            listed
            & np.isfinite(iv)
            & np.isfinite(delta)
            & np.isfinite(gamma)
            & np.isfinite(vega)
            & np.isfinite(theta)
            & np.isfinite(spot)
            & (spot > 0.0)
        )

        # Every leg under every scenario at once: rows are base + scenarios, columns legs.
        shocked_spot = spot * self._spot_factor
        shocked_vol = np.maximum(iv + self._vol_shift, MIN_STRESS_VOL)
        value = bsm_price(
            shocked_spot,
            strike,
            years,
            self.settings.risk_free_rate,
            dividend,
            shocked_vol,
            is_call,
        )
        leg_ok &= np.isfinite(value).all(axis=0)
        held = weight != 0.0
        # A leg of a position that holds nothing cannot make it invalid: there is no risk
        # to understate, and a long-closed position's expired contracts are not quoted.
        bad_leg = ~leg_ok & held
        valid = np.bincount(owner, weights=bad_leg, minlength=n) == 0

        w = np.where(leg_ok, weight, 0.0)

        def per_position(per_share: np.ndarray) -> np.ndarray:
            per_leg = np.where(leg_ok, per_share, 0.0) * w
            return np.where(valid, np.bincount(owner, weights=per_leg, minlength=n), 0.0)

        position_delta = per_position(delta)

        n_scen = len(self.scenarios)
        leg_pnl = np.where(leg_ok, value[1:] - value[0], 0.0) * w  # (scenarios, legs)
        flat_owner = (np.arange(n_scen)[:, None] * n + owner[None, :]).ravel()
        stress = np.bincount(flat_owner, weights=leg_pnl.ravel(), minlength=n_scen * n)
        stress = stress.reshape(n_scen, n)
        stress[:, ~valid] = -max_loss[~valid]

        carried = units != 0.0
        max_loss = np.where(carried, max_loss, 0.0)
        return PortfolioRisk(
            time=market.time,
            position_ids=tuple(p.position_id for p in positions),
            underlyings=tuple(p.underlying for p in positions),
            delta=position_delta,
            beta_delta=position_delta * beta_factor,
            gamma=per_position(gamma),
            vega=per_position(vega) / 100.0,  # per 1.00 of vol -> dollars per vol point
            theta=per_position(theta),  # per day already: x multiplier = dollars per day
            max_loss=max_loss,
            # Defined-risk structures: the broker holds the credit received as cash and
            # reduces buying power by width - credit, i.e. exactly the maximum loss.
            margin=max_loss.copy(),
            valid=valid,
            scenarios=self.scenarios,
            stress_pnl=stress,
        )

    # -- helpers -------------------------------------------------------------------------

    @staticmethod
    def _spot(market: MarketView, underlying: str) -> float:
        """The underlying's quote mid, or its chain's spot when the quote is unusable."""
        quote = market.underlyings.get(underlying)
        if quote is not None and _positive_finite(quote.mid):
            return float(quote.mid)
        chain = market.chains.get(underlying)
        if chain is not None and _positive_finite(chain.spot):
            return float(chain.spot)
        return float("nan")
