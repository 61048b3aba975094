"""V6 killed (SIGKILL, a real process) between sending orders and hearing back, then
restarted: it finds its orders at the broker by reference, never sends one twice, books
the fills that happened while it was down, and leaves no naked short."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from ib_harness import (
    advance,
    broker_option_positions,
    naked_shorts,
    paper_config,
    placed_refs,
    running_gateway,
    write_config,
)

from v6.store.delta_store import DeltaStore
from v6.store.rows import orders_from_frame, positions_from_frame

pytestmark = pytest.mark.slow


def v6_run(config: Path, cycles: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "v6.cli", "run", "--config", str(config), "--cycles", str(cycles)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def held_orders(gateway) -> list:
    return [o for o in gateway.orders.values() if o.status in ("Submitted", "PreSubmitted")]


@pytest.mark.parametrize("fills_while_down", [True, False])
def test_v6_killed_mid_order_restarts_without_resending_and_settles_every_order(
    tmp_path, fills_while_down
):
    with running_gateway() as gateway:
        for _ in range(3):
            gateway.fill_next("hold")
        store = tmp_path / "store"
        config = write_config(paper_config(store, gateway.port), tmp_path / "paper.yaml")

        first = v6_run(config, cycles=50)
        try:
            wait_for(lambda: len(held_orders(gateway)) == 3)
        finally:
            os.kill(first.pid, signal.SIGKILL)
            first.wait(timeout=10)
        assert first.returncode == -signal.SIGKILL
        sent = placed_refs(gateway)
        # Written before sending: the store knew every reference when V6 died.
        stored = {o.order.order_ref for o in orders_from_frame(DeltaStore(store).read("orders"))}
        assert set(sent) <= stored

        if fills_while_down:
            for order in held_orders(gateway):
                gateway.release(order.order_id)

        advance(gateway)  # the restart happens a while later
        second = v6_run(config, cycles=4)
        _, err = second.communicate(timeout=120)
        assert second.returncode == 0, err

        # Never sent twice: every reference reached the gateway once, and the orders of
        # the killed run were adopted, not sent again.
        refs = placed_refs(gateway)
        assert [r for r, n in Counter(refs).items() if n > 1] == []
        assert refs[: len(sent)] == sent
        old = [o for o in gateway.orders.values() if o.order_ref in sent]

        tables = DeltaStore(store)
        executions = {e.exec_id for o in gateway.orders.values() for e in o.leg_executions}
        fills = tables.read("fills")
        assert set(fills.exec_id) == executions and fills.exec_id.is_unique
        assert naked_shorts(broker_option_positions(gateway)) == []
        alerts = tables.read("alerts")
        assert "restart_recovered" in set(alerts.code)

        latest = {p.position_id: p for p in positions_from_frame(tables.read("positions"))}
        killed = {ref.split(":")[0] for ref in sent}
        if fills_while_down:
            assert len(executions) == 12  # three condors, four legs each, booked once
            assert {latest[pid].status.value for pid in killed} == {"open"}
            assert len(refs) == len(sent)  # holding them, the strategy opened nothing more
        else:
            # Adopted, worked to the timeout, cancelled: nothing of them filled or is left;
            # the strategy may then open fresh positions under new references.
            assert all(o.status == "Cancelled" and not o.leg_executions for o in old)
            assert {latest[pid].status.value for pid in killed} == {"closed"}
        held = {k: v for k, v in broker_option_positions(gateway).items() if v}
        book = {}
        for position in latest.values():
            if position.status.value != "closed":
                for leg in position.legs:
                    book[leg.contract.key] = (
                        book.get(leg.contract.key, 0) + leg.ratio * position.quantity
                    )
        assert book == held


def test_an_order_stored_but_never_sent_is_recorded_cancelled_and_not_resent(tmp_path):
    """Killed after the write-ahead row but before the order left: on restart the broker
    has never heard of the reference, so it is closed out and never sent."""
    from datetime import UTC, datetime

    from ib_harness import ib_engine

    from v6.domain.contracts import Leg, OptionContract
    from v6.domain.orders import ComboOrder, OrderState

    with running_gateway() as gateway:
        cfg = paper_config(tmp_path / "store", gateway.port)
        engine, _ = ib_engine(cfg)
        now = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
        legs = (
            Leg(OptionContract("SPY", datetime(2026, 2, 6).date(), 560.0, "P"), -1),
            Leg(OptionContract("SPY", datetime(2026, 2, 6).date(), 555.0, "P"), 1),
        )
        order = ComboOrder(
            order_ref="bull_put_spread-SPY-20260105T1500-0009:open",
            position_id="bull_put_spread-SPY-20260105T1500-0009",
            strategy="bull_put_spread",
            underlying="SPY",
            intent="open",
            legs=legs,
            quantity=1,
            limit_price=-1.0,
            created_at=now,
        )
        engine.book.open_position(
            order.position_id, order.strategy, "SPY", "bull_put_spread", legs, now
        )
        engine.book.track_order(order)
        engine.recorder.order(order, OrderState(order.order_ref, "pending", 0, 1, None, now))
        engine.recorder.position(engine.book.position(order.position_id), now)
        engine.recorder.flush_orders()
        engine.close()  # the process dies here: the order never left

        restarted, _ = ib_engine(cfg)
        restarted.close()
        assert order.order_ref not in placed_refs(gateway)
        stored = {
            o.order.order_ref: o.state
            for o in orders_from_frame(DeltaStore(tmp_path / "store").read("orders"))
        }
        assert stored[order.order_ref].status.value == "cancelled"
        assert "never sent" in stored[order.order_ref].message
        latest = {
            p.position_id: p
            for p in positions_from_frame(DeltaStore(tmp_path / "store").read("positions"))
        }
        assert latest[order.position_id].status.value == "closed"


def test_positions_filled_in_the_cycle_they_were_sent_come_back_open_after_a_restart(
    tmp_path,
):
    from ib_harness import ib_engine, run_cycles

    with running_gateway() as gateway:
        cfg = paper_config(tmp_path / "store", gateway.port)
        engine, clock = ib_engine(cfg)
        run_cycles(engine, clock, gateway, 2)
        before = {p.position_id: (p.status, p.quantity) for p in engine.book.positions()}
        engine.close()
        assert {s.value for s, _ in before.values()} == {"open"}

        restarted, _ = ib_engine(cfg)
        try:
            after = {p.position_id: (p.status, p.quantity) for p in restarted.book.positions()}
            assert after == before
            assert {k: v for k, v in restarted.book.net_contracts().items() if v} == (
                broker_option_positions(gateway)
            )
            assert sorted(restarted.registry.occupied().values()) == sorted(before)
        finally:
            restarted.close()


def test_ids_continue_after_every_counter_in_the_store_closes_included():
    from v6.engine.recovery import last_counter

    ids = [
        "iron_condor-SPY-20260105T1500-0001",
        "iron_condor-SPY-20260105T1500-0001:open",
        "iron_condor-SPY-20260105T1500-0001:close:0007",
        "bull_put_spread-QQQ-20260105T1515-0004:unwind:0005",
    ]
    assert last_counter(ids) == 7  # not the date or time, not only the position's number
    assert last_counter([]) == 0
