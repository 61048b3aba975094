"""Crash recovery: rebuild the engine's book from the store, then settle every order with
the broker, whose word is final.

V6 may be killed at any instant, including between the commits of one order event.
The store is written so that no row ever points at a row that is not there (the order
tables' write order, :mod:`v6.engine.recorder`), but a stored order *state* may lag what
happened at the broker. So recovery never settles an order on stored rows alone:

1. the book is rebuilt by replaying every order and stored fill of the positions that
   were not closed (the same code path that built it the first time), without settling
   any order yet;
2. every execution already in the fills table is marked seen, so it is never booked
   twice;
3. every order of those positions, finished or not, is looked up at the broker *by its
   reference*. An order the broker knows is adopted: its state from now on is the
   broker's, and a position is settled only once the fills the broker reports are
   booked (a state never runs ahead of its fills). An order the broker does not know
   is settled on its stored state if that was final (an order of an earlier day), and
   otherwise recorded as cancelled and never sent again;
4. slots, cool-downs, breakers and trailing-stop tracks are restored from the settled
   book, and new ids continue after every id in the store;
5. the first poll then books every fill that happened while V6 was down; a fill for a
   position V6 had settled as closed reopens it with an alert.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

import attrs
import numpy as np
import pandas as pd
from attrs import frozen

from v6.domain.alerts import Severity
from v6.domain.orders import Fill, OrderState, OrderStatus
from v6.domain.positions import Position, PositionStatus
from v6.engine.cycle import Engine
from v6.risk.breaker_log import stored_events
from v6.store.delta_store import DeltaStore
from v6.store.rows import (
    StoredOrder,
    fills_from_frame,
    in_write_order,
    orders_from_frame,
    positions_from_frame,
)

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
    """Restore ``engine`` from ``store`` and settle every order with its broker.

    The engine's broker must also implement :class:`v6.ports.RecoverableBroker`.
    """
    stored_positions = positions_from_frame(store.read("positions"))
    live = {p.position_id: p for p in stored_positions if p.status is not PositionStatus.CLOSED}
    every_order = orders_from_frame(store.read("orders"))
    orders = [o for o in every_order if o.order.position_id in live]
    all_fills = fills_from_frame(store.read("fills"))
    engine.continue_ids_after(
        last_counter(
            [p.position_id for p in stored_positions] + [o.order.order_ref for o in every_order]
        )
    )
    engine.broker.mark_booked(all_fills)
    order_refs = {o.order.order_ref for o in orders}
    fills = [f for f in all_fills if f.order_ref in order_refs or f.kind == "expiration"]
    replay(engine, live.values(), orders, fills)
    # Ask IB for every open order, completed order and execution of this account first
    # (any client id), so an order sent by the previous run is found, not declared never
    # sent, and its fills are known before anything is settled.
    try:
        engine.broker.refresh()
    except (ConnectionError, TimeoutError) as exc:
        log.warning("recovery could not refresh orders from the broker: %s", exc)
    adopted, never_sent = settle_with_broker(engine, orders, now)

    settled = engine.book.drain_changed()
    for position_id in settled:  # the replayed and settled state, where it moved
        engine.recorder.position(engine.book.position(position_id), now)
    engine.recorder.flush_orders()
    replayed = engine.book.positions()
    engine.registry.restore([p for p in stored_positions if p.position_id not in live] + replayed)
    _restore_breakers(engine, store, stored_positions, replayed, now)
    restore_tracks(
        engine,
        store,
        [p.position_id for p in replayed if p.status is not PositionStatus.CLOSED],
    )
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


def replay(
    engine: Engine,
    positions: Iterable[Position],
    orders: Iterable[StoredOrder],
    fills: Iterable[Fill],
) -> None:
    """Rebuild positions from their orders and stored fills, settling none of the orders.

    Order by order: track it, then book its own fills. Fill and order-state times come
    from different clocks (IB's execution time, the engine's cycle), so a replay by
    timestamp could book a fill before its order.
    """
    for position in positions:
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
    by_order: dict[str, list[Fill]] = {}
    for fill in fills:
        by_order.setdefault(fill.order_ref, []).append(fill)
    for stored in orders:
        engine.book.track_order(stored.order)
        for fill in by_order.pop(stored.order.order_ref, []):
            engine.book.apply_fill(fill)
    for fill in sorted(by_order.get("expiration", []), key=lambda f: f.time):
        engine.book.apply_fill(fill)  # settlements at expiry, shared out by contract


def settle_with_broker(
    engine: Engine, orders: Iterable[StoredOrder], now: datetime
) -> tuple[list[str], list[str]]:
    """Every replayed order's state from the broker; the store's only where the broker
    has no word. Returns (adopted references, references never sent)."""
    adopted, never_sent = [], []
    for stored in orders:
        order = stored.order
        state = engine.broker.adopt(order)
        if state is None and stored.state.status.is_done:
            # Unknown to the broker today (an order of an earlier day): its stored end
            # stands, and its fills are in the store.
            engine.book.order_done(order.order_ref, stored.state.time)
            continue
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
            state = attrs.evolve(state, time=now)  # on the engine's clock, like every state
            if not stored.state.status.is_done or not state.status.is_done:
                adopted.append(order.order_ref)
            if not state.status.is_done:
                engine.executor.resume(order, state, engine.cycle)
        engine.recorder.order(order, state)  # the broker's word, on the engine's clock
        if state.status.is_done:
            engine.book.order_done(order.order_ref, state.time)
    return adopted, never_sent


def revive(engine: Engine, position_id: str) -> bool:
    """Bring a position the book no longer holds (closed before a restart) back from the
    store, so a fill that arrives for it now (a late commission, an execution IB reports
    late) is booked onto it instead of vanishing. Its finished orders are settled on
    their stored states; a trade fill then reopens it (:meth:`PositionBook.apply_fill`).
    Returns False when the store does not know the position either."""
    if engine.book.knows(position_id):
        return False
    store = engine.recorder.store
    where = [("position_id", "=", position_id)]
    stored = positions_from_frame(store.read("positions", filters=where))
    if not stored:
        return False
    orders = orders_from_frame(store.read("orders", filters=where))
    fills = fills_from_frame(store.read("fills", filters=where))
    replay(engine, stored, orders, [f for f in fills if f.kind != "expiration"])
    for stored_order in orders:
        if stored_order.state.status.is_done:
            engine.book.order_done(stored_order.order.order_ref, stored_order.state.time)
    engine.book.drain_changed()  # its stored rows already say all this
    engine.book.take_reopened()
    engine.broker.mark_booked(fills)
    return True


def close_ended_sim_worlds(engine: Engine, store: DeltaStore, now: datetime) -> list[str]:
    """Close, in the store, every position an earlier *sim* run left live.

    A simulated broker lives and dies with its process, so a sim run that was killed
    leaves positions whose world is gone: nothing holds them any more, nothing can close
    them, and left live they would count as open in every later reading of the store
    (the dashboard, reconciliation). They are stored closed with the exit rule
    ``abandoned`` and the realised P&L of their fills' cash (all that ever happened to
    them); orders still working are stored cancelled. The rows carry the ended run's id:
    they are facts of its world. Positions of paper and live runs
    are never touched: their broker is still there and recovery settles them.
    Returns the ids closed.
    """
    runs = store.read("runs", columns=["run_id", "mode", "event"])
    sim_runs = set(runs.loc[(runs["event"] == "start") & (runs["mode"] == "sim"), "run_id"])
    frame = in_write_order(store.read("positions"))
    latest = frame.drop_duplicates("position_id", keep="last")
    stale = latest[(latest["status"] != "closed") & latest["run_id"].isin(sim_runs)]
    if stale.empty:
        return []
    ids = list(stale["position_id"])
    where = [("position_id", "in", ids)]
    positions = positions_from_frame(stale)
    # Stamped at the last instant each dead world recorded, on its own (simulated) clock.
    owner = dict(zip(stale["position_id"], stale["run_id"], strict=True))
    last_seen = dict(
        zip(stale["position_id"], pd.to_datetime(stale["time"], utc=True), strict=True)
    )
    fills = store.read("fills", columns=["position_id", "cash_flow"], filters=where)
    cash = fills.groupby("position_id")["cash_flow"].sum()
    for stored in orders_from_frame(store.read("orders", filters=where)):
        if not stored.state.status.is_done:
            engine.recorder.order(
                stored.order,
                attrs.evolve(
                    stored.state,
                    status=OrderStatus.CANCELLED,
                    message="the simulated broker ended with its run",
                ),
                run_id=owner[stored.order.position_id],
            )
    for position in positions:
        at = last_seen[position.position_id].to_pydatetime()
        engine.recorder.position(
            attrs.evolve(
                position,
                status=PositionStatus.CLOSED,
                quantity=0,
                closed_at=at,
                exit_rule="abandoned",
                realized_pnl=round(float(cash.get(position.position_id, 0.0)), 2),
            ),
            at,
            run_id=owner[position.position_id],  # a fact of that run's world, not this one's
        )
    engine.recorder.flush_orders()
    engine.alert(
        Severity.WARNING,
        "recovery",
        "sim_positions_abandoned",
        f"{len(ids)} positions left live by earlier sim runs (their simulated broker ended "
        f"with them) stored closed as abandoned: {', '.join(ids[:10])}"
        + (" ..." if len(ids) > 10 else ""),
        now,
    )
    return ids


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
