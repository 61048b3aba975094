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


def _cells(frame: pd.DataFrame) -> list[list[float | None]]:
    """A heatmap's cells as plain lists, an empty cell as None (JSON null, not NaN)."""
    return [[None if pd.isna(v) else float(v) for v in row] for row in frame.to_numpy()]


def predicted_vs_realised(graded: pd.DataFrame) -> go.Figure:
    """Each graded position's expected P&L against its realised P&L, one colour per
    strategy; on the diagonal the model was exactly right."""
    title = "Predicted vs realised P&L per position"
    if graded.empty:
        return empty(title, "No graded predictions yet: they grade when positions close.")
    figure = go.Figure()
    for strategy, rows in graded.groupby("strategy", sort=True):
        figure.add_scatter(
            x=rows["expected_pnl"].tolist(),
            y=rows["realized_pnl"].tolist(),
            mode="markers",
            name=str(strategy),
            customdata=rows[["position_id", "regime", "strategy"]].fillna("").to_numpy().tolist(),
            hovertemplate="%{customdata[0]}<br>%{customdata[2]} in a %{customdata[1]} regime"
            "<br>predicted %{x:+$,.2f}<br>realised %{y:+$,.2f}<extra></extra>",
        )
    low = float(min(graded["expected_pnl"].min(), graded["realized_pnl"].min()))
    high = float(max(graded["expected_pnl"].max(), graded["realized_pnl"].max()))
    figure.add_scatter(
        x=[low, high],
        y=[low, high],
        mode="lines",
        name="predicted = realised",
        line={"dash": "dot", "color": "#999"},
        hoverinfo="skip",
    )
    figure.update_layout(
        title=title,
        **{**_LAYOUT, "hovermode": "closest"},
        xaxis={"title": "predicted P&L ($, expected_pnl)", "tickformat": "$,.0f"},
        yaxis={"title": "realised P&L ($)", "tickformat": "$,.0f"},
    )
    return figure


def calibration(buckets: pd.DataFrame) -> go.Figure:
    """Mean predicted probability of profit per bucket against the observed win rate,
    with the count of each bucket; on the diagonal the model is calibrated."""
    title = "Calibration: predicted vs observed win rate"
    if buckets.empty:
        return empty(title, "No graded predictions yet.")
    figure = go.Figure()
    figure.add_scatter(
        x=[0, 1],
        y=[0, 1],
        mode="lines",
        name="calibrated",
        line={"dash": "dot", "color": "#999"},
        hoverinfo="skip",
    )
    figure.add_scatter(
        x=buckets["mean_predicted"].tolist(),
        y=buckets["win_rate"].tolist(),
        mode="markers+text",
        name="buckets",
        text=[f"n={n}" for n in buckets["count"]],
        textposition="top center",
        marker={"size": 10},
        customdata=buckets[["bucket_low", "bucket_high", "count"]].to_numpy().tolist(),
        hovertemplate="bucket %{customdata[0]:.1f}-%{customdata[1]:.1f}: %{customdata[2]} "
        "predictions<br>mean predicted %{x:.1%}<br>win rate %{y:.1%}<extra></extra>",
    )
    figure.update_layout(
        title=title,
        **{**_LAYOUT, "hovermode": "closest"},
        xaxis={"title": "predicted probability of profit", "range": [0, 1], "tickformat": ".0%"},
        yaxis={"title": "observed win rate", "range": [-0.05, 1.1], "tickformat": ".0%"},
    )
    return figure


def regime_confusion(confusion: pd.DataFrame) -> go.Figure:
    """Detected against true (simulator) regime: the share of each true regime's
    readings, with the count in each cell."""
    title = "Detected vs true regime (sim)"
    if confusion.empty:
        return empty(
            title, "No simulator truth: paper and live runs have no true regime to compare."
        )
    several = confusion["detector"].nunique() > 1
    rows = confusion.assign(
        truth=confusion["true_regime"]
        if not several
        else confusion["detector"] + ": " + confusion["true_regime"]
    )
    share = rows.pivot_table(
        index="truth", columns="detected_regime", values="share", aggfunc="sum"
    )
    count = rows.pivot_table(
        index="truth", columns="detected_regime", values="count", aggfunc="sum"
    ).reindex_like(share)
    figure = go.Figure(
        go.Heatmap(
            z=_cells(share),
            x=list(share.columns),
            y=list(share.index),
            text=[[("" if pd.isna(c) else f"{int(c)}") for c in line] for line in count.to_numpy()],
            texttemplate="%{text}",
            customdata=_cells(count),
            colorscale="Blues",
            zmin=0,
            zmax=1,
            colorbar={"title": "share", "tickformat": ".0%"},
            hovertemplate="true %{y}, detected %{x}<br>%{customdata} readings, "
            "%{z:.1%} of the true regime's<extra></extra>",
        )
    )
    figure.update_layout(
        title=title,
        **{**_LAYOUT, "hovermode": "closest"},
        xaxis={"title": "detected regime"},
        yaxis={"title": "true regime (simulator)"},
    )
    return figure


def lead_lag(results: list) -> go.Figure:
    """Cross-correlation of each future's returns with its ETF's by lag (cycles; > 0:
    the future moves first), the best lag of each pair marked."""
    title = "Lead-lag: return correlation by lag"
    known = [r for r in results if any(v is not None for v in r.by_lag.values())]
    if not known:
        return empty(title, "Too few futures snapshots for a correlation (10 pairs needed).")
    figure = go.Figure()
    for r in known:
        lags = sorted(r.by_lag)
        name = f"{r.future}/{r.etf}"
        figure.add_scatter(
            x=lags,
            y=[r.by_lag[k] for k in lags],
            mode="lines+markers",
            name=name,
            hovertemplate=f"{name} lag %{{x}}: %{{y:+.3f}}<extra></extra>",
        )
        if r.best_lag is not None:
            figure.add_scatter(
                x=[r.best_lag],
                y=[r.correlation],
                mode="markers+text",
                name=f"{name} best lag",
                text=[f"best {r.best_lag:+d}"],
                textposition="top center",
                marker={"symbol": "star", "size": 14, "color": "#d62728"},
                showlegend=False,
                hovertemplate=f"{name} best lag %{{x}}: %{{y:+.3f}}<extra></extra>",
            )
    figure.add_hline(y=0, line_color="#999")
    figure.update_layout(
        title=title,
        **{**_LAYOUT, "hovermode": "closest"},
        xaxis={"title": "lag (cycles; > 0: the future moves first)", "dtick": 1},
        yaxis={"title": "correlation of returns", "range": [-1.05, 1.1]},
    )
    return figure
