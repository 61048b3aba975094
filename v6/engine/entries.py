"""The entry workflow: candidate → strikes → limits → order.

Strategies only *propose*. Whether a proposal becomes an order is decided here, the same
way for every strategy, against hard limits on the portfolio as it would be after the
trade. Every outcome, accepted or rejected, is returned with its reason so it is stored.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from attrs import frozen

from v6.config import LimitSettings
from v6.domain.account import AccountSnapshot
from v6.domain.entries import StrikeSelection
from v6.domain.positions import Position
from v6.pricing.payoff import risk_profile


@frozen(slots=True)
class EntryVerdict:
    """Whether a selected structure may be opened, and its risk in dollars."""

    accepted: bool
    reason: str
    max_loss: float
    max_profit: float


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


def check_limits(
    selection: StrikeSelection,
    live_positions: Sequence[Position],
    entries_this_cycle: int,
    account: AccountSnapshot,
    limits: LimitSettings,
    blocked_underlyings: set[str],
    committed_this_cycle: float = 0.0,
) -> EntryVerdict:
    """Apply the hard limits to one selection against the portfolio after the trade.

    ``committed_this_cycle`` is the max loss of entries already sent this cycle: the
    account snapshot predates them, so their buying power is reserved here.
    """
    max_loss, max_profit = selection_risk(selection)
    underlying = selection.candidate.underlying

    def reject(reason: str) -> EntryVerdict:
        return EntryVerdict(False, reason, max_loss, max_profit)

    if underlying in blocked_underlyings:
        return reject(f"entries on {underlying} blocked until positions reconcile")
    if not np.isfinite(max_loss):
        return reject("undefined risk")
    if entries_this_cycle >= limits.max_entries_per_cycle:
        return reject(f"max_entries_per_cycle {limits.max_entries_per_cycle} reached")
    if len(live_positions) >= limits.max_open_positions:
        return reject(f"max_open_positions {limits.max_open_positions} reached")
    on_underlying = sum(1 for p in live_positions if p.underlying == underlying)
    if on_underlying >= limits.max_positions_per_underlying:
        return reject(f"max_positions_per_underlying {limits.max_positions_per_underlying} reached")
    if max_loss > limits.max_loss_per_trade:
        return reject(f"max loss {max_loss:.2f} > max_loss_per_trade {limits.max_loss_per_trade}")
    total = sum(p.max_loss for p in live_positions) + max_loss
    if total > limits.max_total_max_loss:
        return reject(f"portfolio max loss {total:.2f} > max_total_max_loss")
    available = account.buying_power - committed_this_cycle
    if available - max_loss < limits.min_buying_power_reserve:
        return reject(
            f"buying power {available:.2f} - {max_loss:.2f} below reserve "
            f"{limits.min_buying_power_reserve}"
        )
    return EntryVerdict(True, "within limits", max_loss, max_profit)
