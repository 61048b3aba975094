"""Orders, from the engine's side: open, close and unwind positions, and book what the
broker reports.

Every order is tracked by the position book before it is sent, so every fill that comes
back is attributed through its reference to exactly one position. With a real broker
the order's row is stored before it leaves (write-ahead), so a crash between sending and
hearing back leaves the reference for recovery to look up.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from v6.domain.alerts import Severity
from v6.domain.contracts import Leg
from v6.domain.decisions import ExitDecision
from v6.domain.market import MarketView
from v6.domain.orders import (
    BrokerUpdate,
    ComboOrder,
    Fill,
    OrderIntent,
    OrderState,
    OrderStatus,
)
from v6.domain.positions import Position, PositionStatus
from v6.engine import predictions
from v6.execution.combo_executor import round_to_tick
from v6.execution.pre_trade import combo_quotes

if TYPE_CHECKING:
    from v6.engine.cycle import Engine

log = logging.getLogger(__name__)


def legs_text(legs: tuple[Leg, ...]) -> str:
    """``SPY 20260220 580P x-1, ...`` for logs and alerts."""
    return ", ".join(f"{leg.contract.key} x{leg.ratio}" for leg in legs)


# -- what the broker reports -----------------------------------------------------------


def apply(engine: Engine, update: BrokerUpdate, view: MarketView) -> None:
    """Book fills (before states, so a finished order sees its fills), states, and the
    broker's own alerts."""
    for fill in update.fills:
        attributed = engine.book.apply_fill(fill)
        if not attributed and _revive_owner(engine, fill):
            attributed = engine.book.apply_fill(fill)
        if not attributed:
            engine.alert(
                Severity.WARNING,
                "book",
                "unattributed_fill",
                f"fill {fill.exec_id} ({fill.contract.key} x{fill.quantity}) belongs to no "
                "V6 order: left alone",
                view.time,
            )
            engine.recorder.fill(fill, position_id="", strategy="")
        for position_id, part in attributed:
            position = engine.book.position(position_id)
            engine.recorder.fill(part, position_id=position_id, strategy=position.strategy)
            engine.report.fills += 1
    for position_id in engine.book.take_reopened():
        reopened(engine, position_id, view)
    for state in update.states:
        record_state(engine, state, view)
    for alert in update.alerts:  # what the broker noticed, e.g. a commission IB still owes
        engine.alert(alert.severity, alert.source, alert.code, alert.message, alert.time)


def _revive_owner(engine: Engine, fill: Fill) -> bool:
    """A fill for an order of a position closed before a restart: bring the position
    back from the store so the fill is booked onto it (never lost as unattributed)."""
    from v6.engine.recovery import revive

    position_id, sep, _ = fill.order_ref.partition(":")
    return bool(sep) and revive(engine, position_id)


def reopened(engine: Engine, position_id: str, view: MarketView) -> None:
    """A fill arrived for a position V6 had settled as closed: the broker holds it, so it
    is live again. It takes its slot back (no second entry in its place), exit rules
    watch it again, and the trader is told."""
    engine.book.settle_if_idle(position_id, view.time)
    position = engine.book.position(position_id)
    engine.registry.restore([position])
    engine.alert(
        Severity.ERROR,
        "book",
        "fill_after_close",
        f"{position_id} was settled as closed but the broker filled it: reopened as "
        f"{position.status.value} with {position.quantity} units; its exit rules apply again",
        view.time,
    )


def record_state(engine: Engine, state: OrderState, view: MarketView) -> None:
    """Store an order's new state; a final state settles its position."""
    order = engine.book.order(state.order_ref)
    if order is None:
        return
    engine.recorder.order(order, state)
    engine.executor.on_state(state)
    if state.status is OrderStatus.REJECTED:
        engine.rejections += 1
        engine.alert(
            Severity.WARNING,
            "execution",
            "order_rejected",
            f"order {state.order_ref} rejected: {state.message}",
            view.time,
        )
    if state.status.is_done:
        engine.book.order_done(state.order_ref, state.time)


def work(engine: Engine, view: MarketView) -> None:
    """Improve or time out working orders, book what filled, unwind anything legged.

    While a breaker blocks entries no entry is repriced toward natural: a halted engine
    must not buy its way into a new position (those orders are cancelled in the breaker
    phase; one the broker has not confirmed cancelled yet just waits, at its price)."""
    reprice = engine.breakers.entries_allowed
    for state in engine.executor.work(view, engine.cycle, view.time, reprice_entries=reprice):
        record_state(engine, state, view)
    apply(engine, engine.broker.poll(view), view)
    unwind_legged(engine, view)


def cancel_entries(engine: Engine, position_id: str, view: MarketView) -> list[OrderState]:
    """Cancel the position's entry orders still working (what filled stays booked); the
    states the broker answered."""
    states = []
    for order in engine.book.working_orders(position_id):
        if order.intent is OrderIntent.OPEN:
            state = engine.broker.cancel(order.order_ref)
            engine.executor.on_state(state)
            record_state(engine, state, view)
            states.append(state)
    return states


def cancel_blocked_entries(engine: Engine, view: MarketView) -> None:
    """While any breaker blocks entries, cancel every entry order still working.

    Skipping the entries phase only stops new orders; one already working would go on
    being improved toward natural and could fill a new position under a halt. Cancelled
    through :func:`cancel_entries`, as a flatten does: what filled stays booked, and a
    legged remainder is unwound at the end of the cycle. A cancel the broker has not
    confirmed (IB still pending, the connection down) is sent again every cycle, and
    alerted once.
    """
    tripped = engine.breakers.tripped()
    if not tripped:
        return
    for position in engine.book.positions([PositionStatus.OPENING, PositionStatus.OPEN]):
        pid = position.position_id
        for state in cancel_entries(engine, pid, view):
            ref = state.order_ref
            if ref in engine.blocked_entries_alerted and not state.status.is_done:
                continue
            engine.blocked_entries_alerted.add(ref)
            what = "cancelled" if state.status.is_done else "cancel sent, not confirmed yet"
            engine.alert(
                Severity.WARNING,
                "breakers",
                "entry_cancelled",
                f"{pid}: entry order {ref} {what} ({state.status.value}"
                f"{': ' + state.message if state.message else ''}): entries are blocked by "
                f"{', '.join(tripped)}; {engine.book.quantity(pid)} units filled before, kept",
                view.time,
            )


# -- sending ---------------------------------------------------------------------------


def _next_id(engine: Engine, strategy: str, underlying: str, view: MarketView) -> str:
    return f"{strategy}-{underlying}-{view.time:%Y%m%dT%H%M}-{engine.next_sequence():04d}"


def open_position(engine: Engine, selection: Any, view: MarketView) -> OrderState:
    """Register the position a selection becomes and send its opening order."""
    candidate = selection.candidate
    position_id = _next_id(engine, candidate.strategy, candidate.underlying, view)
    regime = engine.regimes.get(candidate.underlying)
    engine.book.open_position(
        position_id,
        candidate.strategy,
        candidate.underlying,
        candidate.structure,
        selection.legs,
        view.time,
        entry_regime=regime.regime.value if regime is not None else "",
        slot=engine.registry.assign(candidate.strategy, candidate.underlying, position_id),
    )
    predictions.predict(engine, selection, view, position_id)  # committed with the write-ahead
    order = ComboOrder(
        order_ref=f"{position_id}:open",
        position_id=position_id,
        strategy=candidate.strategy,
        underlying=candidate.underlying,
        intent=OrderIntent.OPEN,
        legs=selection.legs,
        quantity=candidate.quantity,
        limit_price=round_to_tick(selection.net_mid, engine.config.execution.tick_size, up=True),
        created_at=view.time,
    )
    return send(engine, order, view)


def close(
    engine: Engine,
    position: Position,
    view: MarketView,
    decision: ExitDecision,
    *,
    at_natural: bool = False,
) -> OrderState | None:
    """Send the order that closes every complete unit of ``position``."""
    quantity = engine.book.quantity(position.position_id)
    if quantity <= 0:
        return None
    legs = tuple(Leg(contract=leg.contract, ratio=-leg.ratio) for leg in position.legs)
    order = ComboOrder(
        order_ref=f"{position.position_id}:close:{engine.next_sequence():04d}",
        position_id=position.position_id,
        strategy=position.strategy,
        underlying=position.underlying,
        intent=OrderIntent.CLOSE,
        legs=legs,
        quantity=quantity,
        limit_price=0.0,
        created_at=view.time,
    )
    quotes = combo_quotes(order, view)
    if quotes is None:
        engine.alert(
            Severity.ERROR,
            "execution",
            "close_impossible",
            f"cannot price close of {position.position_id}: contract missing",
            view.time,
        )
        return None
    price = quotes[1] if at_natural else engine.executor.initial_limit(order, view)
    order = order.with_limit(round_to_tick(price, engine.config.execution.tick_size, up=True))
    log.info("closing %s (%s): %s", position.position_id, decision.rule, decision.reason)
    engine.book.note_exit(position.position_id, decision.rule)
    return send(engine, order, view)


def unwind_legged(engine: Engine, view: MarketView) -> None:
    """Trade away any leg imbalance left after an order ended (never leave a naked short)."""
    from v6.engine.cycle import LIVE

    for position in engine.book.positions(LIVE):
        pid = position.position_id
        if engine.book.has_working_order(pid):
            continue
        fixes = engine.book.imbalance(pid)
        if not fixes:
            continue
        engine.alert(
            Severity.ERROR,
            "execution",
            "legged_position",
            f"{pid} is legged: unwinding {legs_text(fixes)}",
            view.time,
        )
        order = ComboOrder(
            order_ref=f"{pid}:unwind:{engine.next_sequence():04d}",
            position_id=pid,
            strategy=position.strategy,
            underlying=position.underlying,
            intent=OrderIntent.UNWIND,
            legs=fixes,
            quantity=1,
            limit_price=0.0,
            created_at=view.time,
        )
        price = engine.executor.initial_limit(order, view)
        if price is None:
            continue
        engine.book.note_exit(pid, "unwind", keep_existing=True)
        send(engine, order.with_limit(price), view)


def send(engine: Engine, order: ComboOrder, view: MarketView) -> OrderState:
    """Track, store, then send ``order``; store what came back.

    The order is written ahead of sending, whatever the broker: after a crash the store
    then never holds a fill or an order state whose order or position row is missing.
    """
    engine.book.track_order(order)
    engine.recorder.write_ahead(
        order,
        OrderState(
            order_ref=order.order_ref,
            status=OrderStatus.PENDING,
            filled_quantity=0,
            remaining_quantity=order.quantity,
            avg_fill_price=None,
            time=view.time,
            limit_price=order.limit_price,
            message="about to send",
        ),
        engine.book.position(order.position_id),
    )
    state = engine.executor.submit(order, view, engine.cycle)
    engine.report.orders_sent += 1
    record_state(engine, state, view)
    engine.recorder.flush_orders()
    return state
