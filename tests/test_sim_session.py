"""End to end: a simulated week traded by the real engine, checked from the Delta tables."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from sessions import run, sim_config, table

from v6.store.delta_store import DeltaStore
from v6.store.rows import in_write_order

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def week(tmp_path_factory):
    cfg = sim_config(tmp_path_factory.mktemp("week") / "data", days=5, flatten_at_end=True)
    output = run(cfg)
    return cfg, output


def test_a_week_opens_and_closes_iron_condors_and_both_verticals(week):
    cfg, _ = week
    positions = table(cfg, "positions")
    latest = in_write_order(positions).groupby("position_id").tail(1)
    traded = latest[latest["quantity"].gt(0) | latest["realized_pnl"].ne(0)]
    opened = set(positions.loc[positions["status"] == "open", "structure"])
    assert {"iron_condor", "bull_put_spread", "bear_call_spread"} <= opened
    decisions = table(cfg, "decisions")
    closes = decisions[decisions["action"] == "close"]
    by_rule = set(closes["rule"])
    assert by_rule & {"take_profit", "stop_loss", "days_to_expiry"}, by_rule
    closed_by_rules = closes[closes["rule"] != "flatten"]["position_id"]
    closed_structures = set(latest[latest["position_id"].isin(closed_by_rules)]["structure"])
    assert {"iron_condor", "bull_put_spread", "bear_call_spread"} <= closed_structures
    assert (latest["status"] == "closed").all(), "flatten_at_end must leave nothing open"
    assert len(traded) >= 3


def test_realized_pnl_from_fills_equals_change_in_net_liquidation_to_the_cent(week):
    cfg, _ = week
    fills = table(cfg, "fills")
    accounts = table(cfg, "account_snapshots").sort_values(["time", "cycle"])
    assert len(fills) > 0
    realized = round(float(fills["cash_flow"].sum()), 2)
    change = round(float(accounts["net_liquidation"].iloc[-1]) - cfg.sim.initial_cash, 2)
    assert realized == change
    # Commissions are inside cash_flow; the gross P&L differs from it by exactly them.
    gross = round(float((-fills["quantity"] * fills["price"] * fills["multiplier"]).sum()), 2)
    assert round(gross - float(fills["commission"].sum()), 2) == change


def test_each_positions_realized_pnl_is_the_cash_of_its_own_fills(week):
    cfg, _ = week
    fills = table(cfg, "fills")
    latest = in_write_order(table(cfg, "positions")).groupby("position_id").tail(1)
    cash = fills.groupby("position_id")["cash_flow"].sum().round(2)
    for row in latest.itertuples():
        assert round(row.realized_pnl, 2) == cash.get(row.position_id, 0.0), row.position_id


def test_every_fill_belongs_to_an_order_v6_sent(week):
    cfg, _ = week
    fills = table(cfg, "fills")
    orders = table(cfg, "orders")
    trade_fills = fills[fills["kind"] == "trade"]
    assert set(trade_fills["order_ref"]) <= set(orders["order_ref"])
    assert (fills["position_id"] != "").all()


def test_session_prints_a_status_line_per_cycle_and_a_summary(week):
    _, output = week
    lines = output.splitlines()
    assert sum(" cycle " in line for line in lines) >= 5 * 26
    assert "realized P&L" in output and "net liquidation" in output


def test_v6_run_cli_runs_a_short_session_and_leaves_readable_tables(tmp_path):
    env = {**os.environ, "PYTHONPATH": ""}
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("v6")),
            "run",
            "--cycles",
            "6",
            "--seed",
            "11",
            "--store",
            str(tmp_path / "data"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "6 cycles" in result.stdout
    from v6.store.delta_store import DeltaStore

    store = DeltaStore(tmp_path / "data")
    assert len(store.read("account_snapshots")) == 6
    assert len(store.read("chain_snapshots")) > 0


# -- --cycles longer than the simulated market ----------------------------------------


def test_v6_run_extends_the_simulated_days_to_the_cycles_asked_for_and_says_so(tmp_path):
    # One simulated day holds 26 cycles; --cycles 40 needs a second one. A clean feed:
    # the gate's warnings about bad quotes would be warnings too.
    (tmp_path / "v6.yaml").write_text(
        "sim:\n  days: 1\n  bad_data: {stale_underlying: 0, missing_strike: 0, "
        "crossed_quote: 0, wide_quote: 0, zero_iv: 0, nan_greeks: 0}\n"
    )
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("v6")),
            "run",
            "--config",
            str(tmp_path / "v6.yaml"),
            "--cycles",
            "40",
            "--store",
            str(tmp_path / "data"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": ""},
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    (warning,) = [line for line in result.stderr.splitlines() if "WARNING" in line]
    assert warning.endswith(
        "--cycles 40 from sim.start 2026-01-05 needs 2 simulated trading days; "
        "sim.days 1 extended to 2"
    )
    assert sum(" cycle " in line for line in result.stdout.splitlines()) >= 40
    assert ": 40 cycles\n" in result.stdout  # the summary: all 40, nothing cut short
    runs = DeltaStore(tmp_path / "data").read("runs")
    start = runs[runs["event"] == "start"]["config"].iloc[0]
    assert "  days: 2\n" in start  # the run records the days it really simulated
    assert runs[runs["event"] == "stop"]["message"].iloc[0] == "40 cycles"


def test_cycles_past_the_end_of_the_calendar_stop_there_and_the_summary_says_so(tmp_path, caplog):
    cfg = sim_config(tmp_path / "data", days=1, start=date(2035, 12, 27))
    with caplog.at_level(logging.WARNING, logger="v6.app"):
        output = run(cfg, cycles=500)
    # 2035-12-27, 28 and 31 are the calendar's last three sessions.
    ran = len(table(cfg, "account_snapshots")["cycle"].unique())
    assert 0 < ran < 500
    assert (
        f"--cycles 500 from sim.start 2035-12-27: the exchange calendar ends 2035-12-31, so "
        f"the simulated market has only {ran} cycles (sim.days 1 extended to 3)"
    ) in caplog.text
    assert f": {ran} cycles (the simulated market ended after {ran} of 500 cycles)" in output
    runs = table(cfg, "runs")
    assert runs[runs["event"] == "stop"]["message"].iloc[0] == (
        f"{ran} cycles; the simulated market ended after {ran} of 500 cycles"
    )


def test_enough_simulated_days_are_left_alone(tmp_path, caplog):
    cfg = sim_config(tmp_path / "data", days=2)
    with caplog.at_level(logging.WARNING, logger="v6.app"):
        output = run(cfg, cycles=30)
    assert "extended" not in caplog.text
    assert ": 30 cycles\n" in output
    start = table(cfg, "runs").query("event == 'start'")["config"].iloc[0]
    assert "  days: 2\n" in start
