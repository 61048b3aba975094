"""The small protocols the engine depends on. ``sim``, ``replay`` and ``ib`` adapters
implement them; the engine never knows which one it holds."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from v6.domain.account import AccountSnapshot, BrokerPosition
from v6.domain.market import MarketView
from v6.domain.orders import BrokerUpdate, ComboOrder, Fill, OrderState


@runtime_checkable
class Clock(Protocol):
    """Engine time. A simulated clock jumps; a wall clock sleeps."""

    def now(self) -> datetime:
        """The current time (timezone-aware, UTC)."""
        ...

    def next_cycle(self) -> datetime | None:
        """Advance to the next cycle time while the market is open; None when done."""
        ...


@runtime_checkable
class MarketData(Protocol):
    """Source of underlying quotes, option chains and VIX."""

    @property
    def symbols(self) -> Sequence[str]: ...

    def snapshot(self, time: datetime) -> MarketView:
        """The market as of ``time``; raw quotes, not yet validated."""
        ...


@runtime_checkable
class Broker(Protocol):
    """Where orders go and positions live."""

    @property
    def connected(self) -> bool:
        """True while the broker connection is up (the broker_disconnect breaker reads it)."""
        ...

    def place(self, order: ComboOrder) -> OrderState:
        """Send a combo order. Placing the same ``order_ref`` twice must not duplicate it."""
        ...

    def modify(self, order_ref: str, limit_price: float) -> OrderState:
        """Move a working order's limit price (price improvement)."""
        ...

    def cancel(self, order_ref: str) -> OrderState:
        """Cancel what remains of a working order."""
        ...

    def poll(self, market: MarketView) -> BrokerUpdate:
        """Order states and fills since the previous poll (a simulator matches here), and
        alerts about what the broker noticed (a report it is owed and has not had)."""
        ...

    def open_orders(self) -> Sequence[OrderState]:
        """Orders still working at the broker."""
        ...

    def positions(self) -> Sequence[BrokerPosition]:
        """The broker's net position per contract."""
        ...

    def account(self, market: MarketView) -> AccountSnapshot:
        """Account values, marked to ``market``."""
        ...


@runtime_checkable
class RecoverableBroker(Broker, Protocol):
    """A broker that outlives V6's process (IB), so a restart must settle with it."""

    def refresh(self) -> None:
        """Re-read open orders, executions and positions from the broker."""
        ...

    def mark_booked(self, fills: Iterable[Fill]) -> None:
        """Fills already booked (from the fills table): never report them again, and
        report only the difference when a commission booked for one of them changes."""
        ...

    def adopt(self, order: ComboOrder) -> OrderState | None:
        """The broker's state of an order sent before the restart, found by its reference;
        None when the broker never received it."""
        ...
