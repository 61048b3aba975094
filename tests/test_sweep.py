"""`v6 sweep`: backtests over a grid on real Dask workers, results in Delta, resumable.

The data: 15 trading days of generated SPY chains (a -8% shock on day 9), imported into
a real store. The sweeps run as real ``v6`` processes, against a real
``distributed.LocalCluster`` (2 worker processes on 127.0.0.1) through ``--scheduler``,
or on the LocalCluster the command starts itself.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import signal
import struct
import subprocess
import termios
import time
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from tests.v6_process import V6, v6
from v6.backtest.runner import run_backtest
from v6.cli import check_plugins
from v6.config_loader import load_config
from v6.data_import.importer import import_files
from v6.store.delta_store import DeltaStore
from v6.sweep.grid import combination_config, combination_id
from v6.testing.vendor_files import market_quotes, weekdays, write_cboe

START, END = "2016-01-01", "2016-01-31"
CONFIG = "underlyings: [SPY]\n"
GRID = (
    "plugins.exit_rules.stop_loss.settings.loss_multiple: [1.0, 2.0]\n"
    "limits.max_loss_per_trade: [500, 1500]\n"
    "plugins.strategies.bull_put_spread.settings.wing_width: [2.0, 5.0]\n"
)
# QQQ is a valid underlying (the sim defaults list it) but the data holds none: each of
# those 8 combinations fails in the backtest, and the sweep goes on.
FAILING = "underlyings: [[SPY], [QQQ]]\n"
METRICS = ["trades", "total_pnl", "cagr", "max_drawdown", "sharpe", "sortino", "win_rate"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    days = weekdays(date(2016, 1, 4), 15)
    quotes = market_quotes("SPY", days, spot=200.0, shock_day=9, expiries=3, strikes_per_side=8)
    import_files([write_cboe(root / "spy.csv", quotes)], "cboe", root / "data", load_config(None))
    (root / "config.yaml").write_text(CONFIG)
    (root / "grid.yaml").write_text(GRID)
    (root / "failing.yaml").write_text(FAILING + GRID)
    return root


@pytest.fixture(scope="module")
def scheduler():
    import dask
    from distributed import LocalCluster

    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 1}),
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            scheduler_kwargs={"dashboard": False},
        ) as cluster,
    ):
        yield cluster.scheduler_address


def sweep_args(root: Path, out: str, grid: str = "grid.yaml", *extra: str) -> list[str]:
    return [
        "sweep",
        "--config",
        str(root / "config.yaml"),
        "--grid",
        str(root / grid),
        "--data",
        str(root / "data"),
        "--from",
        START,
        "--to",
        END,
        "--out",
        str(root / out),
        *extra,
    ]


def results(out: Path) -> pd.DataFrame:
    return DeltaStore(out / "store").read("sweep_results")


@pytest.fixture(scope="module")
def full_sweep(data, scheduler):
    done = v6(
        *sweep_args(data, "full", "failing.yaml", "--scheduler", scheduler, "--json"), cwd=data
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), results(data / "full")


def test_a_sweep_on_a_dask_cluster_ranks_every_combination_and_records_failures(full_sweep):
    entries, rows = full_sweep
    assert len(rows) == 16 and rows["combination_id"].nunique() == 16
    assert rows["run_id"].nunique() == 1 and set(rows["period"]) == {"full"}
    ok, failed = rows[rows["status"] == "ok"], rows[rows["status"] == "failed"]
    assert len(ok) == 8 and len(failed) == 8
    assert all(json.loads(s)["underlyings"] == ["QQQ"] for s in failed["settings"])
    assert failed["error"].str.contains("ReplayDataError").all()
    assert failed["error"].str.contains("QQQ").all()
    assert failed[METRICS].isna().all().all()
    assert (ok["error"] == "").all() and ok["trades"].gt(0).all()
    for _, row in rows.iterrows():  # the id is the digest of the row's settings
        assert row["combination_id"] == combination_id(json.loads(row["settings"]))
    # Ranked by Sharpe, ties by total P&L; failed combinations last.
    assert [e["rank"] for e in entries] == list(range(1, 17))
    statuses = [e["status"] for e in entries]
    assert statuses == ["ok"] * 8 + ["failed"] * 8
    keys = [(e["sharpe"], e["total_pnl"]) for e in entries[:8]]
    assert keys == sorted(keys, reverse=True)


def test_a_combination_gives_what_run_backtest_gives_directly(full_sweep, data, tmp_path):
    entries, rows = full_sweep
    best = entries[0]
    base = load_config(data / "config.yaml")
    config = combination_config(base, best["settings"], "grid", check_plugins)
    direct = run_backtest(config, data / "data", date(2016, 1, 1), date(2016, 1, 31), tmp_path)
    for name in METRICS:
        assert best[name] == direct.summary[name], name
    assert best["backtest_run_id"] == direct.run_id
    stored = json.loads(
        (
            Path(rows.set_index("combination_id").loc[best["combination_id"], "out"])
            / "summary.json"
        ).read_text()
    )
    assert stored == direct.summary


def test_a_killed_sweep_resumes_without_redoing_finished_combinations(data, full_sweep):
    """SIGKILL mid-sweep (no clean-up at all), rerun the same command: every combination
    has exactly one row, with the results of an uninterrupted sweep."""
    out = data / "killed"
    proc = subprocess.Popen(
        [V6, *sweep_args(data, "killed", "grid.yaml", "--workers", "2")],
        cwd=data,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    table = out / "store" / "sweep_results"
    deadline = time.monotonic() + 120
    before = 0
    while time.monotonic() < deadline and proc.poll() is None:
        if (table / "_delta_log").is_dir():
            before = len(results(out))
            if before >= 2:
                break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    before = len(results(out))
    assert 2 <= before < 8, f"the sweep was not interrupted mid-way ({before} rows)"

    again = v6(*sweep_args(data, "killed", "grid.yaml", "--workers", "2", "--json"), cwd=data)
    assert again.returncode == 0, again.stderr
    rows = results(out)
    assert len(rows) == 8 and rows["combination_id"].value_counts().eq(1).all()
    assert (rows["status"] == "ok").all()
    # The same numbers as the uninterrupted sweep (same base config, data and range).
    _entries, full = full_sweep
    cols = ["combination_id", "backtest_run_id", *METRICS]
    resumed = rows[cols].sort_values("combination_id").reset_index(drop=True)
    expected = full[full["status"] == "ok"].copy()  # its ids also cover "underlyings"
    expected["combination_id"] = [
        combination_id({k: v for k, v in json.loads(s).items() if k != "underlyings"})
        for s in expected["settings"]
    ]
    expected = expected[cols].sort_values("combination_id")
    pd.testing.assert_frame_equal(resumed, expected.reset_index(drop=True), check_dtype=False)
    assert len(json.loads(again.stdout)) == 8


def test_walk_forward_picks_in_sample_and_reports_out_of_sample(data, scheduler):
    grid = "plugins.strategies.bull_put_spread.settings.wing_width: [2.0, 5.0]\n"
    (data / "wf.yaml").write_text(grid)
    args = sweep_args(
        data,
        "wf",
        "wf.yaml",
        "--scheduler",
        scheduler,
        "--walk-forward",
        "2016-01-14",
        "--top",
        "1",
    )
    done = v6(*args, "--json", cwd=data)
    assert done.returncode == 0, done.stderr
    entries = json.loads(done.stdout)
    rows = results(data / "wf")
    ins, oos = rows[rows["period"] == "in_sample"], rows[rows["period"] == "out_of_sample"]
    assert len(ins) == 2 and len(oos) == 1
    assert str(ins["period_to"].iloc[0])[:10] == "2016-01-13"
    assert str(oos["period_from"].iloc[0])[:10] == "2016-01-14"
    best, other = entries
    assert best["period"] == "in_sample" and best["out_of_sample"]["status"] == "ok"
    assert oos["combination_id"].iloc[0] == best["combination_id"]
    assert "out_of_sample" not in other
    # The same command again: nothing reruns, the text report shows both periods.
    text = v6(*args, cwd=data)
    assert text.returncode == 0, text.stderr
    assert "OOS Sharpe" in text.stdout and best["combination_id"] in text.stdout
    assert text.stderr == ""  # no progress bar off a terminal
    assert len(results(data / "wf")) == 3
    # On a terminal, a tqdm bar over the combinations (here all done already: 2/2, 1/1).
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    try:
        done = subprocess.run(
            [V6, *args], cwd=data, stdout=subprocess.PIPE, stderr=slave, timeout=120
        )
        os.close(slave)
        bar = b""
        with contextlib.suppress(OSError):
            while chunk := os.read(master, 65536):
                bar += chunk
    finally:
        os.close(master)
    assert done.returncode == 0
    assert b"sweep: 100%" in bar and b"2/2" in bar and b"1/1" in bar, bar


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ("- 1\n- 2\n", "'(grid)': expected a mapping of config key paths"),
        ("limits.max_loss_per_trade: []\n", "'limits.max_loss_per_trade': empty list"),
        (
            "plugins.exit_rules.stop_loss.settings.multiple: [1.5]\n",
            "'plugins.exit_rules.stop_loss.settings.multiple': unknown key 'multiple'; "
            "did you mean 'loss_multiple'?",
        ),
        ("limits.max_loss_per_trade: [500, -5]\n", "'limits.max_loss_per_trade': must be > 0"),
        (
            "sim.seed: [" + ", ".join(map(str, range(101))) + "]\n"
            "risk.risk_free_rate: [" + ", ".join(f"0.0{i}" for i in range(10)) + "]\n"
            "limits.max_loss_per_trade: [" + ", ".join(str(500 + i) for i in range(10)) + "]\n",
            "10,100 combinations, more than the 10,000",
        ),
    ],
)
def test_a_bad_grid_is_one_line_exit_2_before_anything_runs(data, grid, message):
    (data / "bad.yaml").write_text(grid)
    done = v6(*sweep_args(data, "bad", "bad.yaml"), cwd=data)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and not (data / "bad").exists()


def _die_or_square(task: dict) -> dict:
    """A task that kills its worker process when asked (a segfault, the OOM killer)."""
    import os

    if task["die"]:
        os._exit(1)
    return {"value": task["n"] ** 2}


def test_a_worker_that_dies_is_recorded_as_that_task_failing_and_the_rest_goes_on(scheduler):
    from distributed import Client

    from v6.sweep.execution import run_tasks

    tasks = [{"n": n, "die": n == 2} for n in range(5)]
    with Client(scheduler, set_as_default=False) as client:
        got = list(
            run_tasks(
                client,
                _die_or_square,
                tasks,
                key=lambda t: f"die-test-{t['n']}",
                on_failure=lambda t, exc: {"failed": t["n"], "error": type(exc).__name__},
            )
        )
    assert len(got) == 5  # every task came back, the dead worker's too
    assert {"failed": 2, "error": "KilledWorker"} in got
    # The others ran on the restarted workers. (Dask blames a task that shared a dying
    # worker only after it was there for allowed-failures + 1 deaths: 4 by default.)
    values = {r["value"] for r in got if "value" in r}
    assert values and values <= {0, 1, 9, 16}
    assert all(r["error"] == "KilledWorker" for r in got if "failed" in r)


def test_a_sample_is_a_fixed_subset_for_a_seed():
    from v6.sweep.grid import Grid

    grid = Grid(("a.b", "c.d"), ((1, 2, 3), (4, 5, 6)), "grid")
    full = grid.combinations()
    assert len(full) == 9 and len({combination_id(s) for s in full}) == 9
    one, again = grid.combinations(4, seed=7), grid.combinations(4, seed=7)
    assert one == again and len(one) == 4 and all(s in full for s in one)
    assert grid.combinations(4, seed=8) != one
    assert grid.combinations(20, seed=1) == full


def test_an_out_holding_another_sweep_is_refused(data, full_sweep):
    """Another range is another sweep: its rows never mix with the first one's."""
    args = sweep_args(data, "full", "grid.yaml")
    args[args.index("--to") + 1] = "2016-01-29"
    done = v6(*args, cwd=data)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "holds sweep sw-" in done.stderr and "choose another --out" in done.stderr
    assert len(results(data / "full")) == 16
