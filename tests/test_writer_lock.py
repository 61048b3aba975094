"""One writer per store: a second ``v6 run`` is refused in one line, readers are not.

Two sessions on one store used to kill each other (one's zero-retention vacuum removed
files the other was committing against). The lock is the kernel's (flock), so a writer
killed with SIGKILL leaves the store usable at once, and its run is marked crashed.
"""

from __future__ import annotations

import os
import re
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sessions import run, sim_config
from v6_process import (
    cycles_in,
    runs,
    slow_config,
    start_run,
    stop_record,
    stored_cycles,
    v6,
)

from v6.cli import main
from v6.store.delta_store import DeltaStore
from v6.store.writer_lock import StoreInUseError, WriterLock, current_writer

REFUSAL = re.compile(
    r"^v6: store (?P<store>\S+) is in use by another V6 session "
    r"\(pid (?P<pid>\d+), run (?P<run>\w+) since \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\); .+$"
)


def test_a_second_writer_is_refused_naming_the_first_until_it_releases(tmp_path):
    store = tmp_path / "data"
    with WriterLock(store, "first-run"):
        assert current_writer(store).run_id == "first-run"
        with pytest.raises(StoreInUseError) as refused:
            WriterLock(store, "second-run").acquire()
        assert refused.value.exit_status == 5
        assert f"(pid {os.getpid()}, run first-run since " in str(refused.value)
    with WriterLock(store, "second-run") as second:
        assert second.held
        assert current_writer(store).run_id == "second-run"
    assert current_writer(store) is None


def test_v6_run_on_a_store_in_use_exits_4_in_one_line_and_writes_nothing(tmp_path, capsys):
    store = tmp_path / "data"
    with WriterLock(store, "holder"):
        status = main(["run", "--store", str(store), "--cycles", "1"])
    assert status == 5
    captured = capsys.readouterr()
    assert captured.out == ""
    match = REFUSAL.match(captured.err.rstrip("\n"))
    assert match and "\n" not in captured.err.rstrip("\n"), captured.err
    assert (match["store"], match["pid"], match["run"]) == (str(store), str(os.getpid()), "holder")
    assert not DeltaStore(store).exists("runs")


@pytest.mark.slow
def test_while_an_engine_runs_a_second_is_refused_and_readers_and_reset_still_work(tmp_path):
    store = tmp_path / "data"
    config = slow_config(tmp_path, "store:\n  flush_every_cycles: 1\n")
    first = start_run(store, "--config", config, "--cycles", "100")
    first.wait_for_cycles(2)

    second = v6("run", "--store", str(store), "--cycles", "3", cwd=tmp_path)
    assert second.returncode == 5, second.stderr
    assert second.stdout == ""
    match = REFUSAL.match(second.stderr.rstrip("\n"))
    assert match and int(match["pid"]) == first.pid, second.stderr

    status = v6("breaker", "status", "--store", str(store), cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    assert "daily_loss" in status.stdout
    reset = v6("breaker", "reset", "daily_loss", "--store", str(store), cwd=tmp_path)
    assert reset.returncode == 0, reset.stderr
    deadline = time.monotonic() + 30
    while DeltaStore(store).read("decisions", columns=["position_id"]).empty:
        assert time.monotonic() < deadline, "no decision stored"
        time.sleep(0.1)
    position = DeltaStore(store).read("decisions", columns=["position_id"])["position_id"][0]
    explained = v6("explain", position, "--store", str(store), cwd=tmp_path)
    assert explained.returncode == 0, explained.stderr
    assert f"position {position}" in explained.stdout

    first.send_signal(signal.SIGTERM)
    _out, err = first.finish()
    assert first.returncode == 0, err
    assert "Traceback" not in err
    cycles = cycles_in(stop_record(store))  # the refused run wrote no start record
    assert stored_cycles(store) == list(range(1, cycles + 1))
    requests = DeltaStore(store).read("breaker_events")
    assert "reset_request" in set(requests["event"])


@pytest.mark.slow
def test_a_killed_writer_leaves_the_store_usable_at_once_and_its_run_marked_crashed(tmp_path):
    store = tmp_path / "data"
    killed = start_run(store, "--config", slow_config(tmp_path), "--cycles", "100")
    killed.wait_for_cycles(2)
    killed.send_signal(signal.SIGKILL)
    killed.finish()
    assert killed.returncode == -signal.SIGKILL
    killed_run = runs(store)["run_id"].iloc[0]

    run(sim_config(store), cycles=2)  # no wait, no clean-up by hand

    frame = runs(store)
    by_run = frame.groupby("run_id", sort=False)["event"].apply(list).to_dict()
    assert by_run.pop(killed_run) == ["start", "crashed"]
    assert list(by_run.values()) == [["start", "stop"]]
    crashed = frame[frame["event"] == "crashed"].iloc[0]
    (new_run,) = by_run
    assert crashed["message"].startswith(f"found unfinished by run {new_run}: started ")
    assert "never wrote a stop record" in crashed["message"]
    assert crashed["mode"] == "sim"


def test_an_unfinished_run_is_marked_crashed_once_and_finished_runs_never(tmp_path):
    cfg = sim_config(tmp_path / "data")
    store = DeltaStore(cfg.store.path)
    started = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
    store.append(
        "runs",
        [
            {
                "time": started,
                "run_id": "lost",
                "mode": "sim",
                "config": "mode: sim\n",
                "seed": 11,
                "event": "start",
                "message": "",
            }
        ],
    )
    store.flush()
    run(cfg, cycles=1)
    run(cfg, cycles=1)
    frame = runs(Path(cfg.store.path))
    crashed = frame[frame["event"] == "crashed"]
    assert list(crashed["run_id"]) == ["lost"]
    assert crashed["seed"].iloc[0] == 11
    assert crashed["config"].iloc[0] == "mode: sim\n"
    assert "started 2026-01-05 14:30:00Z" in crashed["message"].iloc[0]
    assert list(frame["event"]).count("stop") == 2
