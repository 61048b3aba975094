"""Combo orders, their states and the fills they produce.

Price convention (as IB uses for BAG orders): a combo's price is the *net debit per
unit*, per share: ``sum(leg.ratio * leg_price)``. A credit received is negative.
Opening an iron condor for a 1.20 credit is a limit of -1.20; buying it back for 0.40
is a limit of +0.40.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from attrs import field, frozen, validators

from v6.domain.alerts import Alert
from v6.domain.contracts import Leg, OptionContract


class OrderIntent(StrEnum):
    OPEN = "open"
    CLOSE = "close"
    UNWIND = "unwind"


class OrderStatus(StrEnum):
    PENDING = "pending"  # created, not yet acknowledged by the broker
    SUBMITTED = "submitted"  # working at the broker
    PARTIAL = "partial"  # some units filled, rest working
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"

    @property
    def is_done(self) -> bool:
        return self in (OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED)


def _non_empty(_i: object, _a: object, legs: tuple[Leg, ...]) -> None:
    if not legs:
        raise ValueError("a combo order needs at least one leg")


@frozen(slots=True)
class ComboOrder:
    """A multi-leg limit order. ``order_ref`` is V6's idempotent reference for it."""

    order_ref: str
    position_id: str
    strategy: str
    underlying: str
    intent: OrderIntent = field(converter=OrderIntent)
    legs: tuple[Leg, ...] = field(converter=tuple, validator=_non_empty)
    quantity: int = field(validator=validators.gt(0))
    limit_price: float = field(converter=float)
    created_at: datetime | None = None

    def with_limit(self, limit_price: float) -> ComboOrder:
        """The same order at a new limit (price improvement keeps the reference)."""
        return ComboOrder(
            order_ref=self.order_ref,
            position_id=self.position_id,
            strategy=self.strategy,
            underlying=self.underlying,
            intent=self.intent,
            legs=self.legs,
            quantity=self.quantity,
            limit_price=limit_price,
            created_at=self.created_at,
        )


@frozen(slots=True)
class OrderState:
    """What the broker last said about an order."""

    order_ref: str
    status: OrderStatus = field(converter=OrderStatus)
    filled_quantity: int
    remaining_quantity: int
    avg_fill_price: float | None
    time: datetime
    broker_order_id: str = ""
    limit_price: float | None = None
    message: str = ""


@frozen(slots=True)
class Fill:
    """One execution of one leg. ``quantity`` is signed: + bought, - sold."""

    exec_id: str
    order_ref: str
    contract: OptionContract
    quantity: int
    price: float
    commission: float
    time: datetime
    # "trade"; "expiration" (settled at intrinsic value); "commission": a commission the
    # broker reported after the trade was booked (quantity 0, price 0, the difference).
    kind: str = "trade"

    @property
    def cash_flow(self) -> float:
        """Cash this fill moved, commission included (money paid is negative)."""
        return -self.quantity * self.price * self.contract.multiplier - self.commission


@frozen(slots=True)
class BrokerUpdate:
    """Order states and fills a broker reported since the previous poll, and alerts about
    what it noticed (a report the broker owes and has not sent)."""

    states: tuple[OrderState, ...] = ()
    fills: tuple[Fill, ...] = ()
    alerts: tuple[Alert, ...] = ()
