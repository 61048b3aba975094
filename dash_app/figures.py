"""The dashboard's Plotly figures: titled, with units on the axes and hover values a
trader reads (dollars to the cent, times in New York time).

Each takes the frames :mod:`dash_app.views` computes; an empty frame gives a figure that
says there is nothing to draw yet, never an error.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dash_app.views import NEW_YORK

HEIGHT = 320
_LAYOUT = {
    "height": HEIGHT,
    "margin": {"l": 60, "r": 20, "t": 50, "b": 45},
    "template": "plotly_white",
    "hovermode": "x unified",
    "legend": {"orientation": "h", "x": 1, "xanchor": "right", "y": 1.02, "yanchor": "bottom"},
}
# Nights and weekends hold no cycles: hidden, so a chart of three days is not mostly the
# straight lines drawn across the gaps. Times are New York wall times.
_TRADING_HOURS = [{"bounds": ["sat", "mon"]}, {"bounds": [16.01, 9.5], "pattern": "hour"}]


def _time_axis(title: str = "time (ET)") -> dict:
    return {"title": title, "rangebreaks": _TRADING_HOURS}


def _et(times: pd.Series) -> pd.Series:
    """UTC times as New York wall times (what the axis shows)."""
    return pd.to_datetime(times, utc=True).dt.tz_convert(NEW_YORK).dt.tz_localize(None)


def empty(title: str, message: str) -> go.Figure:
    """A figure with ``title`` saying why there is nothing to show."""
    figure = go.Figure()
    figure.update_layout(
        title=title,
        **{**_LAYOUT, "hovermode": False},
        xaxis={"visible": False},
        yaxis={"visible": False},
        annotations=[
            {
                "text": message,
                "showarrow": False,
                "xref": "paper",
                "yref": "paper",
                "x": 0.5,
                "y": 0.5,
                "font": {"size": 14, "color": "#666"},
            }
        ],
    )
    return figure


def net_liquidation(account: pd.DataFrame) -> go.Figure:
    """Net liquidation and P&L since the run started, per cycle."""
    title = "Net liquidation and P&L, all time"
    if account.empty:
        return empty(title, "No account snapshots yet: the engine has not finished a cycle.")
    figure = go.Figure()
    figure.add_scatter(
        x=_et(account["time"]),
        y=account["net_liquidation"],
        name="net liquidation ($)",
        mode="lines",
        customdata=account["pnl"],
        hovertemplate="%{y:$,.2f} (P&L %{customdata:+$,.2f})<extra>net liquidation</extra>",
    )
    start = float(account["net_liquidation"].iloc[0])
    figure.add_hline(
        y=start, line_dash="dot", line_color="#999", annotation_text=f"start {start:,.0f}"
    )
    figure.update_layout(
        title=title,
        **_LAYOUT,
        xaxis=_time_axis(),
        yaxis={"title": "net liquidation ($)", "tickformat": "$,.0f"},
    )
    return figure


def pnl_today(account: pd.DataFrame) -> go.Figure:
    """P&L since the first snapshot of the last trading day."""
    title = "P&L today"
    if account.empty:
        return empty(title, "No account snapshots yet.")
    today = account[account["day"] == account["day"].iloc[-1]]
    figure = go.Figure()
    figure.add_scatter(
        x=_et(today["time"]),
        y=today["pnl_today"],
        name="P&L today ($)",
        mode="lines+markers",
        fill="tozeroy",
        hovertemplate="%{y:+$,.2f}<extra>P&L today</extra>",
    )
    figure.update_layout(
        title=f"{title} ({today['day'].iloc[-1]})",
        **_LAYOUT,
        xaxis=_time_axis(),
        yaxis={"title": "P&L ($)", "tickformat": "$,.0f"},
    )
    return figure


def greeks_vs_limits(greeks: pd.DataFrame) -> go.Figure:
    """Each limited Greek of the book as a share of its configured limit; totals that leave
    out positions the engine could not value say so in the title."""
    title = "Portfolio Greeks against their limits"
    if "status" in greeks and len(greeks) and greeks["status"].iloc[0] != "complete":
        title += f"<br><sub>{greeks['status'].iloc[0]}</sub>"
    limited = greeks[greeks["limit"].notna()]
    figure = go.Figure()
    figure.add_bar(
        x=limited["label"],
        y=100 * limited["used"].astype(float),
        text=[
            f"{v:+,.2f} of ±{lim:,.0f}"
            for v, lim in zip(limited["value"], limited["limit"], strict=True)
        ],
        textposition="outside",
        customdata=limited[["value", "limit", "unit"]].to_numpy(),
        hovertemplate="%{x}: %{customdata[0]:+,.2f} %{customdata[2]}"
        "<br>limit ±%{customdata[1]:,.0f}<br>%{y:.1f}% of the limit<extra></extra>",
        marker_color=["#d62728" if u >= 0.9 else "#1f77b4" for u in limited["used"].astype(float)],
    )
    figure.add_hline(y=100, line_dash="dash", line_color="#d62728", annotation_text="limit")
    figure.update_layout(
        title=title,
        **{**_LAYOUT, "hovermode": "closest"},
        yaxis={
            "title": "share of limit (%)",
            "range": [
                0,
                max(110.0, float(100 * limited["used"].max() + 15) if len(limited) else 110.0),
            ],
        },
    )
    return figure


def position_marks(marks: pd.DataFrame, decisions: pd.DataFrame) -> go.Figure:
    """The position's unrealized P&L and the underlying's price, cycle by cycle."""
    title = "Marks over time"
    if marks.empty and decisions.empty:
        return empty(title, "No marks stored for this position yet.")
    source = marks if not marks.empty else decisions
    x = _et(source["time"])
    figure = go.Figure()
    figure.add_scatter(
        x=x,
        y=source["unrealized_pnl"],
        name="unrealized P&L ($)",
        mode="lines",
        hovertemplate="%{y:+$,.2f}<extra>unrealized P&L at mid</extra>",
    )
    figure.add_scatter(
        x=x,
        y=source["spot"],
        name="underlying ($)",
        mode="lines",
        yaxis="y2",
        line={"dash": "dot"},
        hovertemplate="%{y:$,.2f}<extra>underlying</extra>",
    )
    figure.update_layout(
        title=title,
        **_LAYOUT,
        xaxis=_time_axis(),
        yaxis={"title": "unrealized P&L ($)", "tickformat": "$,.0f"},
        yaxis2={"title": "underlying price ($)", "overlaying": "y", "side": "right"},
    )
    return figure


def payoff(curve: pd.DataFrame, spot: float | None, underlying: str) -> go.Figure:
    """P&L at expiry over underlying prices, with today's price marked."""
    title = f"Payoff at expiry ({underlying})"
    if curve.empty:
        return empty(title, "No legs stored for this position.")
    figure = go.Figure()
    figure.add_scatter(
        x=curve["price"],
        y=curve["pnl"],
        mode="lines",
        name="P&L at expiry ($)",
        hovertemplate=f"{underlying} at %{{x:$,.2f}}: %{{y:+$,.2f}}<extra>P&L at expiry</extra>",
    )
    figure.add_hline(y=0, line_color="#999")
    if spot is not None and pd.notna(spot):
        figure.add_vline(
            x=float(spot),
            line_dash="dash",
            line_color="#d62728",
            annotation_text=f"today {float(spot):,.2f}",
        )
    figure.update_layout(
        title=title,
        **{**_LAYOUT, "hovermode": "closest"},
        xaxis={"title": f"{underlying} price at expiry ($)"},
        yaxis={"title": "P&L at expiry ($)", "tickformat": "$,.0f"},
    )
    return figure


def cycle_durations(cycles: pd.DataFrame) -> go.Figure:
    """Wall seconds each recent cycle took."""
    title = "Cycle duration"
    if cycles.empty:
        return empty(title, "No heartbeat yet: no cycle has finished.")
    figure = go.Figure()
    figure.add_scatter(
        x=_et(cycles["time"]),
        y=1000 * cycles["cycle_seconds"],
        mode="lines",
        name="cycle (ms)",
        customdata=cycles["cycle"],
        hovertemplate="cycle %{customdata}: %{y:,.1f} ms<extra></extra>",
    )
    figure.update_layout(
        title=title,
        **_LAYOUT,
        xaxis=_time_axis("cycle time (ET)"),
        yaxis={"title": "wall time per cycle (ms)"},
    )
    return figure
