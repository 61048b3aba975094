"""Working combo orders: start at mid, step toward natural, then give up cleanly.

The executor owns the life of every order V6 sends. Each cycle it moves a working
order's limit one ``price_step`` toward the natural price (never past it), and after
``order_timeout_cycles`` it cancels what is left. Whatever filled stays with its position;
the engine unwinds any legged remainder. Every state change is returned so the engine
can store it.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime

from attrs import define

from v6.config import ExecutionSettings
from v6.domain.market import MarketView
from v6.domain.orders import ComboOrder, OrderIntent, OrderState, OrderStatus
from v6.execution.pre_trade import combo_quotes, refusal_reason
from v6.ports import Broker

log = logging.getLogger(__name__)


def round_to_tick(price: float, tick: float, *, up: bool) -> float:
    """Round a net debit to the tick; ``up`` pays a little more (more marketable)."""
    steps = price / tick
    steps = math.ceil(steps - 1e-9) if up else math.floor(steps + 1e-9)
    return round(steps * tick, 10)


@define
class WorkingOrder:
    """An order V6 is working, with the cycle it was sent and how far it was improved."""

    order: ComboOrder
    state: OrderState
    submitted_cycle: int
    steps: int = 0


class ComboExecutor:
    """Sends, improves and cancels combo orders through a :class:`~v6.ports.Broker`."""

    def __init__(self, broker: Broker, settings: ExecutionSettings) -> None:
        self._broker = broker
        self._settings = settings
        self._working: dict[str, WorkingOrder] = {}

    @property
    def working(self) -> list[WorkingOrder]:
        return list(self._working.values())

    def initial_limit(self, order: ComboOrder, market: MarketView) -> float | None:
        """Mid rounded toward marketable; unwinds start at natural (they must fill)."""
        quotes = combo_quotes(order, market)
        if quotes is None:
            return None
        net_mid, net_natural, _ = quotes
        target = net_natural if order.intent is OrderIntent.UNWIND else net_mid
        return round_to_tick(target, self._settings.tick_size, up=True)

    def submit(self, order: ComboOrder, market: MarketView, cycle: int) -> OrderState:
        """Check and send ``order``; a refused order comes back REJECTED, never sent."""
        reason = refusal_reason(order, market)
        if reason is not None:
            log.warning("order %s refused before sending: %s", order.order_ref, reason)
            return OrderState(
                order_ref=order.order_ref,
                status=OrderStatus.REJECTED,
                filled_quantity=0,
                remaining_quantity=order.quantity,
                avg_fill_price=None,
                time=market.time,
                limit_price=order.limit_price,
                message=f"refused by V6: {reason}",
            )
        state = self._broker.place(order)
        if not state.status.is_done:
            self._working[order.order_ref] = WorkingOrder(order, state, cycle)
        return state

    def resume(self, order: ComboOrder, state: OrderState, cycle: int) -> None:
        """Work an order found at the broker after a restart, as if sent at ``cycle``: it
        gets the normal timeout, then is cancelled (and a legged remainder unwound)."""
        if not state.status.is_done:
            self._working[order.order_ref] = WorkingOrder(order, state, cycle)

    def on_state(self, state: OrderState) -> None:
        """Record a broker-reported state; finished orders stop being worked."""
        working = self._working.get(state.order_ref)
        if working is None:
            return
        if state.status.is_done:
            del self._working[state.order_ref]
        else:
            working.state = state

    def work(
        self, market: MarketView, cycle: int, now: datetime, *, reprice_entries: bool = True
    ) -> list[OrderState]:
        """Improve or cancel every working order; returns the states the broker reported.

        ``reprice_entries=False`` (a breaker blocks entries) leaves entry orders at their
        price: they still time out, but are never made more marketable."""
        states: list[OrderState] = []
        for ref, working in list(self._working.items()):
            age = cycle - working.submitted_cycle
            if age <= 0:
                continue
            if age >= self._settings.order_timeout_cycles:
                log.info("order %s timed out after %d cycles: cancelling", ref, age)
                state = self._broker.cancel(ref)
                states.append(state)
                self.on_state(state)
                continue
            if working.steps >= self._settings.max_price_steps:
                continue
            if not reprice_entries and working.order.intent is OrderIntent.OPEN:
                continue
            quotes = combo_quotes(working.order, market)
            if quotes is None or not quotes[2]:
                continue  # never reprice on bad data; the timeout still applies
            _, net_natural, _ = quotes
            current = working.order.limit_price
            cap = round_to_tick(net_natural, self._settings.tick_size, up=True)
            new_limit = min(current + self._settings.price_step, cap)
            new_limit = round_to_tick(new_limit, self._settings.tick_size, up=True)
            if new_limit <= current:
                continue
            state = self._broker.modify(ref, new_limit)
            working.order = working.order.with_limit(new_limit)
            working.steps += 1
            states.append(state)
            self.on_state(state)
        return states
