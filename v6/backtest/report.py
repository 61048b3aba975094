"""The backtest's HTML report: one self-contained file that opens offline.

plotly.js is embedded inline once (no CDN, no network), followed by the charts a trader
looks at first: the equity curve, the drawdown, the distribution of closed trades' P&L,
exits by rule and the regime timeline, under the summary table.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from v6.backtest.summary import drawdown, equity_curve, trades_of

REGIME_ORDER = ["crash", "high_vol", "trending", "normal", "range_bound", "low_vol"]


def _figures(frames: dict[str, pd.DataFrame]) -> list[tuple[str, go.Figure]]:
    curve = equity_curve(frames["account_snapshots"])
    trades = trades_of(frames["positions"])
    closed = trades[trades["status"] == "closed"] if not trades.empty else trades
    equity = go.Figure(go.Scatter(x=list(curve.index), y=list(curve.values), name="equity"))
    equity.update_layout(title="Equity (net liquidation)", yaxis_title="$")
    dd = drawdown(curve) if not curve.empty else curve
    down = go.Figure(
        go.Scatter(x=list(dd.index), y=[-100.0 * v for v in dd.values], fill="tozeroy")
    )
    down.update_layout(title="Drawdown", yaxis_title="% below peak")
    pnl = go.Figure(go.Histogram(x=list(closed["realized_pnl"]) if len(closed) else []))
    pnl.update_layout(title="P&L per closed trade", xaxis_title="$", yaxis_title="trades")
    counts = closed["exit_rule"].fillna("none").value_counts() if len(closed) else pd.Series()
    exits = go.Figure(go.Bar(x=[str(k) for k in counts.index], y=[int(v) for v in counts]))
    exits.update_layout(title="Exits by rule", yaxis_title="trades")
    regimes = frames["regimes"]
    timeline = go.Figure()
    for symbol in sorted(regimes["underlying"].unique()) if not regimes.empty else []:
        rows = regimes[regimes["underlying"] == symbol].sort_values("time")
        timeline.add_trace(
            go.Scatter(x=list(rows["time"]), y=list(rows["regime"]), mode="markers", name=symbol)
        )
    timeline.update_layout(
        title="Regime by underlying",
        yaxis={"categoryorder": "array", "categoryarray": REGIME_ORDER[::-1]},
    )
    return [
        ("equity", equity),
        ("drawdown", down),
        ("pnl", pnl),
        ("exits", exits),
        ("regimes", timeline),
    ]


def _summary_table(summary: dict[str, Any]) -> str:
    rows = []
    for key, value in summary.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}: {v}" for k, v in value.items()) or "-"
        elif isinstance(value, float):
            value = f"{value:,.4f}"
        rows.append(f"<tr><th>{html.escape(key)}</th><td>{html.escape(str(value))}</td></tr>")
    return "<table>" + "".join(rows) + "</table>"


def write_report(
    path: Path, title: str, summary: dict[str, Any], frames: dict[str, pd.DataFrame]
) -> Path:
    """Write the report to ``path`` (plotly.js inline: it opens without a network)."""
    parts = []
    for i, (name, figure) in enumerate(_figures(frames)):
        figure.update_layout(height=360, margin={"l": 60, "r": 20, "t": 50, "b": 40})
        parts.append(
            figure.to_html(
                full_html=False,
                include_plotlyjs=(i == 0),  # the whole library once, inline
                div_id=f"chart-{name}",
                config={"displaylogo": False},
            )
        )
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
th,td{{text-align:left;padding:2px 12px;border-bottom:1px solid #ddd}}</style></head>
<body><h1>{html.escape(title)}</h1>
{_summary_table(summary)}
{"".join(parts)}
</body></html>
"""
    path.write_text(page, encoding="utf-8")
    return path
