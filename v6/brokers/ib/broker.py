"""IBBroker: V6's Broker port on Interactive Brokers, combo (BAG) orders through ib_async.

Every order carries V6's ``order_ref`` as IB's ``orderRef``: it is the idempotency key.
:meth:`IBBroker.place` never sends a reference it has already seen (in this process, in
the gateway's open or completed orders, or among today's executions), so a retry, a
reconnect or a restart after a crash can never double an order.

Fills are reported per leg, as TWS reports combo executions, and attributed by
``orderRef``; an execution is reported once (by ``execId``), including those that
happened while V6 was disconnected or down: after a reconnect the broker re-reads open
orders, executions and positions from the gateway (ib_async forgets them on a drop).

Order state comes from IB's order status, but an order that IB marks cancelled without
V6 asking, with nothing filled, is reported as *rejected* with IB's error text, because
that is what it was (ib_async turns any order error into "Cancelled").
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from ib_async import LimitOrder, Trade
from ib_async import OrderStatus as IBStatus

from v6.brokers.ib.connection import IBConnectionManager
from v6.brokers.ib.contracts import ContractError, IBContracts
from v6.domain.account import AccountSnapshot, BrokerPosition
from v6.domain.market import MarketView
from v6.domain.orders import BrokerUpdate, ComboOrder, Fill, OrderState, OrderStatus

log = logging.getLogger(__name__)

WORKING = {IBStatus.PreSubmitted, IBStatus.Submitted, IBStatus.ValidationError}
PENDING = {IBStatus.PendingSubmit, IBStatus.ApiPending, IBStatus.PendingCancel, ""}
ENDED = {IBStatus.Cancelled, IBStatus.ApiCancelled, IBStatus.Inactive}


def _utc(moment: datetime | None) -> datetime:
    if moment is None:
        return datetime.now(UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class IBBroker:
    """Implements :class:`v6.ports.Broker` on one :class:`IBConnectionManager`."""

    def __init__(self, connection: IBConnectionManager, contracts: IBContracts) -> None:
        self.connection = connection
        self.ib = connection.ib
        self.contracts = contracts
        self._orders: dict[str, ComboOrder] = {}
        self._trades: dict[str, Trade] = {}
        self._cancel_requested: set[str] = set()
        self._vanished: set[str] = set()  # working before a drop, gone from IB after it
        # Shares of each leg handed to the engine, per order: a state never runs ahead.
        self._delivered: Counter[tuple[str, str]] = Counter()
        # Orders ib_async marked Cancelled because of an error: maybe still live at IB.
        self._unconfirmed: set[str] = set()
        self._confirmed_ended: set[str] = set()
        self._awaiting_commission: dict[str, float] = {}  # execId -> first seen (monotonic)
        self._finished: set[str] = set()  # final state handed to the engine
        self._booked: dict[str, Fill] = {}  # execution (without its revision) -> fill booked
        self._reported: dict[str, tuple[OrderStatus, int, str]] = {}
        self._seen_exec_ids: set[str] = set()
        self._commissions = 0.0
        self._now: datetime | None = None  # the engine's clock, from the last market view
        self._polls = 0
        connection.on_reconnect(self.refresh)

    # -- state ----------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.connection.connected

    def mark_booked(self, fills: Iterable[Fill]) -> None:
        """Fills already booked (the fills table, after a restart): never booked again,
        and a later correction of one of them reverses it first."""
        for fill in fills:
            self._seen_exec_ids.add(fill.exec_id)
            if not fill.exec_id.endswith(":reversed") and fill.kind == "trade":
                key = _execution_key(fill.exec_id)
                if key not in self._booked:  # a correction replaces, it adds no shares
                    self._delivered[(fill.order_ref, fill.contract.key)] += abs(fill.quantity)
                self._booked[key] = fill

    def refresh(self) -> None:
        """Re-read open orders, executions and positions (after a reconnect or restart)."""
        self.ib.reqAllOpenOrders()
        self.ib.reqExecutions()
        self.ib.reqPositions()
        if self.connection.account:  # ib_async resubscribes account values only on 1102
            self.ib.reqAccountUpdates(self.connection.account)
        for ref, trade in list(self._trades.items()):
            found = self._find_trade(ref)
            if found is not None:
                self._trades[ref] = found
                self._vanished.discard(ref)
            elif not trade.isDone():
                # Finished while V6 was away (filled, or cancelled by TWS): its executions,
                # if any, came back with reqExecutions and tell what happened.
                self._vanished.add(ref)

    def _find_trade(self, order_ref: str) -> Trade | None:
        """The gateway's trade for ``order_ref`` (working or done), newest first."""
        for trade in reversed(self.ib.trades()):
            if trade.order.orderRef == order_ref:
                return trade
        return None

    def _confirm_ended(self) -> None:
        """Ask IB whether orders ib_async ended on an error are really gone.

        ib_async marks any order error "Cancelled", even a refused modification or a
        cancel that raced a fill; IB's own open orders tell the truth. An order still
        open comes back with a fresh status; one that is not is ended for good.
        """
        if not self._unconfirmed or not self.connected:
            return
        try:
            self.ib.reqAllOpenOrders()
        except (ConnectionError, TimeoutError) as exc:
            log.warning("open orders not confirmed: %s", exc)
            return
        for ref in list(self._unconfirmed):
            trade = self._trades.get(ref)
            if trade is None or not _ended_by_error(trade):
                self._unconfirmed.discard(ref)
            elif trade.orderStatus.status in ENDED:
                self._unconfirmed.discard(ref)
                self._confirmed_ended.add(ref)

    def _delivered_units(self, order: ComboOrder) -> int:
        """Complete combo units whose every leg's fills the engine has received."""
        return min(
            self._delivered[(order.order_ref, leg.contract.key)] // abs(leg.ratio)
            for leg in order.legs
        )

    def _undelivered(self, order_ref: str) -> bool:
        """True while an execution of this order has not been handed to the engine."""
        return any(
            f.execution.orderRef == order_ref
            and f.contract.secType != "BAG"
            and f.execution.execId not in self._seen_exec_ids
            for f in self.ib.fills()
        )

    def _executed_units(self, order_ref: str) -> bool:
        return any(f.execution.orderRef == order_ref for f in self.ib.fills())

    # -- orders ---------------------------------------------------------------------------

    def place(self, order: ComboOrder) -> OrderState:
        """Send ``order`` as a BAG limit order, unless its reference was ever sent."""
        self._orders[order.order_ref] = order
        known = self._trades.get(order.order_ref) or self._find_trade(order.order_ref)
        if known is not None or self._executed_units(order.order_ref):
            if known is not None:
                self._trades[order.order_ref] = known
            log.warning("order %s already at the broker: not sent again", order.order_ref)
            return self._state(order.order_ref)
        if not self.connected:
            return self._local(order, OrderStatus.REJECTED, "not connected to the broker")
        try:
            bag = self.contracts.combo(order.underlying, order.legs)
        except ContractError as exc:
            return self._local(order, OrderStatus.REJECTED, str(exc))
        except (TimeoutError, ConnectionError) as exc:
            return self._local(order, OrderStatus.REJECTED, f"contracts not qualified: {exc}")
        ib_order = LimitOrder(
            "BUY",
            order.quantity,
            round(order.limit_price, 2),
            orderRef=order.order_ref,
            tif="DAY",
            account=self.connection.account,
        )
        try:
            trade = self.ib.placeOrder(bag, ib_order)
        except ConnectionError as exc:
            return self._local(order, OrderStatus.REJECTED, f"not sent: {exc}")
        self._trades[order.order_ref] = trade
        self._await(trade, lambda t: t.orderStatus.status not in PENDING)
        return self._told(self._state(order.order_ref))

    def adopt(self, order: ComboOrder) -> OrderState | None:
        """After a restart: the broker's state of an order V6 sent before, or None if the
        broker never received it (then it is not sent again)."""
        self._orders[order.order_ref] = order
        trade = self._find_trade(order.order_ref)
        if trade is not None:
            self._trades[order.order_ref] = trade
            return self._state(order.order_ref)
        if self._executed_units(order.order_ref):
            # Finished while V6 was down: settled from its executions, once they are booked.
            self._vanished.add(order.order_ref)
            return self._told(self._vanished_state(order))
        return None

    def modify(self, order_ref: str, limit_price: float) -> OrderState:
        """Move a working order's limit (same orderId, same reference)."""
        trade = self._trades.get(order_ref)
        if order_ref in self._vanished or trade is None or trade.isDone():
            return self._state(order_ref, "cannot modify: order is not working")
        if not self.connected:
            return self._state(order_ref, "cannot modify: not connected")
        previous = trade.order.lmtPrice
        trade.order.lmtPrice = round(limit_price, 2)
        try:
            self.ib.placeOrder(trade.contract, trade.order)
        except ConnectionError as exc:
            trade.order.lmtPrice = previous  # not sent: the old limit is what works at IB
            return self._state(order_ref, f"modify not sent: {exc}")
        self.connection.pump(0.05)
        return self._told(self._state(order_ref))

    def cancel(self, order_ref: str) -> OrderState:
        """Cancel what remains of a working order."""
        trade = self._trades.get(order_ref)
        if order_ref in self._vanished:
            return self._state(order_ref)  # already over at the broker
        if trade is None:
            return self._state(order_ref, "cannot cancel: unknown order")
        if trade.isDone():
            return self._state(order_ref, "cannot cancel: order is done")
        if not self.connected:
            return self._state(order_ref, "cannot cancel: not connected")
        self._cancel_requested.add(order_ref)
        try:
            self.ib.cancelOrder(trade.order)
        except ConnectionError as exc:
            return self._state(order_ref, f"cancel not sent: {exc}")
        self._await(trade, lambda t: t.isDone())
        return self._told(self._state(order_ref))

    def _told(self, state: OrderState) -> OrderState:
        """Remember a state handed to the engine, so a poll reports only changes."""
        self._reported[state.order_ref] = (
            state.status,
            state.filled_quantity,
            state.message,
        )
        if state.status.is_done:
            self._finished.add(state.order_ref)
        return state

    def _await(self, trade: Trade, done: object) -> None:
        deadline = time.monotonic() + self.connection.settings.order_ack_seconds
        while time.monotonic() < deadline and self.ib.isConnected():
            if done(trade):  # type: ignore[operator]
                return
            self.connection.pump(0.01)

    # -- reports --------------------------------------------------------------------------

    def poll(self, market: MarketView) -> BrokerUpdate:
        """New leg fills (once each) and the states of orders whose state changed."""
        self._now = market.time
        self._polls += 1
        if self._polls % self.connection.settings.reconcile_every_cycles == 0 and self.connected:
            # Hybrid sync: positions stream in between; every N cycles the whole account is
            # re-read, so a missed update cannot linger.
            try:
                self.ib.reqPositions()
            except (ConnectionError, TimeoutError) as exc:
                log.warning("position reconciliation failed: %s", exc)
        self.connection.pump(0.0)
        fills: list[Fill] = []
        for ib_fill in sorted(self.ib.fills(), key=lambda f: f.time):
            execution = ib_fill.execution
            if execution.execId in self._seen_exec_ids or ib_fill.contract.secType == "BAG":
                continue
            if not ib_fill.commissionReport.execId:
                # The commission report follows the execution: book both together, but
                # never hold a fill back for long for want of its commission.
                first = self._awaiting_commission.setdefault(execution.execId, time.monotonic())
                if time.monotonic() - first < self.connection.settings.order_ack_seconds:
                    continue
                log.warning("no commission report for %s: booked without", execution.execId)
            contract = self.contracts.remember(ib_fill.contract)
            if contract is None:
                continue
            self._seen_exec_ids.add(execution.execId)
            self._awaiting_commission.pop(execution.execId, None)
            sign = 1 if execution.side == "BOT" else -1
            commission = float(ib_fill.commissionReport.commission or 0.0)
            if not math.isfinite(commission):
                commission = 0.0
            fill = Fill(
                exec_id=execution.execId,
                order_ref=execution.orderRef,
                contract=contract,
                quantity=sign * round(execution.shares),
                price=float(execution.price),
                commission=round(commission, 2),
                time=_utc(ib_fill.time),
            )
            # IB corrects an execution by sending a new one whose id repeats the old one's
            # but for the last part: book a reversal of the old fill, then the new one, so
            # the books hold the corrected trade once.
            key = _execution_key(execution.execId)
            earlier = self._booked.get(key)
            if earlier is not None:
                log.warning("execution %s corrects %s", execution.execId, earlier.exec_id)
                fills.append(
                    Fill(
                        exec_id=f"{earlier.exec_id}:reversed",
                        order_ref=earlier.order_ref,
                        contract=earlier.contract,
                        quantity=-earlier.quantity,
                        price=earlier.price,
                        commission=-earlier.commission,
                        time=fill.time,
                    )
                )
                self._commissions -= earlier.commission
            else:
                self._delivered[(execution.orderRef, contract.key)] += abs(fill.quantity)
            self._booked[key] = fill
            self._commissions += commission
            fills.append(fill)
        self._confirm_ended()
        states = []
        # Orders whose final state the engine already has are not looked at again: each
        # state scans the day's executions, and the day's orders only grow.
        for ref in list((self._trades.keys() | self._vanished) - self._finished):
            state = self._state(ref)
            key = (state.status, state.filled_quantity, state.message)
            if self._reported.get(ref) != key:
                states.append(self._told(state))
        return BrokerUpdate(states=tuple(states), fills=tuple(fills))

    def open_orders(self) -> Sequence[OrderState]:
        return [self._state(ref) for ref, trade in self._trades.items() if not trade.isDone()]

    def positions(self) -> Sequence[BrokerPosition]:
        """The account's option positions (other instruments are not V6's business)."""
        out = []
        for position in self.ib.positions(self.connection.account):
            contract = self.contracts.remember(position.contract)
            if contract is None or not position.position:
                continue
            out.append(
                BrokerPosition(
                    contract_key=contract.key,
                    quantity=round(position.position),
                    avg_cost=float(position.avgCost),
                )
            )
        return out

    def account(self, market: MarketView) -> AccountSnapshot:
        """Account values as TWS reports them (USD or the base currency)."""
        values: dict[str, float] = {}
        for item in self.ib.accountValues(self.connection.account):
            if item.currency in ("USD", "BASE", "") and item.modelCode == "":
                try:
                    values.setdefault(item.tag, float(item.value))
                except ValueError:
                    continue
        return AccountSnapshot(
            time=market.time,
            cash=values.get("TotalCashValue", math.nan),
            net_liquidation=values.get("NetLiquidation", math.nan),
            buying_power=values.get("BuyingPower", values.get("AvailableFunds", math.nan)),
            maintenance_margin=values.get("MaintMarginReq", math.nan),
            realized_pnl=values.get("RealizedPnL", 0.0),
            unrealized_pnl=values.get("UnrealizedPnL", 0.0),
            commissions=round(self._commissions, 2),
        )

    # -- state mapping --------------------------------------------------------------------

    def _stamp(self) -> datetime:
        """State times on the engine's clock (IB's server time in paper and live)."""
        return self._now or datetime.now(UTC)

    def _local(
        self, order: ComboOrder, status: OrderStatus, message: str, filled: int = 0
    ) -> OrderState:
        """A state V6 states itself (not read off an IB trade)."""
        return OrderState(
            order_ref=order.order_ref,
            status=status,
            filled_quantity=filled,
            remaining_quantity=order.quantity - filled,
            avg_fill_price=None,
            time=self._stamp(),
            limit_price=order.limit_price,
            message=message,
        )

    def _vanished_state(self, order: ComboOrder) -> OrderState:
        """An order that ended while V6 was disconnected: done once its fills are booked."""
        if self._executed_units(order.order_ref):
            state = self._from_fills(order)
            if self._undelivered(order.order_ref) or (
                self._delivered_units(order) < state.filled_quantity
            ):
                return self._local(order, OrderStatus.SUBMITTED, "fills arriving")
            return state
        return self._local(
            order, OrderStatus.CANCELLED, "no longer working at the broker after a reconnect"
        )

    def _from_fills(self, order: ComboOrder) -> OrderState:
        """State of an order known only from its executions (done while V6 was away)."""
        shares: Counter[str] = Counter()
        for f in self.ib.fills():
            if f.execution.orderRef != order.order_ref or f.contract.secType == "BAG":
                continue
            contract = self.contracts.remember(f.contract)
            if contract is not None:
                shares[contract.key] += abs(f.execution.shares)
        units = min(
            min(int(shares[leg.contract.key] // abs(leg.ratio)) for leg in order.legs),
            order.quantity,
        )
        status = OrderStatus.FILLED if units >= order.quantity else OrderStatus.CANCELLED
        return self._local(order, status, "known from executions only", filled=units)

    def _state(self, order_ref: str, message: str = "") -> OrderState:
        trade = self._trades.get(order_ref)
        order = self._orders.get(order_ref)
        if order_ref in self._vanished and order is not None:
            return self._vanished_state(order)
        if trade is None:
            quantity = order.quantity if order else 0
            return OrderState(
                order_ref=order_ref,
                status=OrderStatus.REJECTED,
                filled_quantity=0,
                remaining_quantity=quantity,
                avg_fill_price=None,
                time=self._stamp(),
                message=message or "unknown order",
            )
        status_text = trade.orderStatus.status
        filled = round(trade.orderStatus.filled)
        total = round(trade.order.totalQuantity)
        remaining = max(total - filled, 0)
        error = next((f"{e.errorCode} {e.message}" for e in reversed(trade.log) if e.errorCode), "")
        delivered = self._delivered_units(order) if order is not None else filled
        if self._undelivered(order_ref) or delivered < filled:
            # IB may say Filled before the executions (or before their commissions); a
            # state must never run ahead of its fills, or the engine would settle the
            # position on nothing (the engine settles it when the order is done).
            filled = min(filled, delivered)
            status = OrderStatus.PARTIAL if filled else OrderStatus.SUBMITTED
            message = message or "fills arriving"
        elif (
            status_text in ENDED
            and _ended_by_error(trade)
            and order_ref not in self._confirmed_ended
        ):
            self._unconfirmed.add(order_ref)  # confirmed against IB's open orders next poll
            status = OrderStatus.PARTIAL if filled else OrderStatus.SUBMITTED
            message = message or f"unconfirmed after error: {error}"
        elif status_text == IBStatus.Filled or (total and filled >= total):
            status = OrderStatus.FILLED
        elif status_text in ENDED:
            asked = order_ref in self._cancel_requested
            status = OrderStatus.CANCELLED if asked or filled else OrderStatus.REJECTED
            message = message or error or status_text
        elif filled:
            status = OrderStatus.PARTIAL
        elif status_text in WORKING:
            status = OrderStatus.SUBMITTED
        else:
            status = OrderStatus.PENDING
        avg = trade.orderStatus.avgFillPrice if filled else None
        return OrderState(
            order_ref=order_ref,
            status=status,
            filled_quantity=filled,
            remaining_quantity=remaining,
            avg_fill_price=avg,
            time=self._stamp(),
            broker_order_id=str(trade.order.orderId),
            limit_price=trade.order.lmtPrice,
            message=message,
        )


def _ended_by_error(trade: Trade) -> bool:
    """True when ib_async ended the trade itself on an error, not on IB's order status."""
    return bool(trade.log) and bool(trade.log[-1].errorCode)


def _execution_key(exec_id: str) -> str:
    """An execution id without its revision (IB's last dotted part), so a correction
    (``....01`` -> ``....02``) is recognised as the same execution."""
    head, _, tail = exec_id.rpartition(".")
    return head if head and tail.isdigit() else exec_id
