"""The entry workflow: candidate → strikes → risk check after the trade → order.

Strategies only *propose*. Whether a proposal becomes an order is decided here, the same
way for every strategy, against hard limits on the portfolio *as it would be after the
trade*: the candidate's own Greeks and stress P&L (from the same risk calculator that
measures the book) are added to the portfolio's, and to every entry already accepted
this cycle. A trade that would push a measure past its limit is refused, unless it
reduces a measure that is already past it (a hedge is always welcome). Every outcome,
accepted or rejected, comes back with its reason so it is stored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Protocol

import numpy as np
from attrs import frozen

from v6.config import LimitSettings
from v6.domain.account import AccountSnapshot
from v6.domain.entries import StrikeSelection
from v6.domain.market import MarketView
from v6.domain.positions import Position, PositionStatus
from v6.domain.risk import PortfolioRisk, RiskTotals
from v6.pricing.payoff import risk_profile


class RiskCalculator(Protocol):
    """What the workflow needs of the portfolio risk calculator."""

    def compute(self, positions: Sequence[Position], market: MarketView) -> PortfolioRisk: ...


@frozen(slots=True)
class EntryVerdict:
    """Whether a selected structure may be opened, its risk, and the portfolio after it."""

    accepted: bool
    reason: str
    max_loss: float
    max_profit: float
    after: RiskTotals | None = None


def selection_risk(selection: StrikeSelection) -> tuple[float, float]:
    """(max loss, max profit) in dollars of a selection at its mid price and quantity."""
    legs = selection.legs
    profile = risk_profile(
        np.array([leg.contract.strike for leg in legs]),
        np.array([leg.contract.is_call for leg in legs]),
        np.array([leg.ratio for leg in legs]),
        selection.net_mid,
    )
    size = selection.candidate.quantity * legs[0].contract.multiplier
    return profile.max_loss * size, profile.max_profit * size


def candidate_position(
    selection: StrikeSelection, max_loss: float, max_profit: float, view: MarketView
) -> Position:
    """The position a selection would become, for measuring its risk before it exists."""
    candidate = selection.candidate
    return Position(
        position_id=f"candidate:{candidate.strategy}:{candidate.underlying}",
        strategy=candidate.strategy,
        underlying=candidate.underlying,
        structure=candidate.structure,
        legs=selection.legs,
        quantity=candidate.quantity,
        entry_price=selection.net_mid,
        opened_at=view.time,
        status=PositionStatus.OPENING,
        max_profit=max_profit,
        max_loss=max_loss,
    )


def _worsens(before: float, after: float, limit: float) -> bool:
    """True when ``after`` is past ``limit`` in magnitude and further out than ``before``."""
    return abs(after) > limit and abs(after) > abs(before) + 1e-9


class EntryWorkflow:
    """Checks selections against the limits, cycle by cycle."""

    def __init__(self, limits: LimitSettings, calculator: RiskCalculator) -> None:
        self.limits = limits
        self.calculator = calculator
        self._portfolio: PortfolioRisk | None = None
        self._open_count = 0
        self._per_underlying: Counter[str] = Counter()
        self._account: AccountSnapshot | None = None
        self._blocked: set[str] = set()
        self._entered = 0
        self._committed = 0.0

    def start_cycle(
        self,
        portfolio: PortfolioRisk,
        live_positions: Sequence[Position],
        account: AccountSnapshot,
        blocked_underlyings: set[str],
    ) -> None:
        """The portfolio and account as the cycle begins (before this cycle's entries)."""
        self._portfolio = portfolio
        self._open_count = len(live_positions)
        self._per_underlying = Counter(p.underlying for p in live_positions)
        self._account = account
        self._blocked = set(blocked_underlyings)
        self._entered = 0
        self._committed = 0.0

    def assess(self, selection: StrikeSelection, view: MarketView) -> tuple[EntryVerdict, object]:
        """The verdict on ``selection``, and a token to pass to :meth:`accept` if it is sent."""
        if self._portfolio is None or self._account is None:
            raise RuntimeError("EntryWorkflow.start_cycle was not called")
        limits = self.limits
        max_loss, max_profit = selection_risk(selection)
        underlying = selection.candidate.underlying

        def reject(reason: str, after: RiskTotals | None = None) -> tuple[EntryVerdict, object]:
            return EntryVerdict(False, reason, max_loss, max_profit, after), None

        if underlying in self._blocked:
            return reject(f"entries on {underlying} blocked until positions reconcile")
        if not np.isfinite(max_loss):
            return reject("undefined risk")
        if self._entered >= limits.max_entries_per_cycle:
            return reject(f"max_entries_per_cycle {limits.max_entries_per_cycle} reached")
        if self._open_count >= limits.max_open_positions:
            return reject(f"max_open_positions {limits.max_open_positions} reached")
        if self._per_underlying[underlying] >= limits.max_positions_per_underlying:
            return reject(
                f"max_positions_per_underlying {limits.max_positions_per_underlying} reached"
            )
        if max_loss > limits.max_loss_per_trade:
            return reject(
                f"max loss {max_loss:.2f} > max_loss_per_trade {limits.max_loss_per_trade}"
            )
        if not np.isfinite(self._account.buying_power):
            return reject("account values unavailable: buying power unknown")
        available = self._account.buying_power - self._committed
        if available - max_loss < limits.min_buying_power_reserve:
            return reject(
                f"buying power {available:.2f} - {max_loss:.2f} below reserve "
                f"{limits.min_buying_power_reserve}"
            )

        trade = self.calculator.compute(
            [candidate_position(selection, max_loss, max_profit, view)], view
        )
        if not trade.valid.all():
            return reject("the candidate's legs cannot be valued at current quotes")
        after_portfolio = self._portfolio.combined(trade)
        before, after = self._portfolio.totals(), after_portfolio.totals()
        names = np.array(after_portfolio.underlyings, dtype=object)
        mine = after_portfolio.totals(names == underlying)

        if after.max_loss > limits.max_total_max_loss:
            return reject(
                f"portfolio max loss {after.max_loss:.2f} > max_total_max_loss "
                f"{limits.max_total_max_loss}",
                after,
            )
        if mine.max_loss > limits.max_loss_per_underlying:
            return reject(
                f"{underlying} max loss {mine.max_loss:.2f} > max_loss_per_underlying "
                f"{limits.max_loss_per_underlying}",
                after,
            )
        cap = limits.max_underlying_share * limits.max_total_max_loss
        if mine.max_loss > cap:
            return reject(
                f"concentration: {underlying} max loss {mine.max_loss:.2f} > "
                f"{limits.max_underlying_share:.0%} of max_total_max_loss",
                after,
            )
        for measure, limit in (
            ("beta_delta", limits.max_abs_beta_delta),
            ("gamma", limits.max_abs_gamma),
            ("vega", limits.max_abs_vega),
        ):
            b, a = getattr(before, measure), getattr(after, measure)
            if _worsens(b, a, limit):
                return reject(f"portfolio {measure} {a:+.1f} past limit {limit:g}", after)
        if after.worst_stress_loss > limits.max_stress_loss and (
            after.worst_stress_loss > before.worst_stress_loss + 1e-9
        ):
            scenario, _ = after_portfolio.worst_scenario()
            label = scenario.label if scenario is not None else "?"
            return reject(
                f"worst stress loss {after.worst_stress_loss:,.2f} ({label}) > max_stress_loss "
                f"{limits.max_stress_loss:g}",
                after,
            )
        verdict = EntryVerdict(True, "within limits", max_loss, max_profit, after)
        return verdict, (after_portfolio, max_loss, underlying)

    def accept(self, token: object) -> None:
        """The selection was sent: its risk now belongs to the portfolio for this cycle."""
        after_portfolio, max_loss, underlying = token  # type: ignore[misc]
        self._portfolio = after_portfolio
        self._entered += 1
        self._committed += max_loss
        self._open_count += 1
        self._per_underlying[underlying] += 1
