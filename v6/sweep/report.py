"""The sweep's ranked report: a text table, or a JSON list with ``--json``.

With walk-forward, each combination carried out of sample shows its out-of-sample
metrics beside its in-sample ones, in the same row.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from v6.sweep.ranking import best
from v6.sweep.worker import METRICS

PRIMARY = ("full", "in_sample")


def ranked_entries(rows: pd.DataFrame, ids: list[str], rank_by: str) -> list[dict[str, Any]]:
    """One entry per combination of this sweep (``ids``), best first."""
    rows = rows[rows["combination_id"].isin(ids)]
    primary = rows[rows["period"].isin(PRIMARY)]
    oos = {r["combination_id"]: r for _, r in rows[rows["period"] == "out_of_sample"].iterrows()}
    by_id = {r["combination_id"]: r for _, r in primary.iterrows()}
    entries = []
    for rank, cid in enumerate(best(primary, rank_by), start=1):
        row = by_id[cid]
        entry: dict[str, Any] = {
            "rank": rank,
            "combination_id": cid,
            "settings": json.loads(row["settings"]),
            "period": row["period"],
            **_metrics(row),
        }
        if cid in oos:
            entry["out_of_sample"] = {"period": "out_of_sample", **_metrics(oos[cid])}
        entries.append(entry)
    return entries


def _metrics(row: pd.Series) -> dict[str, Any]:
    values: dict[str, Any] = {
        "status": row["status"],
        "error": row["error"] or None,
        "from": str(row["period_from"])[:10],
        "to": str(row["period_to"])[:10],
        "backtest_run_id": None if pd.isna(row["backtest_run_id"]) else row["backtest_run_id"],
        "seconds": round(float(row["seconds"]), 3),
    }
    for name in METRICS:
        value = row[name]
        values[name] = (
            None if pd.isna(value) else (int(value) if name == "trades" else float(value))
        )
    return values


def text_report(sweep_id: str, entries: list[dict[str, Any]], rank_by: str, out: str) -> str:
    """The ranked table a trader reads in a terminal."""
    keys = list(entries[0]["settings"]) if entries else []
    walk = any("out_of_sample" in e for e in entries)
    header = ["#", "combination", *(_short(k, keys) for k in keys)]
    header += ["trades", "P&L", "CAGR", "maxDD", "Sharpe", "Sortino", "win"]
    if walk:
        header += ["| OOS trades", "OOS P&L", "OOS Sharpe", "OOS maxDD"]
    table = [header]
    failures = []
    for e in entries:
        line = [str(e["rank"]), e["combination_id"], *(_cell(e["settings"][k]) for k in keys)]
        line += _metric_cells(e)
        if walk:
            o = e.get("out_of_sample")
            line += (
                [
                    "| " + _int(o["trades"]),
                    _money(o["total_pnl"]),
                    _num(o["sharpe"]),
                    _pct(o["max_drawdown"]),
                ]
                if o and o["status"] == "ok"
                else ["| " + ("failed" if o else "-"), "-", "-", "-"]
            )
        table.append(line)
        for item in [e, e.get("out_of_sample")]:
            if item and item["status"] == "failed":
                failures.append(f"  {e['combination_id']} ({item['period']}): {item['error']}")
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = [
        f"V6 sweep {sweep_id}: {len(entries)} combinations ranked by {rank_by} (ties by total P&L)",
        *("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in table),
    ]
    if failures:
        lines += [f"failed ({len(failures)}):", *failures]
    lines.append(f"results: {out}/store/sweep_results, backtests under {out}/runs/")
    return "\n".join(lines)


def _metric_cells(e: dict[str, Any]) -> list[str]:
    if e["status"] != "ok":
        return ["failed", "-", "-", "-", "-", "-", "-"]
    return [
        _int(e["trades"]),
        _money(e["total_pnl"]),
        _pct(e["cagr"]),
        _pct(e["max_drawdown"]),
        _num(e["sharpe"]),
        _num(e["sortino"]),
        _pct(e["win_rate"]),
    ]


def _short(key: str, keys: list[str]) -> str:
    """The key path's last part, or more of it when two keys would read the same."""
    parts = key.split(".")
    for n in range(1, len(parts) + 1):
        tail = ".".join(parts[-n:])
        if sum(k == tail or k.endswith("." + tail) for k in keys) == 1:
            return tail
    return key


def _cell(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


def _int(value: int | None) -> str:
    return "-" if value is None else str(value)


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:+,.2f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
