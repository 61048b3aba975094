"""Sweep speed-up from 1 to 2 Dask workers (issue 15, `v6 sweep`).

The same 8 combinations (stop-loss multiple x max loss per trade x wing width) over 60
daily snapshots of SPY, QQQ and IWM (``chain_store.py``, 2,020 options each), run twice
through :func:`v6.sweep.runner.run_sweep`: on a LocalCluster of 1 worker process, then of
2, each into a fresh output directory. Timed: the sweep itself, from the first task sent
to the last row committed (the cluster is started before the clock starts). The figures
are in ``extra_info`` and in docs/PERFORMANCE.md.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from chain_store import write_chain_store

from v6.cli import check_plugins
from v6.config_loader import load_config
from v6.store.delta_store import DeltaStore
from v6.sweep.execution import dask_client
from v6.sweep.grid import Grid, combination_config
from v6.sweep.runner import Combination, SweepPlan, periods_of, run_sweep, sweep_id_of

DAYS = 60
GRID = Grid(
    keys=(
        "plugins.exit_rules.stop_loss.settings.loss_multiple",
        "limits.max_loss_per_trade",
        "plugins.strategies.bull_put_spread.settings.wing_width",
    ),
    values=((1.0, 2.0), (500.0, 1500.0), (2.0, 5.0)),
    source="benchmark grid",
)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sweep-bench")
    days = write_chain_store(root / "data", DAYS)
    (root / "range").write_text(f"{days[0]} {days[-1]}")
    return root


def timed_sweep(root: Path, workers: int) -> float:
    from datetime import date

    start, end = (date.fromisoformat(d) for d in (root / "range").read_text().split())
    base = load_config(None)
    combinations = tuple(
        Combination(s, combination_config(base, s, GRID.source, check_plugins))
        for s in GRID.combinations()
    )
    data = DeltaStore(root / "data")
    plan = SweepPlan(
        sweep_id=sweep_id_of(base, data, start, end, None),
        out=root / f"out-{workers}",
        data=root / "data",
        combinations=combinations,
        periods=periods_of(start, end, None),
        rank_by="sharpe",
        top=1,
    )
    with dask_client(workers, None) as client:
        client.wait_for_workers(workers)
        began = time.perf_counter()
        rows = run_sweep(plan, client)
        seconds = time.perf_counter() - began
    assert len(rows) == 8 and (rows["status"] == "ok").all(), rows["error"].tolist()
    return seconds


def test_sweep_speedup_one_to_two_workers(benchmark, data):
    """8 backtests of 60 snapshots: wall time on 1 worker, then on 2."""
    one = timed_sweep(data, 1)
    seconds: list[float] = []
    benchmark.pedantic(lambda: seconds.append(timed_sweep(data, 2)), rounds=1, iterations=1)
    two = seconds[-1]
    benchmark.extra_info.update(
        {
            "seconds_1_worker": round(one, 2),
            "seconds_2_workers": round(two, 2),
            "speedup": round(one / two, 2),
            "backtests": 8,
            "snapshots_each": DAYS,
        }
    )
