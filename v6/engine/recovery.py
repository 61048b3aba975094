"""Crash recovery: rebuild the engine's book from the store, then settle what was in
flight with the broker.

V6 may be killed at any instant, including between sending an order and hearing back.
Because every order row is stored (status pending) *before* the order is sent, the store
always knows every reference V6 may have sent. On the next start:

1. the book is rebuilt by replaying, in time order, every order and fill of the
   positions that were not closed (the same code path that built it the first time);
2. strategy slots and cool-downs are restored from the positions table;
3. every execution already in the fills table is marked seen, so it is never booked twice;
4. each order that was not finished is looked up at the broker *by its reference*: if the
   broker has it, V6 adopts it and works it to completion or cancels it on the normal
   timeout (a legged remainder is then unwound); if the broker never received it, it is
   recorded as cancelled and never sent again;
5. the first poll then books every fill that happened while V6 was down.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from attrs import frozen

from v6.domain.alerts import Severity
from v6.domain.orders import OrderState, OrderStatus
from v6.domain.positions import PositionStatus
from v6.engine.cycle import Engine
from v6.risk.breaker_log import stored_events
from v6.store.delta_store import DeltaStore
from v6.store.rows import fills_from_frame, orders_from_frame, positions_from_frame

log = logging.getLogger(__name__)
NEW_YORK = ZoneInfo("America/New_York")
# The counters V6 puts in ids: "...-0012" ending a position id, ":0034" ending a close or
# unwind reference (never the date and time parts, which are followed by other text).
SEQUENCE = re.compile(r"[-:](\d{4,})(?=:|$)")


def last_counter(ids: Iterable[str]) -> int:
    """The highest counter V6 has put in any of ``ids`` (position ids and order
    references, closes and unwinds included), so new ids continue after it."""
    return max((int(n) for i in ids for n in SEQUENCE.findall(i)), default=0)


@frozen(slots=True)
class RecoveryReport:
    """What a restart found and did."""

    positions: int
    orders_adopted: tuple[str, ...]
    orders_never_sent: tuple[str, ...]
    fills_replayed: int


def recover(engine: Engine, store: DeltaStore, now: datetime) -> RecoveryReport:
    """Restore ``engine`` from ``store`` and settle in-flight orders with its broker.

    The engine's broker must also implement :class:`v6.ports.RecoverableBroker`.
    """
    stored_positions = positions_from_frame(store.read("positions"))
    live = {p.position_id: p for p in stored_positions if p.status is not PositionStatus.CLOSED}
    every_order = orders_from_frame(store.read("orders"))
    orders = [o for o in every_order if o.order.position_id in live]
    all_fills = fills_from_frame(store.read("fills"))
    engine.broker.mark_booked(all_fills)
    order_refs = {o.order.order_ref for o in orders}
    fills = [f for f in all_fills if f.order_ref in order_refs or f.kind == "expiration"]

    for position in live.values():
        engine.book.open_position(
            position.position_id,
            position.strategy,
            position.underlying,
            position.structure,
            position.legs,
            position.opened_at,
            entry_regime=position.entry_regime,
            slot=position.slot,
        )
    # Order by order: track it, book its own fills, then settle it if it ended. Fill and
    # order-state times come from different clocks (IB's execution time, the engine's
    # cycle), so a replay by timestamp could settle an order before its fills.
    by_order: dict[str, list] = {}
    for fill in fills:
        by_order.setdefault(fill.order_ref, []).append(fill)
    for stored in orders:
        engine.book.track_order(stored.order)
        for fill in by_order.pop(stored.order.order_ref, []):
            engine.book.apply_fill(fill)
        if stored.state.status.is_done:
            engine.book.order_done(stored.order.order_ref, stored.state.time)
    for fill in sorted(by_order.get("expiration", []), key=lambda f: f.time):
        engine.book.apply_fill(fill)  # settlements at expiry, shared out by contract
    # A row written before the crash may be stale (fills are stored as they happen,
    # position rows at the end of a cycle): store the replayed state where it differs.
    changed = engine.book.drain_changed()
    for position_id in changed:
        replayed = engine.book.position(position_id)
        if replayed.status is not live[position_id].status:
            engine.recorder.position(replayed, now)
    replayed_live = engine.book.positions()
    engine.registry.restore(
        [p for p in stored_positions if p.position_id not in live] + replayed_live
    )
    _restore_breakers(engine, store, stored_positions, replayed_live, now)
    restore_tracks(engine, store, [p.position_id for p in replayed_live])
    engine.continue_ids_after(
        last_counter(
            [p.position_id for p in stored_positions] + [o.order.order_ref for o in every_order]
        )
    )

    adopted, never_sent = [], []
    # Ask IB for every open order of this account first (any client id), so an order
    # sent by the previous run is found, not declared never sent.
    try:
        engine.broker.refresh()
    except (ConnectionError, TimeoutError) as exc:
        log.warning("recovery could not refresh orders from the broker: %s", exc)
    for stored in orders:
        if stored.state.status.is_done:
            continue
        order = stored.order
        state = engine.broker.adopt(order)
        if state is None:
            never_sent.append(order.order_ref)
            state = OrderState(
                order_ref=order.order_ref,
                status=OrderStatus.CANCELLED,
                filled_quantity=0,
                remaining_quantity=order.quantity,
                avg_fill_price=None,
                time=now,
                limit_price=order.limit_price,
                message="not found at the broker after a restart: never sent, not resent",
            )
        else:
            adopted.append(order.order_ref)
            engine.executor.resume(order, state, engine.cycle)
        engine.recorder.order(order, state)
        if state.status.is_done:
            engine.book.order_done(order.order_ref, state.time)
    for position_id in engine.book.drain_changed():  # settled by what the broker said
        position = engine.book.position(position_id)
        engine.recorder.position(position, now)
        if position.status is PositionStatus.CLOSED:
            engine.registry.release(position, now)
    engine.recorder.flush_orders()
    report = RecoveryReport(
        positions=len(live),
        orders_adopted=tuple(adopted),
        orders_never_sent=tuple(never_sent),
        fills_replayed=len(fills),
    )
    if live or adopted or never_sent:
        engine.alert(
            Severity.WARNING,
            "recovery",
            "restart_recovered",
            f"restored {report.positions} positions from the store; orders adopted at the "
            f"broker: {', '.join(adopted) or 'none'}; "
            f"never sent: {', '.join(never_sent) or 'none'}",
            now,
        )
    log.warning("recovery: %s", report)
    return report


def _restore_breakers(
    engine: Engine,
    store: DeltaStore,
    stored_positions: list,
    replayed: list,
    now: datetime,
) -> None:
    """Trips and resets from the store, today's starting net liquidation, the streak."""
    day = now.astimezone(NEW_YORK).date()
    snapshots = store.read("account_snapshots", columns=["time", "net_liquidation"])
    start = None
    if not snapshots.empty:
        times = pd.to_datetime(snapshots["time"], utc=True).dt.tz_convert(NEW_YORK)
        today = snapshots[(times.dt.date == day).to_numpy()].sort_values("time")
        finite = today["net_liquidation"][np.isfinite(today["net_liquidation"])]
        start = float(finite.iloc[0]) if not finite.empty else None
    closed = {p.position_id: p for p in stored_positions if p.status is PositionStatus.CLOSED}
    closed.update({p.position_id: p for p in replayed if p.status is PositionStatus.CLOSED})
    outcomes = sorted(
        (p for p in closed.values() if p.closed_at is not None and p.exit_rule != "unfilled"),
        key=lambda p: p.closed_at,
    )
    streak = 0
    for position in reversed(outcomes):
        if position.realized_pnl >= 0:
            break
        streak += 1
    engine.breakers.restore(
        stored_events(store), day=day, day_start_net_liquidation=start, losing_streak=streak
    )


def restore_tracks(engine: Engine, store: DeltaStore, position_ids: list[str]) -> None:
    """Every live position's marks from the decisions table, so path-dependent rules (the
    trailing stop's peak) carry on where they were."""
    if not position_ids:
        return
    columns = ["time", "position_id", "unrealized_pnl", "pnl_fraction", "half_spread", "spot"]
    frame = store.read("decisions", columns=columns, filters=[("position_id", "in", position_ids)])
    if frame.empty:
        return
    frame = frame.sort_values("time", kind="stable")
    times = pd.to_datetime(frame["time"], utc=True).dt.tz_localize(None).to_numpy("datetime64[us]")
    for position_id in position_ids:
        rows = (frame["position_id"] == position_id).to_numpy()
        if rows.any():
            engine.tracks.restore(
                position_id,
                times[rows],
                *(frame[c].to_numpy(dtype=float, na_value=np.nan)[rows] for c in columns[2:]),
            )
