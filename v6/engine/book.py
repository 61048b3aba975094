"""The position book: which strategy owns which contracts, built only from fills.

Every fill is attributed through its ``order_ref`` to exactly one position (V6 never
guesses ownership from a contract), so several strategies can trade the same account
and even the same contracts and still know what each owns. Expiration settlements,
which carry no order of ours, are shared out to the positions holding the contract.

A position's leg holdings are tracked contract by contract. When an order ends with the
legs out of proportion (a combo that was filled leg by leg and then stopped), the book
reports the imbalance so the engine can unwind it: a short leg is never left without
its protection.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import numpy as np
from attrs import define, field

from v6.domain.contracts import Leg
from v6.domain.orders import ComboOrder, Fill, OrderIntent
from v6.domain.positions import Position, PositionStatus
from v6.pricing.payoff import RiskProfile, risk_profile

EXPIRATION_REF = "expiration"


@define
class _Book:
    """Mutable accounting state of one position (the engine's private ledger)."""

    position_id: str
    strategy: str
    underlying: str
    structure: str
    legs: tuple[Leg, ...]
    opened_at: datetime
    status: PositionStatus = PositionStatus.OPENING
    holdings: dict[str, int] = field(factory=dict)  # contract key -> signed contracts
    open_debit: float = 0.0  # dollars paid to open (negative for a credit), no commissions
    close_debit: float = 0.0  # dollars paid to close
    opened_units: int = 0
    closed_units: int = 0
    open_commission: float = 0.0
    close_commission: float = 0.0
    cash: float = 0.0  # sum of fill cash flows, commissions included
    closed_at: datetime | None = None
    open_orders: set[str] = field(factory=set)
    entry_regime: str = ""
    slot: str = ""
    exit_rule: str = ""  # the rule whose close order is working or closed the position

    def units_per_leg(self) -> list[float]:
        """Combo units each leg's holding makes (plain floats: a book is a few legs, and
        NumPy's call overhead on four numbers cost more than the arithmetic)."""
        return [self.holdings.get(leg.contract.key, 0) / leg.ratio for leg in self.legs]


class PositionBook:
    """All positions V6 opened, and the orders that belong to them."""

    def __init__(self) -> None:
        self._books: dict[str, _Book] = {}
        self._orders: dict[str, ComboOrder] = {}
        self._changed: set[str] = set()
        self._reopened: set[str] = set()
        # Snapshots are immutable and rebuilt only when their ledger changes: the engine
        # asks for the same live positions many times a cycle, and a long backtest's book
        # holds thousands of closed ones that must cost nothing per cycle.
        self._snapshots: dict[str, Position] = {}
        self._place: dict[str, int] = {}  # position id -> its place in the book
        self._live: dict[str, int] = {}  # the same, of the positions not closed
        self._profiles: dict[str, tuple[float, RiskProfile]] = {}  # id -> (entry, profile)
        # Every contract a position was built from, kept as positions are added: a long
        # backtest must not rebuild the set from every position it ever held each cycle.
        self._contract_keys: set[str] = set()

    # -- orders ---------------------------------------------------------------------

    def open_position(
        self,
        position_id: str,
        strategy: str,
        underlying: str,
        structure: str,
        legs: tuple[Leg, ...],
        time: datetime,
        *,
        entry_regime: str = "",
        slot: str = "",
    ) -> None:
        """Register a position whose entry order is about to be sent."""
        if position_id in self._books:
            raise ValueError(f"position {position_id} already exists")
        self._books[position_id] = _Book(
            position_id=position_id,
            strategy=strategy,
            underlying=underlying,
            structure=structure,
            legs=legs,
            opened_at=time,
            entry_regime=entry_regime,
            slot=slot,
        )
        self._place[position_id] = len(self._place)
        self._contract_keys.update(leg.contract.key for leg in legs)
        self._touch(position_id)

    def note_exit(self, position_id: str, rule: str, *, keep_existing: bool = False) -> None:
        """Record which exit rule is closing the position (kept if the close completes).

        ``keep_existing``: an unwind finishing a stop-out's close keeps "stop_loss", so
        the stop-out's cool-down still applies.
        """
        book = self._books[position_id]
        if keep_existing and book.exit_rule:
            return
        book.exit_rule = rule
        self._touch(position_id)

    def track_order(self, order: ComboOrder) -> None:
        """Remember which position an order belongs to (before it is sent)."""
        self._orders[order.order_ref] = order
        book = self._books[order.position_id]
        book.open_orders.add(order.order_ref)
        if order.intent is OrderIntent.CLOSE and book.status is PositionStatus.OPEN:
            book.status = PositionStatus.CLOSING
            self._touch(book.position_id)

    def knows(self, position_id: str) -> bool:
        """True when the book holds ``position_id`` (live, or closed in this run)."""
        return position_id in self._books

    def order(self, order_ref: str) -> ComboOrder | None:
        return self._orders.get(order_ref)

    def order_done(self, order_ref: str, time: datetime) -> None:
        """An order reached a final state: settle the position's status."""
        order = self._orders.get(order_ref)
        if order is None:
            return
        book = self._books[order.position_id]
        book.open_orders.discard(order_ref)
        if book.open_orders:
            return
        self._settle(book, time)

    # -- fills ----------------------------------------------------------------------

    def apply_fill(self, fill: Fill) -> list[tuple[str, Fill]]:
        """Book a fill; returns (position_id, fill) pairs it was attributed to."""
        if fill.order_ref == EXPIRATION_REF:
            return self._apply_expiration(fill)
        order = self._orders.get(fill.order_ref)
        if order is None:
            return []  # not ours: reported by reconciliation, never booked
        book = self._books[order.position_id]
        self._book_fill(book, fill, order.intent)
        return [(book.position_id, fill)]

    def _book_fill(self, book: _Book, fill: Fill, intent: OrderIntent) -> None:
        if book.status is PositionStatus.CLOSED and fill.quantity:
            self._reopen(book)
        key = fill.contract.key
        book.holdings[key] = book.holdings.get(key, 0) + fill.quantity
        if book.holdings[key] == 0:
            del book.holdings[key]
        dollars = fill.quantity * fill.price * fill.contract.multiplier
        if intent is OrderIntent.OPEN:
            book.open_debit += dollars
            book.open_commission += fill.commission
            book.opened_units = max(book.opened_units, self._complete_units(book))
        else:
            book.close_debit += dollars
            book.close_commission += fill.commission
        book.cash += fill.cash_flow
        self._touch(book.position_id)

    def _apply_expiration(self, fill: Fill) -> list[tuple[str, Fill]]:
        """Share an expiration settlement among the positions holding the contract."""
        key = fill.contract.key
        remaining = fill.quantity
        attributed: list[tuple[str, Fill]] = []
        for book in self._books.values():
            held = book.holdings.get(key, 0)
            if held == 0 or remaining == 0 or np.sign(held) == np.sign(remaining):
                continue
            qty = -held if abs(held) <= abs(remaining) else remaining
            part = Fill(
                exec_id=f"{fill.exec_id}:{book.position_id}",
                order_ref=fill.order_ref,
                contract=fill.contract,
                quantity=qty,
                price=fill.price,
                commission=0.0,
                time=fill.time,
                kind=fill.kind,
            )
            self._book_fill(book, part, OrderIntent.CLOSE)
            remaining -= qty
            attributed.append((book.position_id, part))
            if not book.open_orders:
                self._settle(book, fill.time)
        return attributed

    # -- state ----------------------------------------------------------------------

    def _reopen(self, book: _Book) -> None:
        """A fill for a position already settled as closed: the broker says otherwise.

        The position is live again (exit rules watch it, reconciliation counts it); its
        own next settlement decides whether it is open or closed. The engine alerts on
        every reopened position (:meth:`take_reopened`).
        """
        book.status = PositionStatus.OPENING if not book.opened_units else PositionStatus.OPEN
        book.closed_at = None
        book.exit_rule = ""
        self._reopened.add(book.position_id)
        self._touch(book.position_id)

    def take_reopened(self) -> list[str]:
        """Positions reopened by a late fill since the last call."""
        reopened, self._reopened = sorted(self._reopened), set()
        return reopened

    def settle_if_idle(self, position_id: str, time: datetime) -> None:
        """Settle a reopened position that has no working order (open or closed by its
        holdings), as an order's end would."""
        book = self._books[position_id]
        if not book.open_orders:
            self._settle(book, time)

    def _settle(self, book: _Book, time: datetime) -> None:
        book.status = PositionStatus.OPEN if book.holdings else PositionStatus.CLOSED
        if book.status is PositionStatus.CLOSED:
            book.closed_at = time
            if not book.exit_rule:
                book.exit_rule = "unfilled" if not book.opened_units else "expiration"
        else:
            book.exit_rule = ""  # a close that did not complete: the position is open again
        self._touch(book.position_id)

    def imbalance(self, position_id: str) -> tuple[Leg, ...]:
        """Legs (signed contracts) that must be traded to make the position whole again.

        Every leg is brought down to the smallest complete number of units, so the fix
        only ever closes exposure: an unprotected short is bought back, never left.
        """
        book = self._books[position_id]
        units = book.units_per_leg()
        if not units or all(u == units[0] for u in units):
            return ()
        target = max(min(units), 0.0)
        fixes = []
        for leg, u in zip(book.legs, units, strict=True):
            excess = round((u - target) * leg.ratio)
            if excess:
                fixes.append(Leg(contract=leg.contract, ratio=-excess))
        return tuple(fixes)

    @staticmethod
    def _complete_units(book: _Book) -> int:
        units = book.units_per_leg()
        return int(max(min(units), 0)) if units else 0

    def quantity(self, position_id: str) -> int:
        """Complete combo units currently held."""
        return self._complete_units(self._books[position_id])

    def position(self, position_id: str) -> Position:
        """An immutable snapshot of a position (the same object until its ledger changes)."""
        snapshot = self._snapshots.get(position_id)
        if snapshot is None:
            snapshot = self._snapshots[position_id] = self._snapshot(self._books[position_id])
        return snapshot

    def _snapshot(self, book: _Book) -> Position:
        mult = book.legs[0].contract.multiplier
        held = self._complete_units(book)
        opened = book.opened_units
        entry_price = book.open_debit / (opened * mult) if opened else 0.0
        closed_units = opened - held
        exit_price = book.close_debit / (closed_units * mult) if closed_units > 0 else None
        profile = self._profile(book, entry_price)
        # Max profit and loss are of the units held, or of those opened once closed.
        size = (held or opened or 1) * mult
        if book.status is PositionStatus.CLOSED:
            realized = book.cash
        elif opened and closed_units > 0:
            share = closed_units / opened
            realized = -(book.open_debit + book.open_commission) * share - (
                book.close_debit + book.close_commission
            )
        else:
            realized = 0.0
        commissions = book.open_commission + book.close_commission
        return Position(
            position_id=book.position_id,
            strategy=book.strategy,
            underlying=book.underlying,
            structure=book.structure,
            legs=book.legs,
            quantity=held,
            entry_price=round(entry_price, 6),
            opened_at=book.opened_at,
            status=book.status,
            max_profit=profile.max_profit * size,
            max_loss=profile.max_loss * size,
            closed_at=book.closed_at,
            exit_price=None if exit_price is None else round(exit_price, 6),
            realized_pnl=round(realized, 2),
            commissions=round(commissions, 2),
            entry_regime=book.entry_regime,
            exit_rule=book.exit_rule,
            slot=book.slot,
        )

    def _profile(self, book: _Book, entry_price: float) -> RiskProfile:
        """The legs' risk profile at ``entry_price``: legs never change and the entry
        price only while the entry fills, so it is computed once per entry price."""
        cached = self._profiles.get(book.position_id)
        if cached is not None and cached[0] == entry_price:
            return cached[1]
        profile = risk_profile(
            np.array([leg.contract.strike for leg in book.legs]),
            np.array([leg.contract.is_call for leg in book.legs]),
            np.array([leg.ratio for leg in book.legs]),
            entry_price,
        )
        self._profiles[book.position_id] = (entry_price, profile)
        return profile

    def positions(self, statuses: Iterable[PositionStatus] | None = None) -> list[Position]:
        """Snapshots of positions in book order, optionally only those in ``statuses``.

        Asking only for live statuses walks the live positions, not every position the
        book ever held."""
        wanted = set(statuses) if statuses is not None else None
        if wanted is not None and PositionStatus.CLOSED not in wanted:
            ids = sorted(self._live, key=self._live.__getitem__)
        else:
            ids = list(self._books)
        return [
            self.position(pid) for pid in ids if wanted is None or self._books[pid].status in wanted
        ]

    def was_filled(self, position_id: str) -> bool:
        """True once any complete unit of the position was opened."""
        return self._books[position_id].opened_units > 0

    def working_orders(self, position_id: str) -> list[ComboOrder]:
        """The position's orders not yet in a final state, oldest reference first."""
        return [self._orders[ref] for ref in sorted(self._books[position_id].open_orders)]

    def has_working_order(self, position_id: str) -> bool:
        return bool(self._books[position_id].open_orders)

    def net_contracts(self) -> dict[str, int]:
        """V6's net holding per contract across its live positions (to compare with the
        broker): a closed position holds nothing, whatever is left in its ledger."""
        net: dict[str, int] = {}
        for position_id in sorted(self._live, key=self._live.__getitem__):
            for key, qty in self._books[position_id].holdings.items():
                net[key] = net.get(key, 0) + qty
        return {k: v for k, v in net.items() if v}

    def working_open_quantity(self, position_id: str) -> int:
        """Units the position will hold if its working entry orders fill completely."""
        book = self._books[position_id]
        working = sum(
            self._orders[ref].quantity
            for ref in book.open_orders
            if self._orders[ref].intent is OrderIntent.OPEN
        )
        return max(self._complete_units(book), working) if working else 0

    def contract_keys(self) -> set[str]:
        """Every contract any V6 position was ever built from."""
        return set(self._contract_keys)

    def _touch(self, position_id: str) -> None:
        """The position's ledger changed: persist it, and rebuild its snapshot."""
        self._changed.add(position_id)
        self._snapshots.pop(position_id, None)
        if self._books[position_id].status is PositionStatus.CLOSED:
            self._live.pop(position_id, None)
        elif position_id not in self._live:
            self._live[position_id] = self._place[position_id]

    def drain_changed(self) -> list[str]:
        """Position ids whose state changed since the last call (to persist them)."""
        changed, self._changed = sorted(self._changed), set()
        return changed
