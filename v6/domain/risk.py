"""Portfolio risk as the engine measures it, and the state of its circuit breakers.

Risk is held per position as NumPy arrays (one element per position), so totals, the
breakdown by underlying and "the position contributing most to a breached limit" are
array reductions, and the portfolio *after* a proposed trade is the current arrays plus
one more element.

Units, all for the whole position (ratio x quantity x multiplier already applied):

* ``delta``: share equivalents of the position's own underlying.
* ``beta_delta``: share equivalents of the beta reference (SPY by default):
  ``delta x spot x beta / reference spot``, so deltas of SPY, QQQ and IWM add up.
* ``gamma``: change of ``delta`` per 1.00 move of the underlying.
* ``vega``: dollars per 1 volatility point (0.01).
* ``theta``: dollars per calendar day.
* ``max_loss`` and ``margin``: dollars, positive.
* ``stress_pnl[s, i]``: dollars of P&L of position ``i`` under scenario ``s``, by full
  revaluation (negative = loss).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import numpy as np
from attrs import field, frozen


def _f64(values: object) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


@frozen(slots=True)
class StressScenario:
    """An instantaneous shock: spot moves by ``spot_move`` (-0.10 = -10%) and every
    implied volatility by ``vol_shift`` (0.10 = +10 points)."""

    spot_move: float
    vol_shift: float

    @property
    def label(self) -> str:
        return f"spot {self.spot_move:+.0%} vol {self.vol_shift * 100:+.0f}pts"


@frozen(slots=True)
class RiskTotals:
    """Sums of the per-position measures over a set of positions."""

    positions: int
    delta: float
    beta_delta: float
    gamma: float
    vega: float
    theta: float
    max_loss: float
    margin: float
    worst_stress_loss: float  # positive dollars: the loss of the worst scenario (0 if none)


@frozen(slots=True, eq=False)
class PortfolioRisk:
    """Risk of a set of positions at one instant (see the module docstring for units).

    ``valid[i]`` is False when position ``i`` could not be valued (a leg missing or with
    a bad quote or NaN Greek). Such a position counts zero Greeks and its full max loss in
    every stress scenario: risk limits must never be loosened by missing data.
    """

    time: datetime
    position_ids: tuple[str, ...] = field(converter=tuple)
    underlyings: tuple[str, ...] = field(converter=tuple)
    delta: np.ndarray = field(converter=_f64)
    beta_delta: np.ndarray = field(converter=_f64)
    gamma: np.ndarray = field(converter=_f64)
    vega: np.ndarray = field(converter=_f64)
    theta: np.ndarray = field(converter=_f64)
    max_loss: np.ndarray = field(converter=_f64)
    margin: np.ndarray = field(converter=_f64)
    valid: np.ndarray = field(converter=lambda v: np.asarray(v, dtype=bool))
    scenarios: tuple[StressScenario, ...] = field(converter=tuple)
    stress_pnl: np.ndarray = field(converter=_f64)  # shape (len(scenarios), n positions)

    def __attrs_post_init__(self) -> None:
        n = len(self.position_ids)
        if len(self.underlyings) != n:
            raise ValueError("PortfolioRisk.underlyings must match position_ids")
        for name in ("delta", "beta_delta", "gamma", "vega", "theta", "max_loss", "margin"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"PortfolioRisk.{name} must have shape ({n},)")
        if self.valid.shape != (n,):
            raise ValueError(f"PortfolioRisk.valid must have shape ({n},)")
        if self.stress_pnl.shape != (len(self.scenarios), n):
            raise ValueError(
                f"PortfolioRisk.stress_pnl must have shape ({len(self.scenarios)}, {n})"
            )

    def __len__(self) -> int:
        return len(self.position_ids)

    @classmethod
    def empty(cls, time: datetime, scenarios: tuple[StressScenario, ...] = ()) -> PortfolioRisk:
        """The risk of holding nothing."""
        z = np.zeros(0)
        return cls(
            time, (), (), z, z, z, z, z, z, z, np.zeros(0, bool), scenarios,
            np.zeros((len(scenarios), 0)),
        )  # fmt: skip

    def index(self, position_id: str) -> int | None:
        """Row of ``position_id``, or None."""
        try:
            return self.position_ids.index(position_id)
        except ValueError:
            return None

    def scenario_pnl(self, mask: np.ndarray | None = None) -> np.ndarray:
        """Portfolio P&L per scenario (of the positions in ``mask``, default all)."""
        pnl = self.stress_pnl if mask is None else self.stress_pnl[:, mask]
        return pnl.sum(axis=1)

    def worst_scenario(self) -> tuple[StressScenario | None, float]:
        """The scenario with the largest portfolio loss, and that loss (positive dollars)."""
        if not self.scenarios or len(self) == 0:
            return None, 0.0
        pnl = self.scenario_pnl()
        worst = int(np.argmin(pnl))
        return self.scenarios[worst], max(0.0, -float(pnl[worst]))

    def totals(self, mask: np.ndarray | None = None) -> RiskTotals:
        """Sums over all positions, or those where ``mask`` is true."""
        m = np.ones(len(self), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
        worst = 0.0
        if self.scenarios and m.any():
            worst = max(0.0, -float(self.scenario_pnl(m).min()))
        return RiskTotals(
            positions=int(m.sum()),
            delta=float(self.delta[m].sum()),
            beta_delta=float(self.beta_delta[m].sum()),
            gamma=float(self.gamma[m].sum()),
            vega=float(self.vega[m].sum()),
            theta=float(self.theta[m].sum()),
            max_loss=float(self.max_loss[m].sum()),
            margin=float(self.margin[m].sum()),
            worst_stress_loss=worst,
        )

    def by_underlying(self) -> dict[str, RiskTotals]:
        """Totals per underlying."""
        names = np.array(self.underlyings, dtype=object)
        return {u: self.totals(names == u) for u in sorted(set(self.underlyings))}

    def combined(self, other: PortfolioRisk) -> PortfolioRisk:
        """This portfolio plus ``other``'s positions (the portfolio after a trade).

        Both must use the same scenarios.
        """
        if self.scenarios != other.scenarios:
            raise ValueError("cannot combine risk computed under different scenarios")
        return PortfolioRisk(
            time=max(self.time, other.time),
            position_ids=self.position_ids + other.position_ids,
            underlyings=self.underlyings + other.underlyings,
            delta=np.concatenate([self.delta, other.delta]),
            beta_delta=np.concatenate([self.beta_delta, other.beta_delta]),
            gamma=np.concatenate([self.gamma, other.gamma]),
            vega=np.concatenate([self.vega, other.vega]),
            theta=np.concatenate([self.theta, other.theta]),
            max_loss=np.concatenate([self.max_loss, other.max_loss]),
            margin=np.concatenate([self.margin, other.margin]),
            valid=np.concatenate([self.valid, other.valid]),
            scenarios=self.scenarios,
            stress_pnl=np.concatenate([self.stress_pnl, other.stress_pnl], axis=1),
        )


@frozen(slots=True)
class BreakerStatus:
    """One circuit breaker as the engine and exit rules see it."""

    name: str
    tripped: bool
    reason: str = ""
    tripped_at: datetime | None = None
    close_positions: bool = False  # a tripped breaker that also closes every position
    inputs: Mapping[str, float] = field(factory=dict)
