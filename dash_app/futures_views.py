"""What the Futures page shows: each future's last reading, its contract and roll, and
the lead-lag analysis of ``v6 futures correlate``.

The changes are the ones the engine stored in ``futures_snapshots`` (docs/FUTURES.md);
the roll date is the roll rule's (:func:`v6.futures.contracts.roll_date`) with the
run's ``futures.roll_days_before_expiry``; the lead-lag figures come from
:func:`v6.futures.correlate.correlate` on the same rows the command reads, so the page
and the command agree.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pandas as pd

from dash_app.data import StoreReader, cached
from dash_app.views import NEW_YORK, run_config
from v6.config import FuturesSettings
from v6.domain.futures import FutureContract
from v6.futures import DEFAULT_MAX_LAG
from v6.futures.contracts import MONTH_CODES, local_symbol, roll_date, third_friday
from v6.futures.correlate import COLUMNS, LeadLag, correlate

CONTRACT_COLUMNS = [
    "symbol",
    "etf",
    "local_symbol",
    "expiry",
    "roll_date",
    "days_to_roll",
    "next_contract",
    "price",
    "change_1h",
    "change_4h",
    "change_overnight",
    "change_daily",
    "time",
]


def settings(reader: StoreReader, run_id: str | None) -> dict[str, Any]:
    """The run's ``futures`` settings: ``enabled`` and ``roll_days`` (the defaults when
    the run recorded none, or recorded something that is not a setting)."""
    default = FuturesSettings()
    section = run_config(reader, run_id).get("futures")
    section = section if isinstance(section, dict) else {}
    enabled = section.get("enabled", default.enabled)
    roll_days = section.get("roll_days_before_expiry", default.roll_days_before_expiry)
    if not isinstance(roll_days, int) or isinstance(roll_days, bool) or roll_days < 0:
        roll_days = default.roll_days_before_expiry
    return {"enabled": enabled is not False, "roll_days": roll_days}


def _next_contract(symbol: str, expiry: Any) -> str:
    """The quarterly contract after the one expiring on ``expiry`` (``ESH6`` -> ``ESM6``)."""
    month = expiry.month + 1
    year = expiry.year
    while month not in MONTH_CODES:
        month += 1
        if month == 13:
            year, month = year + 1, 1
    return local_symbol(symbol, third_friday(year, month))


@cached("futures_snapshots", "runs")
def contracts(reader: StoreReader, run_id: str | None) -> pd.DataFrame:
    """Per future, the run's last snapshot: price and changes (percent), the contract in
    use, its roll date and the contract V6 rolls to then."""
    frame = reader.table("futures_snapshots")
    if run_id is None or frame.empty:
        return pd.DataFrame(columns=CONTRACT_COLUMNS)
    mine = frame[frame["run_id"] == run_id]
    if mine.empty:
        return pd.DataFrame(columns=CONTRACT_COLUMNS)
    last = mine.sort_values("time", kind="stable").drop_duplicates("symbol", keep="last")
    roll_days = settings(reader, run_id)["roll_days"]
    rows = []
    for row in last.sort_values("symbol").itertuples(index=False):
        expiry = pd.Timestamp(row.expiry).date()
        rolls = roll_date(FutureContract(str(row.symbol), str(row.local_symbol), expiry), roll_days)
        today = pd.Timestamp(row.time).tz_convert(NEW_YORK).date()
        rows.append(
            {
                "symbol": row.symbol,
                "etf": row.etf,
                "local_symbol": row.local_symbol,
                "expiry": expiry.isoformat(),
                "roll_date": rolls.isoformat(),
                "days_to_roll": (rolls - today) // timedelta(days=1),
                "next_contract": _next_contract(str(row.symbol), expiry),
                "price": float(row.price),
                "change_1h": row.change_1h,
                "change_4h": row.change_4h,
                "change_overnight": row.change_overnight,
                "change_daily": row.change_daily,
                "time": row.time,
            }
        )
    frame = pd.DataFrame(rows, columns=CONTRACT_COLUMNS)
    changes = ["change_1h", "change_4h", "change_overnight", "change_daily"]
    return frame.astype({c: float for c in changes})


@cached("futures_snapshots")
def lead_lag(reader: StoreReader, max_lag: int = DEFAULT_MAX_LAG) -> list[LeadLag]:
    """``v6 futures correlate`` over every run in the store (runs are never joined)."""
    return correlate(reader.table("futures_snapshots")[COLUMNS], max_lag)


def lead_lag_table(results: list[LeadLag]) -> pd.DataFrame:
    """One row per future/ETF pair: the figures of ``v6 futures correlate --json``."""
    columns = [
        "future",
        "etf",
        "best_lag",
        "correlation",
        "horizon",
        "hit_rate",
        "ic",
        "samples",
        "test_samples",
    ]
    return pd.DataFrame([{k: r.as_json()[k] for k in columns} for r in results], columns=columns)
