"""How a sweep ranks its combinations, and the latest row of each.

Ranked by one summary metric, ``sharpe`` by default (``--rank-by``): highest first, except
``max_drawdown``, lowest first. Ties go to the higher total P&L, then to the combination
id (so the order is the same in every run). Combinations without the metric (a
backtest with fewer than two daily returns has no Sharpe ratio) come after those with
it, failed ones last.
"""

from __future__ import annotations

import math

import pandas as pd

from v6.sweep.metrics import LOWER_IS_BETTER


def latest_rows(results: pd.DataFrame, period: str | None = None) -> pd.DataFrame:
    """One row per combination and period: its ok row, else its latest failure."""
    if period is not None:
        results = results[results["period"] == period]
    if results.empty:
        return results
    ordered = results.assign(_ok=results["status"] == "ok").sort_values(["_ok", "time"])
    return (
        ordered.drop_duplicates(["combination_id", "period"], keep="last")
        .drop(columns="_ok")
        .reset_index(drop=True)
    )


def _value(value: object) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value):
        return None
    return float(value)  # type: ignore[arg-type]


def rank_key(row: pd.Series, metric: str) -> tuple[int, float, float, str]:
    """Sort key: smaller is better."""
    ok = row["status"] == "ok"
    value = _value(row[metric]) if ok else None
    pnl = _value(row["total_pnl"]) if ok else None
    missing = 0 if value is not None else (1 if ok else 2)
    score = 0.0 if value is None else (value if metric in LOWER_IS_BETTER else -value)
    return (missing, score, -(pnl or 0.0), str(row["combination_id"]))


def best(rows: pd.DataFrame, metric: str) -> list[str]:
    """Combination ids of ``rows`` (one period), best first."""
    keyed = [(rank_key(row, metric), row["combination_id"]) for _, row in rows.iterrows()]
    return [cid for _, cid in sorted(keyed)]
