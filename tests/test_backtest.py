"""`v6 backtest`: stored chains replayed through the engine that trades.

The hand-made market: SPY at 100 on Monday 2016-01-04 with five puts expiring Friday
2016-01-15 (IV 15%). The only strategy is a bull put spread (0.25-delta short put, a
2-point wing, 8 to 12 days to expiry), the only exit rule ``hold``, so the one trade is
opened on Monday and held to expiration:

* the 0.25-delta put is the 98 (delta about -0.20; the 99 is about -0.33), the wing 96;
* the fill model (fill_point 0.5, slippage 0.01 a leg) puts the market's price of the
  spread at net mid -0.40 (98P 0.60/0.70, 96P 0.20/0.30) + 0.5 x 0.10 + 0.02 = -0.33:
  a 33-cent credit is the most the market gives;
* the entry is sent at mid, a 40-cent credit: more than the market gives, so it rests
  (an order never fills beyond its own limit). On Friday 01-08 the executor moves it one
  ``price_step`` (0.07 here) toward natural: -0.40 + 0.07 = -0.33 (the natural, -0.55 +
  0.25 = -0.30, is not passed). The model price that day is again -0.40 + 0.05 + 0.02 =
  -0.33, at the limit: it fills at its limit, a 33-cent credit;
* expiry day closes SPY at 97.00: the 98 put settles at 1.00, the 96 worthless;
* P&L per spread = 33 - 2 x 0.65 commission - 100 = -68.30.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from datetime import date
from pathlib import Path

import attrs
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from deltalake import write_deltalake

from v6.backtest.replay_market import ReplayData, ReplayDataError
from v6.backtest.runner import run_backtest
from v6.config_loader import load_config
from v6.data_import.importer import import_files
from v6.store.delta_store import DeltaStore
from v6.store.schemas import CHAIN_SNAPSHOTS
from v6.testing.sessions import run, sim_config, with_plugins
from v6.testing.vendor_files import (
    CBOE_HEADER,
    HOD_HEADER,
    market_quotes,
    weekdays,
    write_cboe,
)

# day -> (spot, {strike: (bid, ask)}) for the puts expiring 2016-01-15.
HAND = {
    date(2016, 1, 4): (
        100.0,
        {96: (0.20, 0.30), 97: (0.35, 0.45), 98: (0.60, 0.70), 99: (1.00, 1.10), 100: (1.55, 1.65)},
    ),
    date(2016, 1, 8): (
        99.0,
        {96: (0.15, 0.25), 97: (0.30, 0.40), 98: (0.55, 0.65), 99: (0.95, 1.05), 100: (1.60, 1.70)},
    ),
    date(2016, 1, 15): (
        97.0,
        {96: (0.00, 0.05), 97: (0.05, 0.10), 98: (0.95, 1.05), 99: (1.95, 2.05), 100: (2.95, 3.05)},
    ),
}
# After expiry: a later expiry only, so the broker settles the January puts.
LATER = (date(2016, 1, 19), 97.5, date(2016, 2, 19))
EXPIRY = date(2016, 1, 15)
PER_SPREAD = 33.0 - 2 * 0.65 - 100.0


def hand_rows(
    days: dict = HAND, expiry: date = EXPIRY, later: tuple = LATER
) -> list[tuple[date, float, date, float, float, float, bool]]:
    rows = [
        (day, spot, expiry, float(k), bid, ask, False)
        for day, (spot, quotes) in days.items()
        for k, (bid, ask) in quotes.items()
    ]
    day, spot, expiry = later
    rows += [
        (day, spot, expiry, float(k), 1.0 + 0.2 * (k - 96), 1.1 + 0.2 * (k - 96), False)
        for k in (96, 97, 98, 99, 100)
    ]
    # A crossed call quote (bid above ask): imported as sent, rejected by the gate.
    rows.append((date(2016, 1, 4), 100.0, EXPIRY, 105.0, 0.50, 0.30, True))
    return rows


def write_hand(path: Path, layout: str, rows: list | None = None) -> Path:
    rows = hand_rows() if rows is None else rows
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        if layout == "cboe":
            out.writerow(CBOE_HEADER)
            for day, spot, expiry, k, bid, ask, call in rows:
                row = dict.fromkeys(CBOE_HEADER, "0")
                row.update(
                    underlying_symbol="SPY",
                    quote_date=f"{day:%m/%d/%Y}",
                    root="SPY",
                    expiration=f"{expiry:%m/%d/%Y}",
                    strike=k,
                    option_type="C" if call else "P",
                    bid_1545=bid,
                    ask_1545=ask,
                    underlying_bid_1545=spot - 0.01,
                    underlying_ask_1545=spot + 0.01,
                    active_underlying_price_1545=spot,
                    implied_volatility_1545=0.15,
                )
                out.writerow([row[h] for h in CBOE_HEADER])
        else:
            out.writerow(HOD_HEADER)
            for day, spot, expiry, k, bid, ask, call in rows:
                row = dict.fromkeys(HOD_HEADER, "")
                row.update(
                    underlying="SPY",
                    underlying_last=spot,
                    type="call" if call else "put",
                    optionroot=f"SPY{expiry:%y%m%d}{'C' if call else 'P'}{int(k * 1000):08d}",
                    expiration=f"{expiry.month}/{expiry.day}/{expiry.year} 0:00:00",
                    quotedate=f"{day.month}/{day.day}/{day.year} 0:00:00",
                    strike=k,
                    bid=bid,
                    ask=ask,
                    impliedvol=0.15,
                )
                out.writerow([row[h] for h in HOD_HEADER])
    return path


def hand_config():
    cfg = load_config(None)
    cfg = with_plugins(
        cfg,
        strategies={
            "bull_put_spread": {"settings": {"min_dte": 8, "max_dte": 12, "wing_width": 2.0}}
        },
        exit_rules={"hold": {}},
    )
    # Orders rest until the executor's steps reach the market (work_to_fill_point off), so
    # the arithmetic below follows every step.
    backtest = attrs.evolve(
        cfg.backtest, fill_point=0.5, slippage_per_leg=0.01, work_to_fill_point=False
    )
    # One step of 7 cents a snapshot toward natural, three snapshots before the timeout.
    execution = attrs.evolve(cfg.execution, price_step=0.07, order_timeout_cycles=3)
    return attrs.evolve(cfg, underlyings=["SPY"], backtest=backtest, execution=execution)


@pytest.fixture(scope="module", params=["cboe", "historicaloptiondata"])
def hand_backtest(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"hand-{request.param}")
    import_files(
        [write_hand(root / "spy.csv", request.param)], request.param, root / "data", hand_config()
    )
    result = run_backtest(
        hand_config(),
        root / "data",
        date(2016, 1, 1),
        date(2016, 1, 31),
        root / "out",
        progress=False,
    )
    return result


def test_hand_made_files_give_the_trade_and_pnl_computed_by_hand(hand_backtest):
    store = DeltaStore(hand_backtest.store)
    fills = store.read("fills").sort_values(["time", "exec_id"])
    trades = fills[fills["kind"] == "trade"]
    quantity = int(trades["quantity"].abs().max())
    assert sorted(zip(trades["strike"], np.sign(trades["quantity"]), strict=True)) == [
        (96.0, 1),
        (98.0, -1),
    ]
    assert (trades["expiry"] == EXPIRY).all()
    # The mid entry (-0.40) rested on Monday and filled on Friday at its repriced limit.
    assert set(trades["time"].dt.tz_convert("America/New_York").dt.date) == {date(2016, 1, 8)}
    # Leg prices add up to the order's limit, 33 cents of credit a spread.
    net = (trades["price"] * np.sign(trades["quantity"])).sum()
    assert net == pytest.approx(-0.33)
    orders = store.read("orders")
    assert sorted(orders["limit_price"].round(2).unique().tolist()) == [-0.40, -0.33]
    assert trades["commission"].tolist() == [0.65 * quantity] * 2
    settled = fills[fills["kind"] == "expiration"].set_index("strike")
    assert settled.loc[98.0, "price"] == 1.00 and settled.loc[96.0, "price"] == 0.0

    summary = hand_backtest.summary
    assert summary["trades"] == 1 and summary["closed_trades"] == 1
    assert summary["total_pnl"] == pytest.approx(PER_SPREAD * quantity)
    assert summary["pnl_by_exit_rule"] == {"expiration": pytest.approx(PER_SPREAD * quantity)}
    assert summary["pnl_by_strategy"] == {"bull_put_spread": pytest.approx(PER_SPREAD * quantity)}
    assert summary["win_rate"] == 0.0
    assert summary["average_credit"] == pytest.approx(0.33)
    assert summary["snapshots"] == 4
    # The crossed quote reached the engine as the vendor sent it and the gate refused it.
    quality = store.read("data_quality")
    crossed = quality[quality["reason"] == "crossed"]
    assert crossed["count"].sum() == 1 and "105C" in crossed["sample"].iloc[0]


def hand_run(root: Path, rows: list, end: date, config=None):
    """Import ``rows`` as a CBOE file under ``root`` and backtest them from 2016-01-01."""
    import_files([write_hand(root / "spy.csv", "cboe", rows)], "cboe", root / "data", hand_config())
    result = run_backtest(
        config or hand_config(), root / "data", date(2016, 1, 1), end, root / "out", progress=False
    )
    store = DeltaStore(result.store)
    fills = store.read("fills").sort_values(["time", "exec_id"])
    return result, store, fills


def net_of(fills: pd.DataFrame) -> float:
    """The net price per spread of these fills (credit negative)."""
    return float((fills["price"] * np.sign(fills["quantity"])).sum())


def test_a_flatten_sent_at_natural_fills_at_natural(tmp_path):
    # The range ends on Friday 01-08: the entry fills that day at -0.33 (see the module
    # docstring), then the end-of-backtest flatten closes it at the natural price:
    # buy the 98P at its ask 0.65, sell the 96P at its bid 0.15, a 0.50 debit. The fill
    # model's price (mid 0.40 + 0.5 x 0.10 + 0.02 = 0.47) is never better than an order
    # sent at natural: the order's limit is the natural, and it fills there.
    result, _, fills = hand_run(tmp_path, hand_rows(), date(2016, 1, 8))
    trades = fills[fills["kind"] == "trade"]
    opened = trades[trades["order_ref"].str.endswith(":open")]
    closed = trades[~trades["order_ref"].str.endswith(":open")]
    assert net_of(opened) == pytest.approx(-0.33)
    assert net_of(closed) == pytest.approx(0.50)
    assert sorted(zip(closed["strike"], closed["price"], strict=True)) == [
        (96.0, 0.15),
        (98.0, 0.65),
    ]
    quantity = int(opened["quantity"].abs().max())
    # P&L per spread: 33 of credit - 50 of debit - 4 legs x 0.65 commission = -19.60.
    assert result.summary["total_pnl"] == pytest.approx((33.0 - 50.0 - 4 * 0.65) * quantity)


def test_by_default_an_entry_short_of_the_market_is_worked_to_the_fill_point_that_day(tmp_path):
    # backtest.work_to_fill_point (the default): the entry sent at mid (-0.40) on Monday
    # 01-04 is worked to the model price, -0.40 + 0.5 x 0.10 + 0.02 = -0.33, and fills
    # there that day; the order's last limit is the price it filled at, never beyond it.
    cfg = hand_config()
    cfg = attrs.evolve(cfg, backtest=attrs.evolve(cfg.backtest, work_to_fill_point=True))
    _, store, fills = hand_run(tmp_path, hand_rows(), date(2016, 1, 15), config=cfg)
    opened = fills[(fills["kind"] == "trade") & fills["order_ref"].str.endswith(":open")]
    assert set(opened["time"].dt.tz_convert("America/New_York").dt.date) == {date(2016, 1, 4)}
    assert net_of(opened) == pytest.approx(-0.33)
    orders = store.read("orders")
    filled = orders[orders["status"] == "filled"]
    entry = filled[filled["order_ref"].str.endswith(":open")]
    assert entry["limit_price"].round(2).tolist() == [-0.33]
    assert (filled["avg_fill_price"] <= filled["limit_price"] + 1e-9).all()


def test_expiry_day_without_data_settles_on_the_next_price_with_an_alert(tmp_path):
    # Expiry day 2016-01-15 was a session, but the file has no row of it: the spread
    # settles against the first price stored after it, 97.50 on 01-19 (98P: 0.50, 96P:
    # worthless), never silently against 01-08's stale 99.00 (which would make both
    # worthless), and an ERROR alert names the gap.
    days = {d: HAND[d] for d in (date(2016, 1, 4), date(2016, 1, 8))}
    result, store, fills = hand_run(tmp_path, hand_rows(days), date(2016, 1, 31))
    settled = fills[fills["kind"] == "expiration"].set_index("strike")
    assert settled.loc[98.0, "price"] == 0.50 and settled.loc[96.0, "price"] == 0.0
    alerts = store.read("alerts")
    missing = alerts[alerts["code"] == "settlement_price_missing"]
    assert len(missing) == 1 and set(missing["severity"]) == {"error"}
    assert "2016-01-15" in missing["message"].iloc[0] and "97.50" in missing["message"].iloc[0]
    quantity = int(fills[fills["kind"] == "trade"]["quantity"].abs().max())
    # 33 of credit - 2 x 0.65 commission - 50 paid at settlement = -18.30 a spread.
    assert result.summary["total_pnl"] == pytest.approx((33.0 - 2 * 0.65 - 50.0) * quantity)


def test_an_expiry_on_an_exchange_holiday_settles_on_the_session_before(tmp_path):
    # Monday 2016-01-18 (Martin Luther King Jr. Day) was no session: options listed for
    # it stopped trading on Friday 01-15, whose close (97.00) they settle against; the
    # later 99.00 of 01-19 is not used, and nothing is alerted.
    holiday = date(2016, 1, 18)
    days = {date(2016, 1, 6): HAND[date(2016, 1, 4)], **{d: HAND[d] for d in list(HAND)[1:]}}
    later = (date(2016, 1, 19), 99.0, date(2016, 2, 19))
    _, store, fills = hand_run(tmp_path, hand_rows(days, holiday, later), date(2016, 1, 31))
    settled = fills[fills["kind"] == "expiration"].set_index("strike")
    assert (settled["expiry"] == holiday).all()
    assert settled.loc[98.0, "price"] == 1.00 and settled.loc[96.0, "price"] == 0.0
    alerts = store.read("alerts") if store.exists("alerts") else pd.DataFrame({"code": []})
    assert "settlement_price_missing" not in set(alerts["code"])


def test_the_html_report_is_self_contained(hand_backtest):
    text = hand_backtest.report.read_text(encoding="utf-8")
    for chart in ("equity", "drawdown", "pnl", "exits", "regimes"):
        assert f'id="chart-{chart}"' in text
    assert "plotly.js v" in text or "Plotly" in text  # the library is inline...
    # ...and nothing is fetched: no script, stylesheet or image comes from elsewhere.
    tags = re.findall(r"<(?:script|link|img)\b[^>]*>", text)
    assert tags and not [t for t in tags if re.search(r"\b(src|href)=", t)]


@pytest.mark.skipif(
    not Path("/usr/bin/chromium").exists() and os.environ.get("CI") != "true",
    reason="no /usr/bin/chromium here (CI installs it and runs this test)",
)
def test_the_html_report_opens_in_a_headless_browser_without_console_errors(hand_backtest):
    browser = shutil.which("chromium") or "/usr/bin/chromium"
    result = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=5000",
            "--dump-dom",
            hand_backtest.report.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    console_errors = [
        line
        for line in result.stderr.splitlines()
        if "CONSOLE" in line and ("ERROR" in line or "Uncaught" in line)
    ]
    assert not console_errors
    assert "main-svg" in result.stdout  # plotly drew the charts


# -- a generated market with a volatility shock -------------------------------------


@pytest.fixture(scope="module")
def shock_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("shock")
    days = weekdays(date(2016, 1, 4), 24)
    quotes = market_quotes("SPY", days, spot=200.0, shock_day=14, expiries=5, strikes_per_side=14)
    quotes += market_quotes(
        "QQQ", days, spot=100.0, vol=0.2, shock_day=14, expiries=5, strikes_per_side=10
    )
    write_cboe(root / "both.csv", quotes)
    cfg = load_config(None)
    import_files([root / "both.csv"], "cboe", root / "data", cfg)
    return root, days


def shock_config():
    cfg = load_config(None)
    return attrs.evolve(cfg, underlyings=["SPY", "QQQ"])


@pytest.fixture(scope="module")
def shock_runs(shock_data, tmp_path_factory):
    """The same backtest twice over the shock data, into two output directories."""
    root, days = shock_data
    out = tmp_path_factory.mktemp("shock-runs")
    return tuple(
        run_backtest(shock_config(), root / "data", days[0], days[-1], out / name, progress=False)
        for name in ("a", "b")
    )


def test_same_data_config_and_seed_write_the_same_tables(shock_runs):
    first, second = shock_runs
    assert first.summary == second.summary
    assert first.summary["trades"] > 0
    # Every table the backtest wrote, ``runs`` included (its times are the data's); the
    # heartbeat (a live engine's wall clock and process id) is not written.
    written = sorted(p.name for p in first.store.iterdir() if (p / "_delta_log").is_dir())
    assert written == sorted(p.name for p in second.store.iterdir() if (p / "_delta_log").is_dir())
    assert {"fills", "orders", "positions", "decisions", "account_snapshots"} <= set(written)
    assert "heartbeat" not in written
    assert "runs" in written
    for table in written:
        a = DeltaStore(first.store).read(table)
        b = DeltaStore(second.store).read(table)
        key = list(a.columns)
        pd.testing.assert_frame_equal(
            a.sort_values(key).reset_index(drop=True), b.sort_values(key).reset_index(drop=True)
        )
    # One commit per table per flush: a short backtest flushes once, at the end.
    assert DeltaStore(first.store).version("fills") <= 2


def test_no_order_fills_at_a_price_worse_than_its_own_limit(shock_runs):
    # Over a month of generated data (entries at mid, exits, the end-of-run flatten at
    # natural): every order state with a fill reports an average price (debit positive,
    # credit negative) at or below the limit it was working at.
    orders = DeltaStore(shock_runs[0].store).read("orders")
    filled = orders[orders["filled_quantity"] > 0]
    assert len(filled) > 0 and set(filled["intent"]) >= {"open", "close"}
    worse = filled[filled["avg_fill_price"] > filled["limit_price"] + 1e-9]
    assert worse.empty, worse[["order_ref", "limit_price", "avg_fill_price"]].to_string()


def test_a_volatility_shock_without_vix_registers_as_high_vol_or_crash(shock_data, shock_runs):
    _, days = shock_data
    result = shock_runs[0]
    regimes = DeltaStore(result.store).read("regimes")
    regimes["day"] = regimes["time"].dt.tz_convert("America/New_York").dt.date
    before = regimes[regimes["day"] < days[14]]
    after = regimes[(regimes["day"] >= days[14]) & (regimes["day"] <= days[16])]
    assert not before["regime"].isin(["crash", "high_vol"]).any()
    for symbol in ("SPY", "QQQ"):
        assert after[after["underlying"] == symbol]["regime"].isin(["crash", "high_vol"]).any()
    # The data has no VIX: the market's VIX is SPY's 30-day ATM IV in points, and the
    # shock moves it.
    vix = regimes["inputs"].map(lambda text: json.loads(text)["vix"])
    assert vix.notna().all()
    calm = vix[regimes["day"] < days[14]]
    assert 12 < calm.median() < 22
    assert vix[regimes["day"] == days[14]].max() > 1.3 * calm.median()


def test_cli_backtest_prints_json_and_exits_0_every_time(shock_data, tmp_path):
    root, days = shock_data
    config = tmp_path / "c.yaml"
    config.write_text("underlyings: [SPY, QQQ]\n")
    for attempt in range(2):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "v6.cli",
                "backtest",
                "--config",
                str(config),
                "--data",
                str(root / "data"),
                "--from",
                str(days[0]),
                "--to",
                str(days[5]),
                "--out",
                str(tmp_path / f"o{attempt}"),
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        summary = json.loads(result.stdout)
        for key in ("trades", "total_pnl", "max_drawdown", "sharpe", "win_rate"):
            assert key in summary
    again = subprocess.run(
        [
            sys.executable,
            "-m",
            "v6.cli",
            "backtest",
            "--config",
            str(config),
            "--data",
            str(root / "data"),
            "--from",
            str(days[0]),
            "--to",
            str(days[5]),
            "--out",
            str(tmp_path / "o0"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 2 and "already holds a backtest" in again.stderr
    empty = subprocess.run(
        [
            sys.executable,
            "-m",
            "v6.cli",
            "backtest",
            "--config",
            str(config),
            "--data",
            str(root / "data"),
            "--from",
            "2020-01-01",
            "--to",
            "2020-02-01",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert empty.returncode == 2 and "no snapshots" in empty.stderr
    assert "Traceback" not in empty.stderr


# -- recorded and older stores ------------------------------------------------------


def test_chains_recorded_by_a_sim_run_replay(tmp_path):
    cfg = sim_config(tmp_path / "sim", days=1)
    run(cfg, cycles=6)
    result = run_backtest(
        attrs.evolve(cfg, underlyings=["SPY"]),
        tmp_path / "sim",
        cfg.sim.start,
        cfg.sim.start,
        tmp_path / "out",
        progress=False,
    )
    assert result.summary["snapshots"] == 6
    stored = DeltaStore(tmp_path / "sim").read("chain_snapshots")
    assert set(stored["exercise_style"]) == {"american"}
    assert (stored["quote_time"].notna()).all()


def test_a_store_written_before_the_replay_columns_still_replays(tmp_path):
    frame = DeltaStore(tmp_path / "x")  # a store with the old chain_snapshots schema
    old = CHAIN_SNAPSHOTS.remove(CHAIN_SNAPSHOTS.get_field_index("quote_time"))
    for name in ("multiplier", "exercise_style", "settlement", "root", "dividend_yield"):
        old = old.remove(old.get_field_index(name))
    day = pd.Timestamp("2016-01-04 20:45", tz="UTC")
    rows = pd.DataFrame(
        {
            "time": [day] * 2,
            "underlying": ["SPY"] * 2,
            "date": ["2016-01-04"] * 2,
            "spot": [100.0] * 2,
            "expiry": [date(2016, 1, 15)] * 2,
            "strike": [98.0, 96.0],
            "right": ["P", "P"],
            "bid": [0.6, 0.2],
            "ask": [0.7, 0.3],
            "iv": [0.15] * 2,
            "delta": [-0.2, -0.1],
            "gamma": [0.1] * 2,
            "vega": [0.05] * 2,
            "theta": [-0.02] * 2,
            "valid": [True] * 2,
            "run_id": ["old"] * 2,
        }
    )

    write_deltalake(
        frame.path("chain_snapshots"),
        pa.Table.from_pandas(rows, schema=old),
        partition_by=["underlying", "date"],
    )
    (snapshot,) = list(ReplayData(frame, ["SPY"], date(2016, 1, 4), date(2016, 1, 4)))
    chain = snapshot.chains["SPY"]
    assert chain.multiplier == 100 and chain.strike.tolist() == [96.0, 98.0]
    assert chain.quote_time[0] == np.datetime64("2016-01-04T20:45:00", "us")
    assert snapshot.settlements[("SPY", date(2016, 1, 15))] == "physical"


def write_chain_days(store: DeltaStore, days: list[str]) -> None:
    """Two SPY puts a day at 20:45 UTC on ``days``, one Delta write a day (one file each)."""
    for day in days:
        rows = pd.DataFrame(
            {
                "time": [pd.Timestamp(f"{day} 20:45", tz="UTC")] * 2,
                "underlying": ["SPY"] * 2,
                "date": [day] * 2,
                "spot": [100.0] * 2,
                "expiry": [date(2016, 2, 19)] * 2,
                "strike": [98.0, 96.0],
                "right": ["P", "P"],
                "bid": [0.6, 0.2],
                "ask": [0.7, 0.3],
                "iv": [0.15] * 2,
                "delta": [-0.2, -0.1],
                "gamma": [0.1] * 2,
                "vega": [0.05] * 2,
                "theta": [-0.02] * 2,
                "valid": [True] * 2,
                "run_id": ["r"] * 2,
                "quote_time": [pd.Timestamp(f"{day} 20:45", tz="UTC")] * 2,
                "multiplier": [100] * 2,
                "exercise_style": ["american"] * 2,
                "settlement": ["physical"] * 2,
                "root": ["SPY"] * 2,
                "dividend_yield": [0.0] * 2,
            }
        )
        write_deltalake(
            store.path("chain_snapshots"),
            pa.Table.from_pandas(rows, schema=CHAIN_SNAPSHOTS, preserve_index=False),
            partition_by=["underlying", "date"],
            mode="append",
        )


def test_a_block_that_cannot_be_read_ahead_stops_the_replay_with_a_clear_error(tmp_path):
    store = DeltaStore(tmp_path / "x")
    write_chain_days(store, ["2016-01-04", "2016-01-05", "2016-01-06"])
    (later,) = (store.path("chain_snapshots") / "underlying=SPY" / "date=2016-01-06").glob(
        "*.parquet"
    )
    later.write_bytes(b"not parquet")
    replay = iter(ReplayData(store, ["SPY"], date(2016, 1, 4), date(2016, 1, 6), dates_per_read=1))
    # The two readable days replay; the third, read while they are replayed, then fails.
    assert [s.time.date() for s in (next(replay), next(replay))] == [
        date(2016, 1, 4),
        date(2016, 1, 5),
    ]
    with pytest.raises(ReplayDataError, match="chain_snapshots is unreadable"):
        next(replay)


@pytest.mark.parametrize("taken", [1, None])
def test_no_reading_thread_outlives_the_replay(tmp_path, taken):
    store = DeltaStore(tmp_path / "x")
    write_chain_days(store, ["2016-01-04", "2016-01-05", "2016-01-06", "2016-01-07"])
    before = set(threading.enumerate())
    replay = iter(ReplayData(store, ["SPY"], date(2016, 1, 4), date(2016, 1, 7), dates_per_read=1))
    if taken is None:  # replayed to the end
        assert len(list(replay)) == 4
    else:  # abandoned after the first snapshot, the next day being read
        next(replay)
        replay.close()
    assert set(threading.enumerate()) - before == set()


def test_realised_volatility_of_end_of_day_data_counts_each_session_and_mondays():
    from v6_plugins.regimes.volatility_regime import realised_vol

    days = pd.bdate_range("2016-01-04", periods=30, tz="America/New_York") + pd.Timedelta(
        hours=15, minutes=45
    )
    times = days.tz_convert(None).to_numpy().astype("datetime64[us]")
    steps = np.tile([0.01, -0.01], 15)[:29]
    spots = 100.0 * np.exp(np.concatenate([[0.0], np.cumsum(steps)]))
    # Every step is 1%, Mondays (after a weekend) included: 1% a day is 15.9% a year.
    assert realised_vol(times, spots, 26, 12) == pytest.approx(0.01 * np.sqrt(252), rel=1e-9)


def test_progress_bar_with_eta_only_when_asked_or_on_a_terminal(shock_data, tmp_path, capfd):
    root, days = shock_data
    run_backtest(shock_config(), root / "data", days[0], days[3], tmp_path / "a", progress=None)
    assert capfd.readouterr().err == ""  # stderr is not a terminal here
    run_backtest(shock_config(), root / "data", days[0], days[3], tmp_path / "b", progress=True)
    err = capfd.readouterr().err
    assert "backtest" in err and "day" in err and "<" in err  # tqdm's elapsed<remaining
