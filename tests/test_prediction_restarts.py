"""Predictions survive restarts and every way a position closes: a pending prediction is
graded by a later run, an actual a crash lost is rebuilt from the position's durable row, a
prediction is on disk before its order leaves V6, and an unwound legged entry is graded."""

from __future__ import annotations

import subprocess

import attrs
import pytest
from ib_harness import ib_engine, paper_config, run_cycles, running_gateway
from sessions import engine_for, latest, run, sim_config, table
from v6_process import V6

from v6.domain.positions import PositionStatus
from v6.predictions.report import NO_TRUTH
from v6.testing.sessions import sim_engine

pytestmark = pytest.mark.slow


def predictions(cfg):
    return latest(table(cfg, "predictions"), "prediction_id").set_index("position_id")


def positions(cfg):
    return latest(table(cfg, "positions"), "position_id").set_index("position_id")


def test_pending_predictions_are_graded_after_a_paper_restart(tmp_path):
    with running_gateway() as gateway:
        cfg = paper_config(tmp_path / "store", gateway.port)
        engine, clock = ib_engine(cfg)
        run_cycles(engine, clock, gateway, 2)
        opened = sorted(
            p.position_id for p in engine.book.positions() if p.status is PositionStatus.OPEN
        )
        engine.close()
        assert opened
        before = predictions(cfg)
        assert set(before.loc[opened, "status"]) == {"pending"}

        restarted, clock = ib_engine(cfg)
        try:
            assert {restarted.predictions.status(pid) for pid in opened} == {"pending"}
            restarted.flatten(clock.now())
        finally:
            restarted.close()

    after, closed = predictions(cfg), positions(cfg)
    assert set(after.loc[opened, "status"]) == {"closed"}
    assert (after.loc[opened, "prediction_id"] == before.loc[opened, "prediction_id"]).all()
    assert (after.loc[opened, "predicted_at"] == before.loc[opened, "predicted_at"]).all()
    assert (after.loc[opened, "expected_pnl"] == before.loc[opened, "expected_pnl"]).all()
    assert set(after.loc[opened, "exit_rule"]) == {"flatten"}
    assert (after.loc[opened, "realized_pnl"] == closed.loc[opened, "realized_pnl"]).all()
    assert (after.loc[opened, "profitable"] == (closed.loc[opened, "realized_pnl"] > 0)).all()

    # A paper store has no simulator truth, and the report says so.
    result = subprocess.run(
        [V6, "predictions", "report", "--store", cfg.store.path],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert f"{len(opened)} graded" in result.stdout
    assert NO_TRUTH in " ".join(result.stdout.split())


def test_a_prediction_is_on_disk_before_its_order_is_sent(tmp_path):
    cfg = sim_config(tmp_path / "data", days=2)
    sim = sim_engine(cfg)
    try:
        sim.run(6)
        # Read without flushing: only what was committed, as a crash would leave it.
        orders = table(cfg, "orders")
        opening = set(orders.loc[orders["intent"] == "open", "position_id"])
        assert opening
        stored = table(cfg, "predictions")
        assert opening <= set(stored["position_id"])
    finally:
        sim.close()


def test_actuals_a_crash_lost_are_written_from_the_positions_table_at_restart(tmp_path):
    cfg = sim_config(tmp_path / "data", days=3)
    first = sim_engine(cfg)
    closed: list[str] = []
    while not closed and first.run(1):
        closed = [
            p.position_id
            for p in first.engine.book.positions([PositionStatus.CLOSED])
            if p.exit_rule != "unfilled"
        ]
    assert closed
    first.engine.recorder.flush_orders()  # as every order event does: positions are durable
    # What a SIGKILL loses: rows still buffered. The closed positions' actuals were.
    lost = first.engine.recorder.store._buffers.pop("predictions", [])
    assert sum(batch.num_rows for batch in lost) >= len(closed)
    on_disk = predictions(cfg)
    assert set(on_disk.loc[closed, "status"]) == {"pending"}

    second = sim_engine(cfg)  # a restart: catches up before its first cycle
    try:
        after, stored = predictions(cfg), positions(cfg)
        assert set(after.loc[closed, "status"]) == {"closed"}
        assert (after.loc[closed, "realized_pnl"] == stored.loc[closed, "realized_pnl"]).all()
        assert (after.loc[closed, "exit_rule"] == stored.loc[closed, "exit_rule"]).all()
        assert {second.engine.predictions.status(pid) for pid in closed} == {"closed"}
    finally:
        second.close()


def test_a_sim_run_left_open_is_void_at_the_next_run_and_the_new_run_grades_its_own(tmp_path):
    cfg = sim_config(tmp_path / "data", days=2)
    run(cfg, cycles=8)
    left = predictions(cfg)
    left_open = set(left.index[left["status"] == "pending"])
    assert left_open

    run(cfg, cycles=30)
    after = predictions(cfg)
    assert set(after.loc[sorted(left_open), "status"]) == {"void"}
    assert set(after.loc[sorted(left_open), "exit_rule"]) == {"abandoned"}
    new = after.drop(index=sorted(left.index))
    assert not new.empty
    assert set(new["status"]) <= {"pending", "closed", "void"}
    runs = set(table(cfg, "predictions")["run_id"])
    assert len(runs) == 2


def test_an_entry_filled_leg_by_leg_and_unwound_gets_its_actuals(tmp_path):
    cfg = sim_config(tmp_path / "data", days=2, seed=2)  # as tests/test_legging.py
    broker_settings = attrs.evolve(cfg.sim.broker, fill_model="immediate_mid")
    # The path without the futures' lead, as tests/test_legging.py: entries in cycle one.
    futures = attrs.evolve(cfg.sim.futures, lead_cycles=0)
    cfg = attrs.evolve(cfg, sim=attrs.evolve(cfg.sim, broker=broker_settings, futures=futures))
    engine, clock = engine_for(cfg)
    broker = engine.broker
    broker.faults.hold_fills()
    engine.run_cycle(clock.next_cycle())
    for state in broker.open_orders():
        order = engine.book.order(state.order_ref)
        broker.faults.leg_next(
            state.order_ref, [i for i, leg in enumerate(order.legs) if leg.is_short]
        )
    broker.faults.release_fills()
    for _ in range(4):
        engine.run_cycle(clock.next_cycle())
    engine.close()

    stored = positions(cfg)
    unwound = sorted(stored.index[stored["exit_rule"] == "unwind"])
    assert unwound
    after = predictions(cfg)
    assert set(after.loc[unwound, "status"]) == {"closed"}
    assert set(after.loc[unwound, "exit_rule"]) == {"unwind"}
    assert (after.loc[unwound, "realized_pnl"] == stored.loc[unwound, "realized_pnl"]).all()
