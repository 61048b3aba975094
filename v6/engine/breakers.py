"""Phase 5, breakers: apply the dashboard's halt and resume commands and reset requests,
feed the breakers this cycle's facts, store what changed."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from v6.domain.alerts import Severity
from v6.domain.market import MarketView
from v6.risk.circuit_breakers import BreakerEvent, CycleObservation
from v6.risk.manual_halt import BREAKER, HALT
from v6.store.disk import free_bytes as free_disk_bytes

if TYPE_CHECKING:
    from v6.engine.cycle import Engine


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
            if event is not None:
                events.append(event)
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
        engine.alert(
            Severity.CRITICAL if tripped else Severity.INFO,
            "breakers",
            f"breaker_{event.event}",
            f"circuit breaker {event.breaker} "
            f"{'tripped' if tripped else 'reset'} ({event.source}): {event.reason}",
            view.time,
        )
        engine.recorder.breaker_event(event)
    engine.report.breakers_tripped = tuple(engine.breakers.tripped())
