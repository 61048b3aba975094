"""The dashboard on a store holding a year of 15-minute cycles: each page's data and
figures, as a refresh computes them.

The store is generated (a year of simulated trading takes hours to run): 252 trading
days of 26 cycles, 6,552 account snapshots and heartbeats, about ten open positions per
cycle (65,520 ``position_risk`` and ``decisions`` rows, every decision with twelve rules'
verdicts), 2,000 positions opened and closed, 3,000 alerts, regimes and data-quality
rows; each table appended month by month (12 commits, as maintenance leaves them).

Two figures per page: ``warm`` is a refresh (the reader's cache holds the tables and
nothing changed on disk: the usual case every few seconds); ``cold`` is the first load
by a fresh dashboard process (every table read from disk). Figures in
docs/PERFORMANCE.md beside the plain reference of the same run.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import yaml

from dash_app.data import StoreReader
from dash_app.pages import (
    alerts_data,
    futures_data,
    health_data,
    overview_data,
    position_data,
    predictions_data,
)
from dash_app.views import latest_run, position_rows
from v6.config import DashboardSettings
from v6.config_loader import load_config
from v6.conversion import unstructure
from v6.store.delta_store import DeltaStore
from v6.store.schemas import TABLES

DAYS = 252
CYCLES_PER_DAY = 26
OPEN_PER_CYCLE = 10
RUN = "benchyear001"
RULES = (
    ("catastrophe", 10),
    ("circuit_breaker", 20),
    ("data_integrity", 30),
    ("stop_loss", 40),
    ("trailing_stop", 50),
    ("days_to_expiry", 60),
    ("portfolio_limits", 70),
    ("take_profit", 80),
    ("delta_breach", 90),
    ("regime_change", 100),
    ("time_exit", 110),
    ("hold", 120),
)
SETTINGS = DashboardSettings()


def _cycle_times() -> pd.DatetimeIndex:
    days = pd.bdate_range("2025-01-02", periods=DAYS, tz="America/New_York")
    offsets = pd.to_timedelta(np.arange(CYCLES_PER_DAY) * 15 + 9 * 60 + 45, unit="min")
    times = (days.values[:, None] + offsets.values[None, :]).ravel()
    return pd.DatetimeIndex(times).tz_localize("America/New_York").tz_convert("UTC")


def _append_by_month(store: DeltaStore, name: str, frame: pd.DataFrame) -> None:
    schema = TABLES[name].schema
    months = frame["time"].dt.strftime("%Y-%m")
    for _, part in frame.groupby(months, sort=True):
        store.append(name, pa.Table.from_pandas(part.reset_index(drop=True), schema=schema))
        store.flush([name])


def build_year_store(root) -> dict:
    """Write the year's tables under ``root``; returns a few facts to check against."""
    rng = np.random.default_rng(20261201)
    store = DeltaStore(root)
    times = _cycle_times()
    n = len(times)
    config = yaml.safe_dump(unstructure(load_config(None)), sort_keys=False)
    start = datetime(2025, 1, 2, 14, 0, tzinfo=UTC)
    store.append(
        "runs",
        [
            {
                "time": start,
                "run_id": RUN,
                "mode": "paper",
                "config": config,
                "seed": None,
                "event": "start",
                "message": "",
            },
        ],
    )
    store.flush(["runs"])

    netliq = 100_000 + np.cumsum(rng.normal(5, 120, n))
    _append_by_month(
        store,
        "account_snapshots",
        pd.DataFrame(
            {
                "time": times,
                "cash": netliq,
                "net_liquidation": netliq,
                "buying_power": netliq * 2,
                "maintenance_margin": rng.uniform(5e3, 2e4, n),
                "realized_pnl": netliq - 100_000,
                "unrealized_pnl": rng.normal(0, 200, n),
                "commissions": np.linspace(0, 9_000, n),
                "cycle": np.arange(1, n + 1),
                "run_id": RUN,
            }
        ),
    )
    wall = pd.Timestamp.now(tz="UTC") - pd.to_timedelta((n - np.arange(n)) * 900, unit="s")
    _append_by_month(
        store,
        "heartbeat",
        pd.DataFrame(
            {
                "time": times,
                "written_at": wall,
                "cycle": np.arange(1, n + 1),
                "cycle_seconds": rng.gamma(2.0, 0.05, n),
                "interval_seconds": 900.0,
                "broker_connected": True,
                "mode": "paper",
                "pid": 4242,
                "open_positions": OPEN_PER_CYCLE,
                "tripped_breakers": "",
                "unusable_underlyings": "",
                "rejected_quotes": rng.poisson(1, n),
                "failing_plugins": "",
                "run_id": RUN,
            }
        ),
    )

    # Positions: 2,000 over the year, each open for a stretch of cycles.
    count = 2000
    opened = np.sort(rng.integers(0, n - 40, count))
    held = rng.integers(20, 200, count)
    closed = np.minimum(opened + held, n - 1)
    closed[-OPEN_PER_CYCLE:] = n + 1  # still open at the end
    symbols = np.array(["SPY", "QQQ", "IWM"])[rng.integers(0, 3, count)]
    strategies = np.array(["iron_condor", "bull_put_spread", "bear_call_spread"])[
        rng.integers(0, 3, count)
    ]
    ids = [f"{s}-{u}-{i:05d}" for i, (s, u) in enumerate(zip(strategies, symbols, strict=True))]
    legs = json.dumps(
        [
            {
                "key": "SPY 20250131 P 480",
                "underlying": "SPY",
                "expiry": "2025-01-31",
                "strike": 480.0,
                "right": "P",
                "multiplier": 100,
                "ratio": -1,
            },
            {
                "key": "SPY 20250131 P 475",
                "underlying": "SPY",
                "expiry": "2025-01-31",
                "strike": 475.0,
                "right": "P",
                "multiplier": 100,
                "ratio": 1,
            },
        ]
    )
    rows = []
    for status, at in (("opening", opened), ("open", opened), ("closed", closed)):
        keep = at < n
        k = int(keep.sum())
        rows.append(
            pd.DataFrame(
                {
                    "time": times[np.minimum(at[keep], n - 1)],
                    "position_id": np.array(ids)[keep],
                    "strategy": strategies[keep],
                    "underlying": symbols[keep],
                    "structure": strategies[keep],
                    "legs": legs,
                    "quantity": 1,
                    "entry_price": -1.2,
                    "status": status,
                    "max_profit": 120.0,
                    "max_loss": 380.0,
                    "opened_at": times[opened[keep]],
                    "closed_at": times[np.minimum(at[keep], n - 1)]
                    if status == "closed"
                    else pd.NaT,
                    "exit_price": 0.4 if status == "closed" else np.nan,
                    "realized_pnl": 80.0 if status == "closed" else 0.0,
                    "commissions": 2.6,
                    "entry_regime": "normal",
                    "exit_rule": "take_profit" if status == "closed" else None,
                    "slot": None,
                    "seq": np.arange(k)
                    + {"opening": 0, "open": 10**6, "closed": 2 * 10**6}[status],
                    "run_id": RUN,
                }
            )
        )
    positions = pd.concat(rows, ignore_index=True).sort_values("time", kind="stable")
    positions["closed_at"] = pd.to_datetime(positions["closed_at"], utc=True)
    _append_by_month(store, "positions", positions)

    # position_risk and decisions: the positions open at each cycle, ten per cycle.
    cycle_of = np.repeat(np.arange(n), OPEN_PER_CYCLE)
    owner = (cycle_of * 7 + np.tile(np.arange(OPEN_PER_CYCLE), n)) % count
    owner[-OPEN_PER_CYCLE:] = np.arange(count - OPEN_PER_CYCLE, count)
    m = len(owner)
    _append_by_month(
        store,
        "position_risk",
        pd.DataFrame(
            {
                "time": times[cycle_of],
                "position_id": np.array(ids)[owner],
                "strategy": strategies[owner],
                "underlying": symbols[owner],
                "spot": rng.normal(500, 20, m),
                "mark": rng.uniform(0.2, 2.0, m),
                "unrealized_pnl": rng.normal(0, 50, m),
                "pnl_fraction": rng.normal(0.2, 0.3, m),
                "dte": rng.integers(1, 45, m),
                "delta": rng.normal(0, 5, m),
                "beta_delta": rng.normal(0, 5, m),
                "gamma": rng.normal(-0.5, 0.2, m),
                "vega": rng.normal(-8, 2, m),
                "theta": rng.normal(6, 2, m),
                "max_loss": 380.0,
                "valid": True,
                "run_id": RUN,
            }
        ),
    )
    verdicts = json.dumps(
        [
            {"rule": r, "priority": p, "action": None, "reason": "", "error": None}
            for r, p in RULES[:-1]
        ]
        + [
            {
                "rule": "hold",
                "priority": 120,
                "action": "hold",
                "reason": "no exit condition met",
                "error": None,
            }
        ]
    )
    _append_by_month(
        store,
        "decisions",
        pd.DataFrame(
            {
                "time": times[cycle_of],
                "position_id": np.array(ids)[owner],
                "rule": "hold",
                "priority": 120,
                "action": "hold",
                "reason": "no exit condition met",
                "inputs": "{}",
                "underlying": symbols[owner],
                "regime": "normal",
                "verdicts": verdicts,
                "unrealized_pnl": rng.normal(0, 50, m),
                "pnl_fraction": rng.normal(0.2, 0.3, m),
                "half_spread": 0.05,
                "spot": rng.normal(500, 20, m),
                "run_id": RUN,
            }
        ),
    )
    k = 3000
    at = np.sort(rng.integers(0, n, k))
    _append_by_month(
        store,
        "alerts",
        pd.DataFrame(
            {
                "time": times[at],
                "severity": np.array(["info", "warning", "error", "critical"])[
                    rng.integers(0, 4, k)
                ],
                "source": np.array(["execution", "breakers", "sync", "take_profit"])[
                    rng.integers(0, 4, k)
                ],
                "code": np.array(
                    ["order_rejected", "breaker_trip", "position_mismatch", "plugin_error"]
                )[rng.integers(0, 4, k)],
                "message": [f"alert {i}" for i in range(k)],
                "run_id": RUN,
            }
        ),
    )
    _append_by_month(
        store,
        "regimes",
        pd.DataFrame(
            {
                "time": np.repeat(times, 3),
                "underlying": np.tile(["SPY", "QQQ", "IWM"], n),
                "regime": "normal",
                "reason": "vix 16",
                "inputs": "{}",
                "run_id": RUN,
                "detector": "volatility_regime",
            }
        ),
    )
    at = np.sort(rng.integers(0, n, 5000))
    _append_by_month(
        store,
        "data_quality",
        pd.DataFrame(
            {
                "time": times[at],
                "underlying": np.array(["SPY", "QQQ", "IWM"])[rng.integers(0, 3, 5000)],
                "reason": np.array(["crossed", "stale", "nan"])[rng.integers(0, 3, 5000)],
                "count": rng.integers(1, 20, 5000),
                "sample": "",
                "run_id": RUN,
            }
        ),
    )
    _predictions(store, times, ids, strategies, symbols, opened, closed, rng)
    _futures(store, times, rng)
    return {
        "net_liquidation": float(netliq[-1]),
        "open": OPEN_PER_CYCLE,
        "open_id": ids[-1],
        "graded": int((closed < n).sum()),
    }


def _predictions(store, times, ids, strategies, symbols, opened, closed, rng) -> None:
    """One prediction per position: pending at entry, graded when it closed."""
    n, count = len(times), len(ids)
    pop = rng.uniform(0.45, 0.85, count)
    expected = rng.normal(10, 30, count)
    realized = rng.normal(15, 90, count)
    rows = []
    for status, at in (("pending", opened), ("closed", closed)):
        keep = at < n
        k = int(keep.sum())
        done = status == "closed"
        rows.append(
            pd.DataFrame(
                {
                    "time": times[at[keep]],
                    "prediction_id": [f"{p}:prediction" for p in np.array(ids)[keep]],
                    "position_id": np.array(ids)[keep],
                    "strategy": strategies[keep],
                    "underlying": symbols[keep],
                    "structure": strategies[keep],
                    "status": status,
                    "model": "v6_default",
                    "predicted_at": times[opened[keep]],
                    "regime": np.array(["normal", "elevated"])[rng.integers(0, 2, k)],
                    "detector": "volatility_regime",
                    "probability_of_profit": pop[keep],
                    "expected_pnl": expected[keep],
                    "expected_move": 4.0,
                    "expected_days": 5.0,
                    "spot": 480.0,
                    "atm_iv": 0.18,
                    "put_call_iv_ratio": 1.1,
                    "dte": 10,
                    "short_deltas": "[-0.2]",
                    "credit": 1.2,
                    "max_loss": 380.0,
                    "max_profit": 120.0,
                    "quantity": 1,
                    "holding_days": 5.0,
                    "model_inputs": "{}",
                    "closed_at": times[at[keep]] if done else pd.NaT,
                    "realized_pnl": realized[keep] if done else np.nan,
                    "days_held": 3.0 if done else np.nan,
                    "exit_rule": "take_profit" if done else None,
                    "profitable": realized[keep] > 0 if done else None,
                    "seq": np.arange(k) + (10**6 if done else 0),
                    "run_id": RUN,
                }
            )
        )
    frame = pd.concat(rows, ignore_index=True).sort_values("time", kind="stable")
    frame["closed_at"] = pd.to_datetime(frame["closed_at"], utc=True)
    frame["profitable"] = frame["profitable"].astype("boolean")
    _append_by_month(store, "predictions", frame)


def _futures(store, times, rng) -> None:
    """ES, NQ and RTY every cycle, each leading its ETF by two cycles."""
    n = len(times)
    frames = []
    for symbol, etf, ratio in (("ES", "SPY", 10.0), ("NQ", "QQQ", 41.0), ("RTY", "IWM", 10.0)):
        index = 480.0 * np.exp(np.cumsum(rng.normal(0, 0.001, n + 2)))
        frames.append(
            pd.DataFrame(
                {
                    "time": times,
                    "symbol": symbol,
                    "date": times.strftime("%Y-%m-%d"),
                    "etf": etf,
                    "local_symbol": f"{symbol}H6",
                    "expiry": pd.Timestamp("2026-03-20").date(),
                    "price": index[2:] * ratio,
                    "bid": index[2:] * ratio - 0.125,
                    "ask": index[2:] * ratio + 0.125,
                    "roll_ratio": 1.0,
                    "etf_price": index[:-2],
                    "change_1h": rng.normal(0, 0.2, n),
                    "change_4h": rng.normal(0, 0.4, n),
                    "change_overnight": rng.normal(0, 0.6, n),
                    "change_daily": rng.normal(0, 0.9, n),
                    "run_id": RUN,
                }
            )
        )
    _append_by_month(store, "futures_snapshots", pd.concat(frames, ignore_index=True))


@pytest.fixture(scope="module")
def year(tmp_path_factory):
    root = tmp_path_factory.mktemp("year") / "store"
    facts = build_year_store(root)
    return root, facts


PAGES = {
    "overview": lambda reader, run, _id: overview_data(reader, run, SETTINGS),
    "positions": lambda reader, run, _id: position_rows(reader, run),
    "position": lambda reader, run, position_id: position_data(reader, run, position_id),
    "alerts": lambda reader, run, _id: alerts_data(reader, run),
    "health": lambda reader, run, _id: health_data(reader, run, SETTINGS),
    "predictions": lambda reader, run, _id: predictions_data(reader, run),
    "futures": lambda reader, run, _id: futures_data(reader, run),
}


@pytest.mark.parametrize("name", list(PAGES))
def test_dashboard_page_refresh_on_a_year_of_cycles(benchmark, year, name):
    """One page's data and figures on a refresh (the tables cached, nothing new on disk)."""
    root, facts = year
    reader = StoreReader(root)
    run = latest_run(reader)
    PAGES[name](reader, run, facts["open_id"])  # the first load fills the cache
    result = benchmark(PAGES[name], reader, run, facts["open_id"])
    _check(name, result, facts)


@pytest.mark.parametrize("name", list(PAGES))
def test_dashboard_page_first_load_on_a_year_of_cycles(benchmark, year, name):
    """One page's data and figures in a fresh dashboard (every table read from disk)."""
    root, facts = year

    def first_load():
        reader = StoreReader(root)
        return PAGES[name](reader, latest_run(reader), facts["open_id"])

    result = benchmark.pedantic(first_load, rounds=5, iterations=1)
    _check(name, result, facts)


def _check(name: str, result, facts: dict) -> None:
    """The fast answer is also the right one (outside the timed part)."""
    if name == "overview":
        assert result["numbers"]["net_liquidation"] == pytest.approx(facts["net_liquidation"])
        assert result["numbers"]["open_positions"] == facts["open"]
    elif name == "positions":
        assert len(result) == facts["open"]
    elif name == "position":
        assert len(result["verdicts"]) > 0
    elif name == "alerts":
        assert len(result) == 3000
    elif name == "health":
        assert result["percentiles"]["cycles"] == 2000
    elif name == "predictions":
        assert result["counts"]["graded"] == facts["graded"]
        assert result["metrics"]["count"].sum() == facts["graded"]
    elif name == "futures":
        assert result["contracts"]["symbol"].tolist() == ["ES", "NQ", "RTY"]
        assert result["lead_lag"]["best_lag"].tolist() == [2, 2, 2]


def test_year_store_has_the_expected_size(year):
    root, _ = year
    store = DeltaStore(root)
    assert len(store.read("account_snapshots", columns=["cycle"])) == DAYS * CYCLES_PER_DAY
    assert len(store.read("decisions", columns=["rule"])) == DAYS * CYCLES_PER_DAY * OPEN_PER_CYCLE


def test_dashboard_overview_refresh_after_the_engine_wrote_a_cycle(benchmark, year):
    """The Overview refresh after the engine committed one more cycle (an account
    snapshot, its heartbeat and ten positions' risk): only the new files are read."""
    root, facts = year
    reader = StoreReader(root)
    run = latest_run(reader)
    overview_data(reader, run, SETTINGS)
    store = DeltaStore(root)
    cycles = iter(range(10**6))

    def one_more_cycle():
        i = next(cycles)
        time = pd.Timestamp("2026-01-05 15:00", tz="UTC") + pd.Timedelta(minutes=15 * i)
        for name in ("account_snapshots", "heartbeat", "position_risk"):
            frame = store.read(name).tail(OPEN_PER_CYCLE if name == "position_risk" else 1)
            frame = frame.assign(time=time)
            if name == "heartbeat":
                frame = frame.assign(written_at=pd.Timestamp.now(tz="UTC"))
            store.append(name, pa.Table.from_pandas(frame, schema=TABLES[name].schema))
            store.flush([name])
        return (reader, run, SETTINGS), {}

    result = benchmark.pedantic(overview_data, setup=one_more_cycle, rounds=5, iterations=1)
    assert result["numbers"]["last_cycle"] > pd.Timestamp("2026-01-05", tz="UTC")
    assert result["numbers"]["open_positions"] == facts["open"]
