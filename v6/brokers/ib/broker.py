"""IBBroker: V6's Broker port on Interactive Brokers, combo (BAG) orders through ib_async.

Every order carries V6's ``order_ref`` as IB's ``orderRef``: it is the idempotency key.
:meth:`IBBroker.place` never sends a reference it has already seen (in this process, in
the gateway's open or completed orders, or among today's executions), so a retry, a
reconnect or a restart after a crash can never double an order.

Fills are reported per leg, as TWS reports combo executions, and attributed by
``orderRef``; an execution is reported once (by ``execId``), including those that
happened while V6 was disconnected or down: after a reconnect the broker re-reads open
orders, executions and positions from the gateway (ib_async forgets them on a drop).
A fill carries IB's execution time, live or recovered.

IB sends an execution's commission in a separate report that may come late (after a
reconnect, after a restart) or not at all. A fill is held back briefly for it, then booked
without; when the report comes, the difference is booked as a commission fill (quantity
0, ``kind="commission"``, ``exec_id`` ``<execId>:commission``), so the tables show the
correction and a restart neither misses nor repeats it. A report still missing after
``ib.commission_alert_seconds`` is raised as an alert in the poll's update.

Order state comes from IB's order status, but an order that IB marks cancelled without
V6 asking, with nothing filled, is reported as *rejected* with IB's error text, because
that is what it was (ib_async turns any order error into "Cancelled"). An order that ended
while V6 was away comes back through IB's completed orders, which carry the filled
quantity in the order, not in an order status, and no error: one cancelled there is
reported cancelled.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from ib_async import Fill as IBFill
from ib_async import LimitOrder, Trade
from ib_async import OrderStatus as IBStatus
from ib_async.util import EPOCH

from v6.brokers.ib.connection import IBConnectionManager
from v6.brokers.ib.contracts import ContractError, IBContracts
from v6.domain.account import AccountSnapshot, BrokerPosition
from v6.domain.alerts import Alert, Severity
from v6.domain.market import MarketView
from v6.domain.orders import BrokerUpdate, ComboOrder, Fill, OrderState, OrderStatus

log = logging.getLogger(__name__)

WORKING = {IBStatus.PreSubmitted, IBStatus.Submitted, IBStatus.ValidationError}
PENDING = {IBStatus.PendingSubmit, IBStatus.ApiPending, IBStatus.PendingCancel, ""}
ENDED = {IBStatus.Cancelled, IBStatus.ApiCancelled, IBStatus.Inactive}
# Numbers at least this large are IB's "unset" marker (Java's Double.MAX_VALUE).
UNSET = 1e300
COMMISSION = ":commission"  # suffix of a commission correction's exec_id
REVERSED = ":reversed"  # suffix of the reversal of a corrected execution


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
        # Executions without a commission report: execId -> (first seen, monotonic; orderRef).
        self._awaiting_commission: dict[str, tuple[float, str]] = {}
        self._commission_alerted: set[str] = set()
        # Commission booked per execId (its fill's plus corrections), and correction rows.
        self._commission_booked: dict[str, float] = {}
        self._commission_rows: Counter[str] = Counter()
        self._superseded: set[str] = set()  # executions IB replaced by a corrected one
        self._alerts: list[Alert] = []  # for the next poll's update
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
        a later correction of one of them reverses it first, and a commission report
        is booked only for what differs from the commission already booked."""
        for fill in fills:
            self._seen_exec_ids.add(fill.exec_id)
            if fill.kind == "commission":
                execution = fill.exec_id.partition(COMMISSION)[0]
                self._add_commission(execution, fill.commission)
                self._commission_rows[execution] += 1
            elif fill.exec_id.endswith(REVERSED):
                self._superseded.add(fill.exec_id.removesuffix(REVERSED))
            elif fill.kind == "trade":
                self._add_commission(fill.exec_id, fill.commission)
                key = _execution_key(fill.exec_id)
                earlier = self._booked.get(key)
                if earlier is None:
                    # Shares delivered, so a state read after the restart (IB's completed
                    # orders) is not held back waiting for fills booked before it.
                    self._delivered[(fill.order_ref, fill.contract.key)] += abs(fill.quantity)
                if earlier is None or _revision(fill.exec_id) >= _revision(earlier.exec_id):
                    self._booked[key] = fill

    def _add_commission(self, exec_id: str, amount: float) -> None:
        self._commission_booked[exec_id] = round(
            self._commission_booked.get(exec_id, 0.0) + amount, 2
        )

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

    def _leg_fills(self, order_ref: str) -> list[IBFill]:
        """The order's leg executions, each in its latest revision (a corrected
        execution is counted once, at its corrected price)."""
        latest: dict[str, IBFill] = {}
        for f in self.ib.fills():
            if f.execution.orderRef != order_ref or f.contract.secType == "BAG":
                continue
            key = _execution_key(f.execution.execId)
            known = latest.get(key)
            if known is None or _revision(f.execution.execId) > _revision(known.execution.execId):
                latest[key] = f
        return list(latest.values())

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
        """New leg fills (once each), commission corrections, the states of orders whose
        state changed, and alerts about reports IB owes."""
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
        for ib_fill in sorted(self.ib.fills(), key=_execution_time):
            if ib_fill.contract.secType == "BAG":
                continue
            if ib_fill.execution.execId in self._seen_exec_ids:
                fills.extend(self._late_commission(ib_fill))
            else:
                fills.extend(self._new_fill(ib_fill))
        self._alert_overdue_commissions()
        self._confirm_ended()
        states = []
        # Orders whose final state the engine already has are not looked at again: each
        # state scans the day's executions, and the day's orders only grow.
        for ref in list((self._trades.keys() | self._vanished) - self._finished):
            state = self._state(ref)
            key = (state.status, state.filled_quantity, state.message)
            if self._reported.get(ref) != key:
                states.append(self._told(state))
        alerts, self._alerts = tuple(self._alerts), []
        return BrokerUpdate(states=tuple(states), fills=tuple(fills), alerts=alerts)

    def _new_fill(self, ib_fill: IBFill) -> list[Fill]:
        """Book an execution seen for the first time (after a reversal of the execution
        it corrects, if any); nothing while its commission report may still come."""
        execution = ib_fill.execution
        exec_id = execution.execId
        commission = _reported_commission(ib_fill)
        if commission is None:
            # The commission report follows the execution: book both together, but never
            # hold a fill back for long for want of its commission (it is corrected later).
            first, _ = self._awaiting_commission.setdefault(
                exec_id, (time.monotonic(), execution.orderRef)
            )
            if time.monotonic() - first < self.connection.settings.order_ack_seconds:
                return []
        contract = self.contracts.remember(ib_fill.contract)
        if contract is None:
            return []
        if commission is None:
            log.warning("no commission report for %s yet: booked without", exec_id)
        else:
            self._awaiting_commission.pop(exec_id, None)
        self._seen_exec_ids.add(exec_id)
        sign = 1 if execution.side == "BOT" else -1
        fill = Fill(
            exec_id=exec_id,
            order_ref=execution.orderRef,
            contract=contract,
            quantity=sign * round(execution.shares),
            price=float(execution.price),
            commission=round(commission or 0.0, 2),
            time=_execution_time(ib_fill),
        )
        out = []
        # IB corrects an execution by sending a new one whose id repeats the old one's but
        # for the last part: book a reversal of the old fill (with every commission booked
        # for it), then the new one, so the books hold the corrected trade once.
        key = _execution_key(exec_id)
        earlier = self._booked.get(key)
        if earlier is not None:
            log.warning("execution %s corrects %s", exec_id, earlier.exec_id)
            booked = self._commission_booked.get(earlier.exec_id, earlier.commission)
            out.append(
                Fill(
                    exec_id=f"{earlier.exec_id}{REVERSED}",
                    order_ref=earlier.order_ref,
                    contract=earlier.contract,
                    quantity=-earlier.quantity,
                    price=earlier.price,
                    commission=-booked or 0.0,  # never -0.0
                    time=fill.time,
                )
            )
            self._commissions -= booked
            self._superseded.add(earlier.exec_id)
            self._awaiting_commission.pop(earlier.exec_id, None)
        else:
            self._delivered[(execution.orderRef, contract.key)] += abs(fill.quantity)
        self._booked[key] = fill
        self._commission_booked[exec_id] = fill.commission
        self._commissions += fill.commission
        out.append(fill)
        return out

    def _late_commission(self, ib_fill: IBFill) -> list[Fill]:
        """A booked execution's commission as IB now reports it: the difference from what
        was booked (in this run or an earlier one), as a commission fill."""
        execution = ib_fill.execution
        exec_id = execution.execId
        if exec_id in self._superseded:
            return []  # reversed with everything booked for it
        booked = self._commission_booked.get(exec_id, 0.0)
        commission = _reported_commission(ib_fill)
        if commission is None:
            if not booked:  # booked without a report, maybe by the run before a restart
                self._awaiting_commission.setdefault(
                    exec_id, (time.monotonic(), execution.orderRef)
                )
            return []
        self._awaiting_commission.pop(exec_id, None)
        difference = round(commission - booked, 2)
        contract = self.contracts.remember(ib_fill.contract)
        if abs(difference) < 0.005 or contract is None:
            return []
        if exec_id in self._commission_alerted:
            self._commission_alerted.discard(exec_id)
            self._alert(
                Severity.INFO,
                "commission_received",
                f"commission report for {exec_id} ({execution.orderRef}) arrived at last: "
                f"{difference:+.2f} booked",
            )
        log.warning("late commission report for %s: %+.2f booked", exec_id, difference)
        self._commission_rows[exec_id] += 1
        rows = self._commission_rows[exec_id]
        self._commission_booked[exec_id] = round(booked + difference, 2)
        self._commissions += difference
        return [
            Fill(
                exec_id=f"{exec_id}{COMMISSION}" + (str(rows) if rows > 1 else ""),
                order_ref=execution.orderRef,
                contract=contract,
                quantity=0,
                price=0.0,
                commission=difference,
                time=_execution_time(ib_fill),
                kind="commission",
            )
        ]

    def _alert_overdue_commissions(self) -> None:
        """One alert for the booked executions whose commission report is overdue."""
        window = self.connection.settings.commission_alert_seconds
        now = time.monotonic()
        overdue = sorted(
            (exec_id, ref)
            for exec_id, (first, ref) in self._awaiting_commission.items()
            if now - first >= window
            and exec_id in self._seen_exec_ids
            and exec_id not in self._commission_alerted
        )
        if not overdue:
            return
        self._commission_alerted.update(exec_id for exec_id, _ in overdue)
        refs = sorted({ref for _, ref in overdue})
        self._alert(
            Severity.WARNING,
            "commission_missing",
            f"IB sent no commission report in {window:g}s for {len(overdue)} execution(s) "
            f"of {', '.join(refs)} ({', '.join(e for e, _ in overdue)}): booked without "
            "commission, corrected if the report comes; check the commissions in TWS",
        )

    def _alert(self, severity: Severity, code: str, message: str) -> None:
        """An alert for the engine (in the next poll's update), logged here as well."""
        log.log(logging.INFO if severity is Severity.INFO else logging.WARNING, message)
        self._alerts.append(Alert(self._stamp(), severity, "broker", code, message))

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
        if self._now is not None:
            return self._now
        # Before the first poll (recovery adopting orders): IB's time too, or a state
        # stamped by a local clock ahead of IB's would outrank the states that follow it.
        if self.connected:
            try:
                return _utc(self.ib.reqCurrentTime())
            except (ConnectionError, TimeoutError, OSError) as exc:
                log.warning("IB's time not read: %s", exc)
        return datetime.now(UTC)

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
        for f in self._leg_fills(order.order_ref):
            contract = self.contracts.remember(f.contract)
            if contract is not None:
                shares[contract.key] += abs(f.execution.shares)
        units = min(
            min(int(shares[leg.contract.key] // abs(leg.ratio)) for leg in order.legs),
            order.quantity,
        )
        status = OrderStatus.FILLED if units >= order.quantity else OrderStatus.CANCELLED
        return self._local(order, status, "known from executions only", filled=units)

    def _avg_fill_price(self, trade: Trade, filled: int) -> float | None:
        """IB's average price per unit; for a completed order, which carries none, the
        net price per unit of its leg executions (IB's combo convention)."""
        if trade.orderStatus.filled and trade.orderStatus.avgFillPrice:
            return trade.orderStatus.avgFillPrice
        legs = self._leg_fills(trade.order.orderRef)
        if not legs:
            return None
        net = sum(
            (1 if f.execution.side == "BOT" else -1) * f.execution.shares * f.execution.price
            for f in legs
        )
        direction = -1 if trade.order.action == "SELL" else 1
        return round(direction * net / filled, 6)

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
        filled = _filled(trade)
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
        elif status_text in ENDED and _completed(trade) and not error:
            # Ended while V6 was away (a DAY order at the close, a cancel sent before a
            # restart, a cancel in TWS): IB's completed orders say nothing of a rejection.
            status = OrderStatus.CANCELLED
            message = message or f"{status_text} at the broker while V6 was away"
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
        return OrderState(
            order_ref=order_ref,
            status=status,
            filled_quantity=filled,
            remaining_quantity=remaining,
            avg_fill_price=self._avg_fill_price(trade, filled) if filled else None,
            time=self._stamp(),
            broker_order_id=_order_id(trade),
            limit_price=trade.order.lmtPrice,
            message=message,
        )


def _completed(trade: Trade) -> bool:
    """True for a trade read from IB's completed orders (only they carry
    ``filledQuantity``), not followed live by this connection."""
    quantity = float(trade.order.filledQuantity)
    return math.isfinite(quantity) and abs(quantity) < UNSET


def _filled(trade: Trade) -> int:
    """Units IB says are filled. ib_async leaves ``orderStatus.filled`` at 0 for an order
    read from IB's completed orders (after a reconnect or a restart): there the quantity
    is ``order.filledQuantity``."""
    filled = float(trade.orderStatus.filled or 0.0)
    if _completed(trade):
        filled = max(filled, float(trade.order.filledQuantity))
    return round(filled)


def _order_id(trade: Trade) -> str:
    """IB's order id; a completed order carries none, its executions do."""
    order_id = trade.order.orderId or trade.orderStatus.orderId
    if not order_id:
        order_id = next((f.execution.orderId for f in trade.fills if f.execution.orderId), 0)
    return str(order_id) if order_id else ""


def _reported_commission(ib_fill: IBFill) -> float | None:
    """The commission IB reported for an execution; None while no report has come."""
    report = ib_fill.commissionReport
    if not report.execId:
        return None
    commission = float(report.commission)
    if not math.isfinite(commission) or abs(commission) >= UNSET:
        return None
    return commission


def _execution_time(ib_fill: IBFill) -> datetime:
    """When IB executed it (UTC), live or recovered: ib_async stamps a live fill with the
    time it received it, a recovered one with IB's execution time."""
    executed = ib_fill.execution.time
    return _utc(ib_fill.time if executed is None or executed == EPOCH else executed)


def _ended_by_error(trade: Trade) -> bool:
    """True when ib_async ended the trade itself on an error, not on IB's order status."""
    return bool(trade.log) and bool(trade.log[-1].errorCode)


def _execution_key(exec_id: str) -> str:
    """An execution id without its revision (IB's last dotted part), so a correction
    (``....01`` -> ``....02``) is recognised as the same execution."""
    head, _, tail = exec_id.rpartition(".")
    return head if head and tail.isdigit() else exec_id


def _revision(exec_id: str) -> int:
    """An execution id's revision (its last dotted part), 0 when it has none."""
    tail = exec_id.rpartition(".")[2]
    return int(tail) if tail.isdigit() else 0
