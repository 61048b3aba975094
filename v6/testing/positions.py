"""Positions and their marks for tests: hand-made, or opened on a market the engine's way.

``position`` and ``mark`` build a 1.00-credit iron condor on the hand-made chain of
:mod:`v6.testing.markets` with round numbers (max profit 100, max loss 400), for exit-rule
unit tests that must see every input. ``open_position`` opens a structure on any market
view (the simulated one included): strikes chosen by the built-in delta targeting, priced
at mid, max profit and loss from the expiry payoff, exactly as the engine books an entry;
``mark_position`` values it with the engine's own marking code.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from v6.domain.contracts import Right
from v6.domain.entries import EntryCandidate, LegTemplate
from v6.domain.market import MarketView
from v6.domain.positions import Position, PositionMark, PositionStatus
from v6.testing.markets import EXPIRY, NOW, iron_condor_legs


def position(
    entry_price: float = -1.00,
    *,
    position_id: str = "ic-1",
    strategy: str = "iron_condor",
    underlying: str = "SPY",
    quantity: int = 1,
    opened_at: datetime = NOW,
    status: PositionStatus = PositionStatus.OPEN,
    entry_regime: str = "normal",
) -> Position:
    """A 90/95/105/110 condor on the hand-made chain: max profit 100 and max loss 400 per
    unit at the default 1.00 credit."""
    credit = -entry_price
    return Position(
        position_id=position_id,
        strategy=strategy,
        underlying=underlying,
        structure="iron_condor",
        legs=iron_condor_legs(underlying),
        quantity=quantity,
        entry_price=entry_price,
        opened_at=opened_at,
        status=status,
        max_profit=round(credit * 100 * quantity, 6),
        max_loss=round((5.0 - credit) * 100 * quantity, 6),
        entry_regime=entry_regime,
    )


_condor = position  # ``mark`` takes an argument called ``position``


def mark(
    close_mid: float = 0.80,
    *,
    position: Position | None = None,
    dte: int = (EXPIRY - NOW.date()).days,
    valid: bool = True,
    spot: float = 100.0,
    short_deltas: tuple[float, ...] = (-0.16, 0.16),
    time: datetime = NOW,
    spread: float = 0.05,
) -> PositionMark:
    """``position`` (default: :func:`position`) valued at ``close_mid`` per share to close;
    P&L follows the :class:`PositionMark` definitions."""
    held = position if position is not None else _condor()
    pnl = (-close_mid - held.entry_price) * held.multiplier * held.quantity
    return PositionMark(
        position=held,
        time=time,
        spot=spot,
        close_mid=close_mid,
        close_natural=close_mid + spread,
        unrealized_pnl=pnl,
        pnl_fraction_of_max_profit=pnl / held.max_profit if held.max_profit else float("nan"),
        dte=dte,
        quotes_valid=valid,
        short_deltas=short_deltas,
    )


IRON_CONDOR = (
    LegTemplate(Right.PUT, -1, delta=0.16),
    LegTemplate(Right.PUT, +1, anchor=0, offset=-5.0),
    LegTemplate(Right.CALL, -1, delta=0.16),
    LegTemplate(Right.CALL, +1, anchor=2, offset=5.0),
)
"""A 16-delta iron condor with 5-point wings, the built-in ``iron_condor``'s default."""


def open_position(
    market: MarketView,
    legs: Sequence[LegTemplate] = IRON_CONDOR,
    *,
    underlying: str | None = None,
    strategy: str = "test",
    structure: str = "iron_condor",
    quantity: int = 1,
    min_dte: int = 7,
    max_dte: int = 45,
    position_id: str | None = None,
    entry_regime: str = "normal",
) -> Position:
    """An open position of ``legs`` on ``underlying`` (default: the market's first), its
    strikes chosen by delta targeting in the ``min_dte``..``max_dte`` window and filled at
    mid now. Raises ValueError when the chain offers no such structure."""
    from v6.entry.strike_selection import select_by_delta
    from v6.entry.workflow import selection_risk

    symbol = underlying or next(iter(market.chains))
    candidate = EntryCandidate(
        strategy=strategy,
        underlying=symbol,
        structure=structure,
        legs=tuple(legs),
        min_dte=min_dte,
        max_dte=max_dte,
        quantity=quantity,
    )
    selection = select_by_delta(
        candidate, market.chains[symbol], target_dte=None, max_spread_fraction=0.5
    )
    if selection is None:
        raise ValueError(
            f"no {structure} on {symbol} at {market.time.isoformat()} with {min_dte}-{max_dte} "
            "DTE: widen the window or change the legs"
        )
    max_loss, max_profit = selection_risk(selection)
    return Position(
        position_id=position_id or f"{strategy}-{symbol}-1",
        strategy=strategy,
        underlying=symbol,
        structure=structure,
        legs=selection.legs,
        quantity=quantity,
        entry_price=selection.net_mid,
        opened_at=market.time,
        status=PositionStatus.OPEN,
        max_profit=max_profit,
        max_loss=max_loss,
        entry_regime=entry_regime,
    )


def mark_position(held: Position, market: MarketView) -> PositionMark:
    """``held`` valued at ``market``'s quotes by the engine's own marking code."""
    from v6.engine.marks import mark_positions

    (marked,) = mark_positions([held], market)
    return marked
