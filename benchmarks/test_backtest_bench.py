"""Backtest and import speed (issue 15): replay cycles per second through the whole
engine, resident memory after 1x and 10x the cycles, and CSV import rows per second.

The replay data: SPY, QQQ and IWM, 2,020 options each (101 strikes x 10 weekly expiries x
calls and puts), one snapshot a trading day (``chain_store.py``). Each backtest runs in
a fresh process (``backtest_session.py``); the figures are in ``extra_info`` and in
docs/PERFORMANCE.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from chain_store import write_cboe_csv, write_chain_store

from v6.config_loader import load_config
from v6.data_import.importer import import_files

SESSION = Path(__file__).with_name("backtest_session.py")
ONE_X = 100  # snapshots (trading days)
TEN_X = 10 * ONE_X
IMPORT_ROWS = 500_000


def backtest(data: Path, out: Path) -> dict:
    done = subprocess.run(
        [sys.executable, str(SESSION), str(data), str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    root = tmp_path_factory.mktemp("replay")
    write_chain_store(root / "one", ONE_X)
    write_chain_store(root / "ten", TEN_X)
    return root


def test_backtest_replay_cycles_per_second_and_memory_1x_10x(benchmark, stores):
    """A 1,000-snapshot backtest (timed) after a 100-snapshot one: cycles per second
    through the whole engine, and resident memory (mean of the last 200 cycles)."""
    short = backtest(stores / "one", stores / "out-one")
    runs: list[dict] = []
    benchmark.pedantic(
        lambda: runs.append(backtest(stores / "ten", stores / f"out-ten-{len(runs)}")),
        rounds=1,
        iterations=1,
    )
    long = runs[-1]
    benchmark.extra_info.update(
        {
            "cycles_per_second_1x": short["cycles_per_second"],
            "cycles_per_second_10x": long["cycles_per_second"],
            "engine_ms_per_cycle_10x": 1000 * long["engine_seconds"] / long["cycles"],
            "rss_mib_1x": short["rss_mib_last_200"],
            "rss_mib_10x": long["rss_mib_last_200"],
            "trades_10x": long["trades"],
        }
    )
    assert long["cycles"] == TEN_X and short["cycles"] == ONE_X
    assert long["trades"] > 0


def test_import_cboe_rows_per_second(benchmark, tmp_path):
    """`import_files` on a 500,000-row CBOE file into a fresh store (one commit)."""
    path = tmp_path / "cboe.csv"
    rows = write_cboe_csv(path, IMPORT_ROWS)
    config = load_config(None)
    reports = []

    def one_import():
        store = tmp_path / f"store{len(reports)}"
        reports.append(import_files([path], "cboe", store, config))

    benchmark.pedantic(one_import, rounds=3, iterations=1)
    report = reports[-1]
    parse = [r.seconds - r.write_seconds for r in reports]
    benchmark.extra_info.update(
        {
            "rows": rows,
            "rows_per_second": rows / benchmark.stats.stats.median,
            "parse_rows_per_second_best": rows / min(parse),
            "write_seconds": [round(r.write_seconds, 3) for r in reports],
        }
    )
    assert report.rows_imported == rows and report.bad.total == 0
