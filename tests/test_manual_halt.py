"""The dashboard's "halt entries" switch: a row in ``manual_commands`` trips the
``manual_halt`` breaker at the engine's next cycle; it resets like any breaker.

The engine only reads ``manual_commands`` (the dashboard owns it), and a command written
while no engine ran is obeyed by the next one that starts, exactly once.
"""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta

import pytest
from sessions import engine_for, sim_config
from v6_process import slow_config, start_run

from v6.cli import main
from v6.config import BreakerSettings
from v6.risk.breaker_log import request_reset
from v6.risk.circuit_breakers import CircuitBreakers
from v6.risk.manual_halt import HALT, RESUME, CommandError, issue, stored_commands
from v6.store.delta_store import DeltaStore

MONDAY = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)


def test_halt_trips_manual_halt_even_with_breakers_disabled_and_only_a_reset_clears_it():
    board = CircuitBreakers(BreakerSettings(enabled=False))
    event = board.halt(MONDAY, "halted from the dashboard [command 0123456789ab]")
    assert (event.breaker, event.event, event.source) == ("manual_halt", "trip", "manual")
    assert board.tripped() == ["manual_halt"] and not board.entries_allowed
    assert board.halt(MONDAY, "again") is None  # already halted: no second trip event
    assert board.reset("manual_halt", MONDAY + timedelta(minutes=15)).event == "reset"
    assert board.entries_allowed


def test_an_unknown_command_is_refused_and_nothing_is_written(tmp_path):
    store = DeltaStore(tmp_path / "store")
    with pytest.raises(CommandError, match="halt_entries, resume_entries"):
        issue(store, "flatten_everything", MONDAY)
    assert not store.exists("manual_commands")


def test_halt_stops_entries_at_the_next_cycle_and_resume_or_breaker_reset_restarts_them(
    tmp_path,
):
    cfg = sim_config(tmp_path / "store", days=2)
    engine, clock = engine_for(cfg)
    store = DeltaStore(cfg.store.path)
    times = [clock.next_cycle() for _ in range(6)]
    engine.run_cycle(times[0])
    opened = len(engine.book.positions())
    assert opened > 0

    issue(store, HALT, datetime.now(UTC), reason="FOMC at 2pm", user="trader")
    report = engine.run_cycle(times[1])
    assert report.breakers_tripped == ("manual_halt",)
    assert len(engine.book.positions()) == opened  # nothing new while halted
    engine.run_cycle(times[2])
    assert len(engine.book.positions()) == opened

    issue(store, RESUME, datetime.now(UTC), user="trader")
    engine.run_cycle(times[3])
    assert engine.breakers.tripped() == []
    assert len(engine.book.positions()) > opened  # entries resumed

    issue(store, HALT, datetime.now(UTC))
    engine.run_cycle(times[4])
    assert engine.breakers.tripped() == ["manual_halt"]
    assert main(["breaker", "reset", "manual_halt", "--store", str(cfg.store.path)]) == 0
    engine.run_cycle(times[5])
    assert engine.breakers.tripped() == []
    engine.close()

    events = store.read("breaker_events")
    halt = events[events["breaker"] == "manual_halt"].sort_values("time", kind="stable")
    # (The CLI's request carries wall-clock time, the engine's rows simulated time.)
    engine_rows = halt[halt["run_id"] == "test-run"]
    assert list(zip(engine_rows["event"], engine_rows["source"], strict=True)) == [
        ("trip", "manual"),
        ("reset", "manual"),
        ("trip", "manual"),
        ("reset", "manual"),
    ]
    assert list(halt.loc[halt["run_id"] == "cli", "event"]) == ["reset_request"]
    assert "by trader: FOMC at 2pm" in halt["reason"].iloc[0]
    entries = store.read("entries")
    halted = entries[entries["time"].isin([times[1], times[2]])]
    assert not halted.empty
    assert set(halted["outcome"]) == {"rejected"}
    assert halted["reason"].str.contains("manual_halt").all()


def test_a_halt_written_while_no_engine_ran_is_obeyed_once_by_the_next_one(tmp_path):
    cfg = sim_config(tmp_path / "store", days=2)
    store = DeltaStore(cfg.store.path)
    issue(store, HALT, datetime.now(UTC), reason="weekend maintenance")
    engine, clock = engine_for(cfg)
    engine.run_cycle(clock.next_cycle())
    assert engine.breakers.tripped() == ["manual_halt"]
    assert engine.book.positions() == []
    engine.close()

    # Applied once: a later engine (a new sim run) does not apply the same command again.
    engine, clock = engine_for(cfg)
    engine.run_cycle(clock.next_cycle())
    assert engine.breakers.tripped() == []
    engine.close()
    assert [c.command for c in stored_commands(store)] == [HALT]


def _status_lines(run) -> list[str]:
    return [line for line in run.out if " cycle " in line]


def test_a_running_v6_run_process_obeys_the_halt_at_its_next_cycle_and_resumes_after_reset(
    tmp_path,
):
    store_path = tmp_path / "store"
    config = slow_config(tmp_path)  # 0.1 s cycles
    run = start_run(store_path, "--config", config, "--cycles", "200")
    try:
        run.wait_for_cycles(3)
        store = DeltaStore(store_path)
        before = len(_status_lines(run))
        issue(store, HALT, datetime.now(UTC), reason="test", user="dashboard-test")
        run.wait_until(
            lambda: any("BREAKER manual_halt" in line for line in _status_lines(run)),
            "tripped manual_halt",
        )
        lines = _status_lines(run)
        first = next(i for i, line in enumerate(lines) if "BREAKER manual_halt" in line)
        # The cycle running while the row was written may have passed its breaker phase:
        # the one after it obeys.
        assert first <= before + 1
        run.wait_for_cycles(first + 5)
        # What `v6 breaker reset manual_halt` writes (its CLI is tested above, in-process).
        request_reset(store, "manual_halt", datetime.now(UTC), "reset by hand (test)")
        cut = len(_status_lines(run))
        run.wait_until(
            lambda: any("BREAKER" not in line for line in _status_lines(run)[cut:]),
            "reset manual_halt",
        )
        run.wait_for_cycles(len(_status_lines(run)) + 8)
    finally:
        run.send_signal(signal.SIGTERM)
        run.finish()
    assert run.returncode == 0

    events = store.read("breaker_events")
    halt = events[events["breaker"] == "manual_halt"].sort_values("time", kind="stable")
    trip = halt[halt["event"] == "trip"]["time"].iloc[0]
    reset = halt[halt["event"] == "reset"]["time"].iloc[0]
    assert reset > trip
    orders = store.read("orders", columns=["time", "intent", "order_ref"])
    opened = orders[orders["intent"] == "open"].groupby("order_ref")["time"].min()
    assert not ((opened >= trip) & (opened < reset)).any(), "an entry was sent while halted"
    fills = store.read("fills", columns=["time", "order_ref"])
    entry_fills = fills[fills["order_ref"].str.endswith(":open")]
    filled = entry_fills[(entry_fills["time"] > trip) & (entry_fills["time"] < reset)]
    assert filled.empty, f"an entry filled while halted: {sorted(set(filled['order_ref']))}"
    entries = store.read("entries", columns=["time", "outcome", "reason"])
    halted = entries[(entries["time"] >= trip) & (entries["time"] < reset)]
    assert not halted.empty and halted["reason"].str.contains("manual_halt").all()
    after = entries[entries["time"] >= reset]
    assert (after["outcome"] == "accepted").any(), "entries never resumed after the reset"


def test_a_halt_while_halted_and_a_resume_while_not_are_applied_as_no_ops(tmp_path, capsys):
    """Pressing "halt" twice (or "resume" when running) changes nothing, but the engine
    answers the command: the dashboard shows it applied, a restart does not re-deliver it."""
    from dash_app.data import StoreReader
    from dash_app.views import halt_state
    from v6.risk.manual_halt import applied_ids

    cfg = sim_config(tmp_path / "store", days=2)
    engine, clock = engine_for(cfg)
    store = DeltaStore(cfg.store.path)
    resume = issue(store, RESUME, datetime.now(UTC), user="trader")  # not halted
    engine.run_cycle(clock.next_cycle())
    first = issue(store, HALT, datetime.now(UTC), user="trader")
    engine.run_cycle(clock.next_cycle())
    second = issue(store, HALT, datetime.now(UTC), user="trader")  # already halted
    engine.run_cycle(clock.next_cycle())
    assert engine.breakers.tripped() == ["manual_halt"]
    engine.close()

    assert {resume, first, second} <= applied_ids(store)
    events = store.read("breaker_events")
    rows = events[events["breaker"] == "manual_halt"].sort_values("time", kind="stable")
    assert list(rows["event"]) == ["not_tripped", "trip", "already_tripped"]
    assert halt_state(StoreReader(cfg.store.path), "test-run")["pending"] is None
    alerts = store.read("alerts")
    assert alerts["message"].str.contains("unchanged, already halted").any()

    # `v6 breaker status` reads the no-op events as what they are: still halted.
    capsys.readouterr()
    assert main(["breaker", "status", "--store", str(cfg.store.path)]) == 0
    status = next(line for line in capsys.readouterr().out.splitlines() if "manual_halt" in line)
    assert "TRIPPED" in status

    # A restarted engine finds the latest command applied: nothing delivered again.
    engine, clock = engine_for(cfg)
    engine.run_cycle(clock.next_cycle())
    engine.close()
    again = store.read("breaker_events")
    assert len(again[again["breaker"] == "manual_halt"]) == 3


def test_an_entry_already_working_when_halted_is_cancelled_at_the_next_cycle_and_never_fills(
    tmp_path,
):
    """Skipping the entries phase is not enough: an entry resting at the broker would be
    improved to natural and fill under the halt. It is cancelled instead, never repriced."""
    import attrs

    cfg = sim_config(tmp_path / "store", days=2)
    # A market so illiquid that a limit short of natural (practically) never fills; one
    # step reaches natural, which always does: without the cancel, the halted engine's
    # next reprice would fill it.
    broker = attrs.evolve(
        cfg.sim.broker,
        fill_model="liquidity",
        fill_probability_at_mid=0.0,
        liquidity_reference_vix=5.0,
        liquidity_vix_elasticity=10.0,
    )
    execution = attrs.evolve(cfg.execution, price_step=10.0, order_timeout_cycles=5)
    cfg = attrs.evolve(cfg, sim=attrs.evolve(cfg.sim, broker=broker), execution=execution)
    engine, clock = engine_for(cfg)
    store = DeltaStore(cfg.store.path)
    engine.run_cycle(clock.next_cycle())
    resting = [w.order.order_ref for w in engine.executor.working]
    assert resting, "no entry was left working at mid"

    issue(store, HALT, datetime.now(UTC), user="trader")
    halted_at = clock.next_cycle()
    engine.run_cycle(halted_at)
    assert engine.executor.working == []
    for _ in range(2):
        engine.run_cycle(clock.next_cycle())
    engine.close()

    fills = store.read("fills")
    entry_fills = fills[fills["order_ref"].isin(resting)] if not fills.empty else fills
    assert entry_fills.empty, "an entry filled while entries were halted"
    orders = store.read("orders")
    mine = orders[orders["order_ref"].isin(resting)]
    last = mine.sort_values("time", kind="stable").groupby("order_ref").tail(1)
    assert set(last["status"]) == {"cancelled"}
    assert (last["time"] == halted_at).all()
    assert sorted(mine["limit_price"].groupby(mine["order_ref"]).nunique().unique()) == [1]
    alerts = store.read("alerts")
    cancelled = alerts[alerts["code"] == "entry_cancelled"]
    assert len(cancelled) == len({r.split(":")[0] for r in resting})
    assert cancelled["message"].str.contains("blocked by manual_halt").all()


def test_in_paper_a_halt_cancels_a_working_legged_entry_at_ib_and_leaves_nothing_legged(
    tmp_path,
):
    """The same through the IB adapter against the fake gateway: an entry with only its
    short legs executed is still working when the halt arrives. It is cancelled at IB at
    that cycle (not repriced, not left to time out) and the legged shorts are unwound."""
    import attrs
    from ib_harness import (
        assert_sound,
        broker_option_positions,
        ib_engine,
        naked_shorts,
        paper_config,
        run_cycles,
        running_gateway,
    )

    with running_gateway() as gateway:
        cfg = paper_config(tmp_path / "store", gateway.port)
        execution = attrs.evolve(cfg.execution, order_timeout_cycles=6)
        cfg = attrs.evolve(cfg, underlyings=["SPY"], execution=execution)
        engine, clock = ib_engine(cfg)
        try:
            gateway.fill_next("legs", indices=[0, 2])  # the shorts execute, wings never
            run_cycles(engine, clock, gateway, 1)
            bag = next(o for o in gateway.orders.values() if o.order_ref.endswith(":open"))
            assert bag.status == "Submitted" and naked_shorts(broker_option_positions(gateway))
            limit = bag.limit_price

            issue(DeltaStore(cfg.store.path), HALT, datetime.now(UTC), user="trader")
            run_cycles(engine, clock, gateway, 2)
            assert bag.status == "Cancelled"
            assert bag.limit_price == limit  # never improved toward natural under the halt
            assert naked_shorts(broker_option_positions(gateway)) == []
            entries = [o for o in gateway.orders.values() if o.order_ref.endswith(":open")]
            assert entries == [bag]
            alerts = engine.recorder.store.read("alerts")
            assert "entry_cancelled" in set(alerts["code"])
            assert "legged_position" in set(alerts["code"])
            assert_sound(cfg, engine, gateway)
        finally:
            engine.close()
