"""Ctrl-C, SIGTERM (``systemctl stop``) and SIGHUP end a session in order, whenever they come.

Every finished cycle's rows are stored, the stop record is written and the exit status is
0, whether one signal arrives, two, or a stream of them while the tables are flushed.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import attrs
import pytest
from kill_harness import table_name
from sessions import run, sim_config
from v6_process import V6Run, cycles_in, start_run, stop_record, stored_cycles

import v6.store.delta_store as delta_store
from v6.store.delta_store import DeltaStore

pytestmark = pytest.mark.slow


def _finish(proc: V6Run) -> tuple[str, str]:
    out, err = proc.finish()
    assert proc.returncode == 0, err
    assert "Traceback" not in err, err
    assert "Exception ignored" not in err, err
    return out, err


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_finishes_the_cycle_flushes_and_exits_0(tmp_path, signum):
    store = tmp_path / "data"
    proc = start_run(store, "--seed", "5")
    proc.wait_for_cycles(3)  # the engine is really cycling
    proc.send_signal(signum)
    _out, err = _finish(proc)
    name = signal.Signals(signum).name
    assert f"{name}: stopping after this cycle" in err
    stop = stop_record(store)
    assert f"stopped by {name}" in stop["message"]
    cycles = cycles_in(stop)
    assert 3 <= cycles < 5 * 26, "stopped early"
    # Up to flush_every_cycles - 1 finished cycles were only buffered: none is lost.
    assert stored_cycles(store) == list(range(1, cycles + 1))
    assert proc.cycles_printed() == cycles


def _signal_until_exit(proc: V6Run, signum: int, gap: float) -> None:
    while proc.proc.poll() is None:
        try:
            proc.send_signal(signum)
        except ProcessLookupError:
            return
        time.sleep(gap)


@pytest.mark.parametrize(
    ("signum", "storm"),
    [(signal.SIGINT, False), (signal.SIGINT, True), (signal.SIGTERM, True)],
    ids=["double-ctrl-c", "ctrl-c-storm", "sigterm-storm"],
)
def test_more_signals_while_stopping_never_lose_a_finished_cycle(tmp_path, signum, storm):
    """The second signal may abort the cycle in progress; the close is never interrupted."""
    store = tmp_path / "data"
    proc = start_run(store, "--seed", "6")
    proc.wait_for_cycles(3)
    if storm:  # one every 5 ms until the process is gone: some land in the final flush
        _signal_until_exit(proc, signum, 0.005)
        _finish(proc)
    else:
        # Signals sent back to back reach the handler as one: send the second only once
        # the first was acknowledged.
        proc.send_signal(signum)
        proc.wait_for_stderr("stopping after this cycle")
        proc.send_signal(signum)
        _finish(proc)
    stop = stop_record(store)
    cycles = cycles_in(stop)
    stored = stored_cycles(store)
    # Every finished cycle, once; an aborted cycle may add the rows it had made so far.
    assert stored == list(range(1, len(stored) + 1))
    assert cycles <= len(stored) <= cycles + 1
    assert cycles >= 3


class StraySignal(Exception):
    """A stop signal that reached the test's own handler: run_session did not handle it."""


@pytest.fixture
def stray_signals_fail_the_test():
    """In-process signals that escape run_session fail the test instead of killing pytest."""

    def stray(signum: int, _frame: object) -> None:
        raise StraySignal(signal.Signals(signum).name)

    previous = {s: signal.signal(s, stray) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def _flushing_every_2_cycles(tmp_path: Path):
    cfg = sim_config(tmp_path / "data")
    return attrs.evolve(cfg, store=attrs.evolve(cfg.store, flush_every_cycles=2))


def test_ctrl_c_during_the_final_flush_is_acknowledged_and_the_flush_completes(
    tmp_path, monkeypatch, capsys, stray_signals_fail_the_test
):
    cfg = _flushing_every_2_cycles(tmp_path)
    real_flush = DeltaStore.flush
    full_flushes = []

    def flush(self, tables=None):
        if tables is None:  # cycle 2's interval flush, then the final flush at shutdown
            full_flushes.append(1)
            os.kill(os.getpid(), signal.SIGINT)  # the first asks for a stop
            if len(full_flushes) == 2:  # during the final flush: Ctrl-C again, and again
                os.kill(os.getpid(), signal.SIGINT)
                os.kill(os.getpid(), signal.SIGTERM)
        return real_flush(self, tables)

    monkeypatch.setattr(DeltaStore, "flush", flush)
    run(cfg, cycles=10)
    assert len(full_flushes) == 2
    assert "already stopping" in capsys.readouterr().err
    stop = stop_record(Path(cfg.store.path))
    assert stop["message"] == "2 cycles; stopped by SIGINT"
    assert stored_cycles(Path(cfg.store.path)) == [1, 2]


def test_an_abort_during_a_commit_waits_for_it_so_no_row_is_written_twice(
    tmp_path, monkeypatch, stray_signals_fail_the_test
):
    """A second signal right after a Delta commit, before the store drops the rows it wrote.

    Raised there, the abort would leave the committed rows buffered and the final flush
    would write them again.
    """
    cfg = _flushing_every_2_cycles(tmp_path)
    real_write = delta_store.write_deltalake

    def write_deltalake(table, data, **kwargs):
        real_write(table, data, **kwargs)
        if table_name(table) == "account_snapshots":  # cycle 2's interval flush
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(delta_store, "write_deltalake", write_deltalake)
    run(cfg, cycles=10)
    stop = stop_record(Path(cfg.store.path))
    assert stop["message"] == (
        "1 cycles; stopped by SIGINT, the cycle in progress aborted by a second SIGINT"
    )
    assert stored_cycles(Path(cfg.store.path)) == [1, 2]  # cycle 2 ended in the abort


def test_a_paper_session_stopped_by_a_stream_of_sigterms_disconnects_and_exits_0(tmp_path):
    """The same in paper mode, where a cycle waits on IB (the real ib_async client)."""
    from ib_harness import paper_config, running_gateway, write_config

    with running_gateway() as gateway:
        store = tmp_path / "store"
        config = write_config(paper_config(store, gateway.port), tmp_path / "paper.yaml")
        proc = start_run(store, "--config", str(config), "--cycles", "50")
        proc.wait_for_cycles(2)
        time.sleep(0.6)  # cycles are 1 s apart: usually lands inside cycle 3
        _signal_until_exit(proc, signal.SIGTERM, 0.01)
        _out, err = _finish(proc)
        assert "disconnected from IB" in err
    stop = stop_record(store)
    assert "stopped by SIGTERM" in stop["message"]
    stored = stored_cycles(store)
    assert stored == list(range(1, len(stored) + 1))
    assert 2 <= cycles_in(stop) <= len(stored) <= cycles_in(stop) + 1


def test_sigterm_ends_a_slow_demo_s_wait_between_cycles_at_once(tmp_path):
    # sim.speed 9 puts 100 s of wall time between 15-minute cycles; a stop must not wait
    # them out (the finish timeout is a hang guard far below the 100 s).
    config = tmp_path / "demo.yaml"
    config.write_text("sim:\n  speed: 9\n")
    store = tmp_path / "data"
    proc = start_run(store, "--config", str(config), "--seed", "5")
    proc.wait_for_cycles(1)
    proc.send_signal(signal.SIGTERM)
    proc.finish(timeout=30)
    assert proc.returncode == 0
    assert cycles_in(stop_record(store)) == 1
