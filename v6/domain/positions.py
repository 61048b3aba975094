"""Strategy positions: a combo owned by one strategy, and its marks."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

import numpy as np
from attrs import field, frozen

from v6.domain.contracts import Leg


class PositionStatus(StrEnum):
    OPENING = "opening"  # entry order working
    OPEN = "open"
    CLOSING = "closing"  # exit order working
    CLOSED = "closed"


@frozen(slots=True)
class Position:
    """A combo position owned by one strategy.

    ``entry_price`` is the net debit per unit per share actually filled (negative for a
    credit); ``max_profit``/``max_loss`` are in dollars for the whole position, both
    positive numbers, computed from the expiry payoff. ``exit_price`` is the net debit per
    unit per share of the closing combo (buying back a condor for 0.40 is +0.40), so the
    captured profit per share is ``-(entry_price + exit_price)``.
    """

    position_id: str
    strategy: str
    underlying: str
    structure: str
    legs: tuple[Leg, ...]
    quantity: int
    entry_price: float
    opened_at: datetime
    status: PositionStatus
    max_profit: float
    max_loss: float
    closed_at: datetime | None = None
    exit_price: float | None = None
    realized_pnl: float = 0.0
    commissions: float = 0.0
    entry_regime: str = ""  # the underlying's regime when the entry was sent
    exit_rule: str = ""  # the exit rule whose decision closed the position
    slot: str = ""  # the strategy slot the position occupies: "strategy/underlying/index"

    @property
    def expiry(self) -> date:
        return min(leg.contract.expiry for leg in self.legs)

    @property
    def multiplier(self) -> int:
        return self.legs[0].contract.multiplier

    @property
    def entry_credit(self) -> float:
        """Credit received per unit per share (negative when the entry was a debit)."""
        return -self.entry_price


@frozen(slots=True)
class PositionMark:
    """A position valued against the current market, as exit rules see it.

    ``close_mid`` and ``close_natural`` are the net debit per unit per share to close
    (buy back) the position at mid and at the far side of each quote. ``unrealized_pnl``
    is in dollars at mid. ``quotes_valid`` is False when any leg's quote failed the
    data-quality gate: rules must not act on such a mark. ``short_deltas`` are the
    short legs' deltas, NaN for a leg whose quote failed the gate.
    """

    position: Position
    time: datetime
    spot: float
    close_mid: float
    close_natural: float
    unrealized_pnl: float
    pnl_fraction_of_max_profit: float
    dte: int
    quotes_valid: bool
    short_deltas: tuple[float, ...] = ()


def _times(values: object) -> np.ndarray:
    return np.asarray(values, dtype="datetime64[us]")


def _f64(values: object) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


@frozen(slots=True, eq=False)
class PositionTrack:
    """Every mark of one position since it opened, oldest first, this cycle's last.

    Rules that need a path (a trailing stop's peak, a breach that must persist) read it
    here instead of keeping state of their own, so they stay pure functions and a replay
    decides exactly as the live run did. Values are NaN where the quotes were invalid.

    ``pnl_fraction`` is the unrealised P&L as a share of the maximum profit;
    ``half_spread`` is the cost per share of closing at natural instead of mid.
    """

    times: np.ndarray = field(converter=_times)
    pnl: np.ndarray = field(converter=_f64)
    pnl_fraction: np.ndarray = field(converter=_f64)
    half_spread: np.ndarray = field(converter=_f64)
    spot: np.ndarray = field(converter=_f64)

    def __len__(self) -> int:
        return int(self.times.shape[0])
