"""Phase 5, breakers: apply the dashboard's halt and resume commands and reset requests,
feed the breakers this cycle's facts, store what changed; while any breaker blocks
entries, cancel the entry orders still working."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from v6.domain.alerts import Severity
from v6.domain.market import MarketView
from v6.engine import orders
from v6.risk.circuit_breakers import BreakerEvent, CycleObservation
from v6.risk.manual_halt import (
    ALREADY_TRIPPED,
    BREAKER,
    HALT,
    NO_OP_TEXT,
    NOT_TRIPPED,
    ManualCommand,
)
from v6.store.disk import free_bytes as free_disk_bytes

if TYPE_CHECKING:
    from v6.engine.cycle import Engine


def _no_op(command: ManualCommand, view: MarketView) -> BreakerEvent:
    """The answer to a command that found the breaker already as it asks."""
    event = ALREADY_TRIPPED if command.command == HALT else NOT_TRIPPED
    return BreakerEvent(view.time, BREAKER, event, command.describe(), "manual")


def run(engine: Engine, view: MarketView) -> None:
    """Trip or reset breakers; every trip and reset is alerted and stored at once."""
    account = engine.account_now or engine.broker.account(view)
    events: list[BreakerEvent] = []
    if engine.command_inbox is not None:  # the dashboard's halt / resume
        for command in engine.command_inbox.take():
            if command.command == HALT:
                event = engine.breakers.halt(view.time, command.describe())
            else:
                event = engine.breakers.reset(BREAKER, view.time)
                event = event and attrs.evolve(event, reason=command.describe())
            # A halt while halted (a resume while not) changes nothing, but is answered
            # all the same: the event names the command, so the dashboard shows it applied
            # and a restarted engine does not deliver it again.
            events.append(event or _no_op(command, view))
    if engine.breaker_inbox is not None:
        for request in engine.breaker_inbox.take():
            event = engine.breakers.reset(
                request.breaker, view.time, net_liquidation=account.net_liquidation
            )
            if event is not None:
                events.append(event)
    events += engine.breakers.observe(
        CycleObservation(
            time=view.time,
            net_liquidation=account.net_liquidation,
            broker_connected=bool(getattr(engine.broker, "connected", True)),
            unusable_underlyings=engine.unusable,
            rejections=engine.rejections,
            closed_pnls=tuple(engine.closed_pnls),
            free_disk_bytes=free_disk_bytes(engine.recorder.store.root),
        )
    )
    engine.rejections = 0
    engine.closed_pnls.clear()
    for event in events:
        tripped = event.event == "trip"
        done = {"trip": "tripped", "reset": "reset"}.get(event.event)
        engine.alert(
            Severity.CRITICAL if tripped else Severity.INFO,
            "breakers",
            f"breaker_{event.event}",
            f"circuit breaker {event.breaker} {done} ({event.source}): {event.reason}"
            if done
            else f"circuit breaker {event.breaker} unchanged, {NO_OP_TEXT[event.event]}: "
            f"{event.reason}",
            view.time,
        )
        engine.recorder.breaker_event(event)
    engine.report.breakers_tripped = tuple(engine.breakers.tripped())
    orders.cancel_blocked_entries(engine, view)  # a blocked entry must not fill either
