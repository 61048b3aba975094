"""Phase 8, persist: store every position that changed, the account, and end the cycle.

A position that closed here also gets its prediction's actuals, gives back its strategy
slot and its outcome is handed to the breakers (a losing streak counts only positions that
were really opened). Plugin failure episodes are closed or reminded of here, once per
cycle; the book's Greeks and the engine's heartbeat are recorded last
(:mod:`v6.engine.position_risk`, :mod:`v6.engine.heartbeat`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from v6.domain.market import MarketView
from v6.domain.positions import PositionStatus
from v6.engine import heartbeat, position_risk, predictions

if TYPE_CHECKING:
    from v6.engine.cycle import Engine


def run(engine: Engine, view: MarketView) -> None:
    """Write changed positions and the account snapshot; flush on the store's schedule."""
    from v6.engine.cycle import LIVE

    for position_id in engine.book.drain_changed():
        position = engine.book.position(position_id)
        engine.recorder.position(position, view.time)
        predictions.on_position(engine, position, view.time)
        if position.status is PositionStatus.CLOSED and engine.registry.slot_of(position_id):
            engine.registry.release(position, view.time)
            engine.tracks.forget(position_id)
            engine.alerting.pop(position_id, None)
            if engine.book.was_filled(position_id):
                engine.closed_pnls.append(position.realized_pnl)
    account = engine.broker.account(view)
    engine.last_account = account
    engine.recorder.account(account, engine.cycle)
    engine.report.open_positions = len(engine.book.positions(LIVE))
    engine.report.net_liquidation = account.net_liquidation
    engine.report.pnl = account.net_liquidation - (engine.initial_net_liquidation or 0.0)
    engine.plugin_failures.end_cycle(view.time)
    position_risk.record(engine, view)
    heartbeat.beat(engine, view)
    engine.recorder.end_cycle(engine.cycle)
