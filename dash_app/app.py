"""The Dash app: pages, refresh, the two operator writes, ``GET /health`` and the login.

Pages (client-side routes): ``/`` Overview, ``/positions`` and ``/positions/<id>``,
``/alerts``, ``/system`` Health. Each page's layout is fixed and its callbacks refill its
tables and figures on every tick of the refresh interval, so a table's sorting and
filtering survive a refresh. The numbers come from :mod:`dash_app.views`; the figures
from :mod:`dash_app.figures`.

Writes: "Acknowledge selected" on the Alerts page (rows in ``alert_acks``) and the "Halt
entries" / "Resume entries" switch (rows in ``manual_commands``, obeyed by the running
engine at its next cycle through the ``manual_halt`` breaker). Nothing else; no orders.
"""

from __future__ import annotations

import base64
import hmac
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import dash
import pandas as pd
from dash import Input, Output, State, ctx, dash_table, dcc, html
from flask import Response, request

from dash_app import figures, views
from dash_app.data import StoreReader
from v6.alert_acks import acknowledge
from v6.config import DashboardSettings
from v6.health import HEARTBEAT_COLUMNS, evaluate, percentiles
from v6.risk.manual_halt import HALT, RESUME, issue

PAGES = (
    ("/", "Overview"),
    ("/positions", "Positions"),
    ("/alerts", "Alerts"),
    ("/system", "Health"),
)
SEVERITIES = ("critical", "error", "warning", "info")

_TABLE_STYLE = {
    "style_table": {"overflowX": "auto"},
    "style_cell": {
        "fontFamily": "system-ui, sans-serif",
        "fontSize": "13px",
        "padding": "4px 8px",
        "textAlign": "left",
        "maxWidth": "420px",
        "whiteSpace": "normal",
    },
    "style_header": {"fontWeight": "600", "backgroundColor": "#f3f5f7"},
}
_CARD = {
    "border": "1px solid #dde1e6",
    "borderRadius": "6px",
    "padding": "8px 14px",
    "minWidth": "150px",
    "background": "#fff",
}


def _usd(value: float) -> str:
    """+$1,234.50 / -$5.50: signed dollars as a trader writes them."""
    return f"{'-' if value < 0 else '+'}${abs(value):,.2f}"


def _money(value: Any, sign: bool = False) -> str:
    if value is None or pd.isna(value):
        return "-"
    return f"{value:+,.2f}" if sign else f"{value:,.2f}"


def _card(label: str, value: str, card_id: str) -> html.Div:
    return html.Div(
        [
            html.Div(label, style={"fontSize": "12px", "color": "#555"}),
            html.Div(value, id=card_id, style={"fontSize": "20px", "fontWeight": "600"}),
        ],
        style=_CARD,
    )


def _empty_note(text: str, note_id: str | None = None) -> html.Div:
    props = {"id": note_id} if note_id else {}
    return html.Div(
        text,
        className="empty-state",
        style={"color": "#666", "fontStyle": "italic", "padding": "6px 0"},
        **props,
    )


def _table(table_id: str, columns: list[dict[str, Any]], **extra: Any) -> dash_table.DataTable:
    return dash_table.DataTable(id=table_id, columns=columns, data=[], **_TABLE_STYLE, **extra)


def _columns(names: list[tuple[str, str]], numeric: set[str] = frozenset()) -> list[dict[str, Any]]:
    return [
        {"name": label, "id": key, "type": "numeric" if key in numeric else "text"}
        for key, label in names
    ]


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Frame rows for a DataTable: NaN as empty, times as ET text."""
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[column]):
            out[column] = out[column].map(views.et)
    return json.loads(out.to_json(orient="records", date_format="iso"))


def _graph(graph_id: str) -> dcc.Graph:
    return dcc.Graph(
        id=graph_id,
        figure=figures.empty("", "loading"),
        config={"displaylogo": False},
        style={"minWidth": "0"},
    )


def _grid(*children: Any) -> html.Div:
    return html.Div(
        list(children),
        style={
            "display": "grid",
            "gridTemplateColumns": "repeat(auto-fit, minmax(420px, 1fr))",
            "gap": "12px",
        },
    )


# -- page layouts ------------------------------------------------------------------------


def overview_layout() -> html.Div:
    return html.Div(
        [
            html.H2("Overview"),
            html.Div(id="ov-empty"),
            html.Div(
                [
                    _card("Net liquidation ($)", "-", "ov-netliq"),
                    _card("P&L today ($)", "-", "ov-pnl-today"),
                    _card("P&L all time ($)", "-", "ov-pnl-total"),
                    _card("Open positions", "-", "ov-open"),
                    _card("Last cycle", "-", "ov-last-cycle"),
                    _card("Engine", "-", "ov-engine"),
                ],
                style={
                    "display": "flex",
                    "flexWrap": "wrap",
                    "gap": "10px",
                    "marginBottom": "12px",
                },
            ),
            _grid(_graph("ov-netliq-graph"), _graph("ov-pnl-graph")),
            _grid(
                _graph("ov-greeks-graph"),
                html.Div(
                    [
                        html.H4("Portfolio Greeks"),
                        _table(
                            "ov-greeks",
                            _columns(
                                [
                                    ("label", "Greek"),
                                    ("value", "value"),
                                    ("limit", "limit ±"),
                                    ("unit", "unit"),
                                ],
                                {"value", "limit"},
                            ),
                        ),
                        html.H4("Circuit breakers"),
                        _table(
                            "ov-breakers",
                            _columns(
                                [
                                    ("breaker", "breaker"),
                                    ("state", "state"),
                                    ("since", "since"),
                                    ("reason", "reason"),
                                ]
                            ),
                        ),
                    ]
                ),
            ),
            _grid(
                html.Div(
                    [
                        html.H4("Open positions"),
                        _table(
                            "ov-positions",
                            _columns(
                                [
                                    ("position_id", "position"),
                                    ("underlying", "underlying"),
                                    ("strategy", "strategy"),
                                    ("pnl", "P&L ($)"),
                                    ("dte", "DTE"),
                                ],
                                {"pnl", "dte"},
                            ),
                            page_size=12,
                        ),
                    ]
                ),
                html.Div(
                    [
                        html.H4("Regime per underlying"),
                        _table(
                            "ov-regimes",
                            _columns(
                                [
                                    ("underlying", "underlying"),
                                    ("detector", "detector"),
                                    ("regime", "regime"),
                                    ("time", "as of"),
                                ]
                            ),
                        ),
                    ]
                ),
            ),
        ]
    )


POSITION_TABLE = [
    ("position_id", "position"),
    ("underlying", "underlying"),
    ("strategy", "strategy"),
    ("status", "status"),
    ("legs", "legs"),
    ("quantity", "qty"),
    ("entry_credit", "entry credit ($)"),
    ("current_value", "value now ($)"),
    ("pnl", "P&L ($)"),
    ("pnl_pct", "% of max profit"),
    ("beta_delta", "β-delta (SPY sh)"),
    ("gamma", "gamma"),
    ("vega", "vega ($/pt)"),
    ("theta", "theta ($/day)"),
    ("dte", "DTE"),
    ("regime", "regime"),
    ("take_profit_at", "take profit at (%)"),
    ("last_action", "last decision"),
    ("last_rule", "rule"),
    ("last_reason", "why"),
    ("opened", "opened"),
]
_NUMERIC = {
    "quantity",
    "entry_credit",
    "current_value",
    "pnl",
    "pnl_pct",
    "beta_delta",
    "gamma",
    "vega",
    "theta",
    "dte",
    "take_profit_at",
}


def positions_layout() -> html.Div:
    columns = _columns(POSITION_TABLE, _NUMERIC)
    columns[0]["presentation"] = "markdown"
    return html.Div(
        [
            html.H2("Positions"),
            html.Div(
                [
                    html.Label("Show ", htmlFor="pos-scope"),
                    dcc.RadioItems(
                        id="pos-scope",
                        options=[
                            {"label": " open positions", "value": "open"},
                            {"label": " every position of the run", "value": "all"},
                        ],
                        value="open",
                        inline=True,
                        inputStyle={"marginLeft": "12px"},
                    ),
                ],
                style={"display": "flex", "alignItems": "center"},
            ),
            html.Div(id="pos-empty"),
            _table(
                "pos-table",
                columns,
                sort_action="native",
                filter_action="native",
                page_size=25,
                markdown_options={"link_target": "_self"},
                style_cell_conditional=[
                    {
                        "if": {"column_id": "position_id"},
                        "minWidth": "250px",
                        "whiteSpace": "nowrap",
                    },
                    {"if": {"column_id": "legs"}, "minWidth": "200px", "whiteSpace": "nowrap"},
                    {"if": {"column_id": "last_reason"}, "minWidth": "220px"},
                    {"if": {"column_id": "opened"}, "whiteSpace": "nowrap"},
                ],
                style_data_conditional=[
                    {"if": {"filter_query": "{pnl} < 0", "column_id": "pnl"}, "color": "#c0392b"},
                    {"if": {"filter_query": "{pnl} > 0", "column_id": "pnl"}, "color": "#1e8449"},
                ],
                tooltip_delay=0,
            ),
        ]
    )


def position_layout(position_id: str) -> html.Div:
    return html.Div(
        [
            dcc.Link("← all positions", href="/positions"),
            html.H2(f"Position {position_id}", id="pd-title"),
            html.Div(id="pd-summary"),
            _grid(_graph("pd-marks"), _graph("pd-payoff")),
            html.H4("Every rule's verdict, every cycle (newest first; what v6 explain shows)"),
            _table(
                "pd-verdicts",
                _columns(
                    [
                        ("time", "cycle"),
                        ("priority", "priority"),
                        ("rule", "rule"),
                        ("verdict", "verdict"),
                        ("reason", "reason"),
                        ("outcome", ""),
                    ],
                    {"priority"},
                ),
                sort_action="native",
                filter_action="native",
                page_size=30,
            ),
        ]
    )


def alerts_layout() -> html.Div:
    return html.Div(
        [
            html.H2("Alerts"),
            html.Div(
                [
                    html.Span("severity:"),
                    dcc.Checklist(
                        id="al-severity",
                        options=[{"label": f" {s}", "value": s} for s in SEVERITIES],
                        value=[],
                        inline=True,
                        inputStyle={"marginLeft": "8px"},
                    ),
                    html.Span("source:", style={"marginLeft": "12px"}),
                    dcc.Checklist(
                        id="al-kind",
                        options=[{"label": f" {s}", "value": s} for s in views.ALERT_SOURCES],
                        value=[],
                        inline=True,
                        inputStyle={"marginLeft": "8px"},
                    ),
                    dcc.Checklist(
                        id="al-unacked",
                        options=[{"label": " unacknowledged only", "value": "yes"}],
                        value=[],
                    ),
                    html.Button("Acknowledge selected", id="al-ack", n_clicks=0),
                ],
                style={
                    "display": "flex",
                    "flexWrap": "wrap",
                    "gap": "12px",
                    "alignItems": "center",
                    "marginBottom": "8px",
                },
            ),
            html.Div(id="al-message", style={"color": "#2a7", "minHeight": "18px"}),
            html.Div(id="al-empty"),
            _table(
                "al-table",
                _columns(
                    [
                        ("when", "time"),
                        ("severity", "severity"),
                        ("kind", "source"),
                        ("source", "raised by"),
                        ("code", "code"),
                        ("message", "message"),
                        ("acknowledged", "acknowledged"),
                    ]
                ),
                row_selectable="multi",
                selected_rows=[],
                sort_action="native",
                page_size=50,
                style_data_conditional=[
                    {
                        "if": {"filter_query": '{severity} = "critical"'},
                        "backgroundColor": "#fde2e1",
                    },
                    {"if": {"filter_query": '{severity} = "error"'}, "backgroundColor": "#fff1e0"},
                ],
            ),
        ]
    )


def health_layout() -> html.Div:
    return html.Div(
        [
            html.H2("Health"),
            html.Div(
                [
                    _card("Status", "-", "hl-status"),
                    _card("Heartbeat age", "-", "hl-age"),
                    _card("Broker", "-", "hl-broker"),
                    _card("Engine", "-", "hl-engine"),
                ],
                style={
                    "display": "flex",
                    "flexWrap": "wrap",
                    "gap": "10px",
                    "marginBottom": "12px",
                },
            ),
            html.Div(
                [
                    "GET ",
                    html.A("/health", href="/health"),
                    " answers this as JSON (200 healthy, 503 not).",
                ],
                style={"fontSize": "12px", "color": "#555"},
            ),
            html.H4("Checks"),
            _table("hl-checks", _columns([("name", "check"), ("ok", "ok"), ("detail", "detail")])),
            _grid(
                _graph("hl-cycles"),
                html.Div(
                    [
                        html.H4("Cycle duration percentiles (ms)"),
                        _table(
                            "hl-percentiles",
                            _columns(
                                [
                                    ("p50", "p50"),
                                    ("p90", "p90"),
                                    ("p99", "p99"),
                                    ("max", "max"),
                                    ("cycles", "cycles"),
                                ],
                                {"p50", "p90", "p99", "max", "cycles"},
                            ),
                        ),
                        html.H4("Market data per underlying"),
                        _table(
                            "hl-data",
                            _columns(
                                [
                                    ("underlying", "underlying"),
                                    ("usable", "usable now"),
                                    ("last_usable", "last usable cycle"),
                                    ("rejected_last_cycle", "rejected last cycle"),
                                    ("rejected_total", "rejected in run"),
                                    ("last_rejection", "last rejection"),
                                    ("reasons", "reasons"),
                                ],
                                {"rejected_last_cycle", "rejected_total"},
                            ),
                        ),
                    ]
                ),
            ),
            html.H4("Tables"),
            _table(
                "hl-tables",
                _columns(
                    [
                        ("table", "table"),
                        ("files", "data files"),
                        ("size_mb", "size (MB)"),
                        ("last_write", "last write"),
                    ],
                    {"files", "size_mb"},
                ),
                sort_action="native",
            ),
            html.H4("Plugin errors"),
            html.Div(id="hl-plugins-empty"),
            _table(
                "hl-plugins",
                _columns(
                    [
                        ("when", "time"),
                        ("source", "plugin"),
                        ("code", "code"),
                        ("message", "message"),
                    ]
                ),
                page_size=20,
            ),
        ]
    )


def not_found_layout(path: str) -> html.Div:
    return html.Div(
        [
            html.H2("No such page"),
            html.P(f"{path} is not a page of the V6 dashboard."),
            dcc.Link("Overview", href="/"),
        ]
    )


# -- the app -----------------------------------------------------------------------------


def create_app(
    reader: StoreReader,
    settings: DashboardSettings,
    *,
    credentials: tuple[str, str] | None = None,
    user: str = "",
) -> dash.Dash:
    """The dashboard for ``reader``'s store. With ``credentials`` (user, password) every
    request, ``/health`` included, needs HTTP basic authentication (401 without)."""
    app = dash.Dash(
        __name__,
        title="V6 dashboard",
        suppress_callback_exceptions=True,
        update_title=None,
        serve_locally=True,
    )
    server = app.server
    if credentials is not None:
        _require_login(server, credentials)

    @server.route("/health")
    def health() -> Response:
        result = evaluate(
            reader.store, settings, heartbeats=_heartbeats(reader), runs=reader.table("runs")
        )
        return Response(
            json.dumps(result.to_json()), status=result.http_status, mimetype="application/json"
        )

    def operator() -> str:
        if credentials is not None:
            auth = request.authorization
            return auth.username if auth and auth.username else credentials[0]
        return user

    app.layout = html.Div(
        [
            dcc.Location(id="url"),
            dcc.Interval(
                id="refresh", interval=int(settings.refresh_seconds * 1000), n_intervals=0
            ),
            html.Div(
                [
                    html.Strong("V6", style={"fontSize": "20px", "marginRight": "16px"}),
                    *[
                        dcc.Link(
                            label,
                            href=href,
                            id=f"nav-{label.lower()}",
                            style={"marginRight": "14px"},
                        )
                        for href, label in PAGES
                    ],
                    html.Span("run ", style={"marginLeft": "auto", "color": "#555"}),
                    dcc.Dropdown(id="run-select", clearable=False, style={"minWidth": "330px"}),
                ],
                style={
                    "display": "flex",
                    "alignItems": "center",
                    "gap": "4px",
                    "padding": "8px 0",
                    "borderBottom": "1px solid #dde1e6",
                },
            ),
            html.Div(
                [
                    html.Span("-", id="halt-status", style={"fontWeight": "600"}),
                    dcc.Input(
                        id="halt-reason", placeholder="reason (optional)", style={"width": "220px"}
                    ),
                    html.Button(
                        "Halt entries",
                        id="halt-button",
                        n_clicks=0,
                        style={
                            "background": "#d62728",
                            "color": "white",
                            "border": "none",
                            "padding": "4px 10px",
                        },
                    ),
                    html.Button("Resume entries", id="resume-button", n_clicks=0),
                ],
                style={
                    "display": "flex",
                    "alignItems": "center",
                    "gap": "10px",
                    "padding": "6px 0",
                    "flexWrap": "wrap",
                },
            ),
            html.Div(id="page", style={"paddingBottom": "40px"}),
        ],
        style={
            "maxWidth": "1400px",
            "margin": "0 auto",
            "padding": "0 12px",
            "fontFamily": "system-ui, sans-serif",
        },
    )

    @app.callback(Output("page", "children"), Input("url", "pathname"))
    def route(path: str | None) -> html.Div:
        path = path or "/"
        if path == "/":
            return overview_layout()
        if path == "/positions":
            return positions_layout()
        if path.startswith("/positions/"):
            return position_layout(unquote(path[len("/positions/") :]))
        if path == "/alerts":
            return alerts_layout()
        if path == "/system":
            return health_layout()
        return not_found_layout(path)

    @app.callback(
        Output("run-select", "options"),
        Output("run-select", "value"),
        Input("refresh", "n_intervals"),
        State("run-select", "value"),
    )
    def pick_run(_n: int, chosen: str | None) -> tuple[list[dict[str, str]], str | None]:
        table = views.runs(reader)
        options = [
            {
                "label": f"{r.run_id} {r.mode} {r.state} (from {views.et(r.started)})",
                "value": r.run_id,
            }
            for r in table.itertuples(index=False)
        ]
        ids = [o["value"] for o in options]
        return options, chosen if chosen in ids else (ids[0] if ids else None)

    @app.callback(
        Output("halt-status", "children"),
        Output("halt-status", "style"),
        Output("halt-button", "disabled"),
        Output("resume-button", "disabled"),
        Input("halt-button", "n_clicks"),
        Input("resume-button", "n_clicks"),
        Input("refresh", "n_intervals"),
        Input("run-select", "value"),
        State("halt-reason", "value"),
    )
    def halt_switch(_h: int, _r: int, _n: int, run_id: str | None, reason: str | None) -> tuple:
        clicked = ctx.triggered_id
        if clicked in ("halt-button", "resume-button"):
            command = HALT if clicked == "halt-button" else RESUME
            issue(
                reader.store,
                command,
                datetime.now(UTC),
                reason=(reason or "").strip(),
                user=operator(),
            )
        state = views.halt_state(reader, run_id)
        color = "#d62728" if state["halted"] or state["pending"] == "halt" else "#2a7"
        return (
            state["text"],
            {"fontWeight": "600", "color": color},
            bool(state["halted"] or state["pending"] == "halt"),
            not (state["halted"] or state["pending"] == "halt"),
        )

    @app.callback(
        Output("ov-empty", "children"),
        Output("ov-netliq", "children"),
        Output("ov-pnl-today", "children"),
        Output("ov-pnl-total", "children"),
        Output("ov-open", "children"),
        Output("ov-last-cycle", "children"),
        Output("ov-engine", "children"),
        Output("ov-netliq-graph", "figure"),
        Output("ov-pnl-graph", "figure"),
        Output("ov-greeks-graph", "figure"),
        Output("ov-greeks", "data"),
        Output("ov-breakers", "data"),
        Output("ov-positions", "data"),
        Output("ov-regimes", "data"),
        Input("refresh", "n_intervals"),
        Input("run-select", "value"),
    )
    def overview(_n: int, run_id: str | None) -> tuple:
        data = overview_data(reader, run_id, settings)
        head = data["numbers"]
        return (
            data["empty"],
            _money(head["net_liquidation"]),
            _money(head["pnl_today"], sign=True),
            _money(head["pnl_total"], sign=True),
            str(head["open_positions"]),
            views.et(head["last_cycle"]),
            data["engine"],
            data["netliq_figure"],
            data["pnl_figure"],
            data["greeks_figure"],
            _records(data["greeks"]),
            _records(data["breakers"]),
            _records(data["positions"]),
            _records(data["regimes"]),
        )

    @app.callback(
        Output("pos-table", "data"),
        Output("pos-empty", "children"),
        Input("refresh", "n_intervals"),
        Input("run-select", "value"),
        Input("pos-scope", "value"),
    )
    def positions(_n: int, run_id: str | None, scope: str) -> tuple:
        rows = views.position_rows(reader, run_id, closed=scope == "all")
        if rows.empty:
            note = _empty_note(
                "No open positions in this run."
                if run_id is not None
                else "No run has written this store yet: start one with `v6 run`, "
                "and its positions appear here."
            )
            return [], note
        rows = rows.assign(position_id=[f"[{p}](/positions/{p})" for p in rows["position_id"]])
        return _records(rows), None

    @app.callback(
        Output("pd-summary", "children"),
        Output("pd-marks", "figure"),
        Output("pd-payoff", "figure"),
        Output("pd-verdicts", "data"),
        Input("refresh", "n_intervals"),
        Input("run-select", "value"),
        State("url", "pathname"),
    )
    def position(_n: int, run_id: str | None, path: str) -> tuple:
        position_id = unquote((path or "")[len("/positions/") :])
        data = position_data(reader, run_id, position_id)
        return (
            data["summary"],
            data["marks_figure"],
            data["payoff_figure"],
            _records(data["verdicts"]),
        )

    @app.callback(
        Output("al-table", "data"),
        Output("al-table", "selected_rows"),
        Output("al-message", "children"),
        Output("al-empty", "children"),
        Input("refresh", "n_intervals"),
        Input("run-select", "value"),
        Input("al-severity", "value"),
        Input("al-kind", "value"),
        Input("al-unacked", "value"),
        Input("al-ack", "n_clicks"),
        State("al-table", "selected_row_ids"),
    )
    def alerts(_n, run_id, severities, kinds, unacked, _clicks, selected) -> tuple:
        # Rows are selected by alert id, never by position: a new alert arriving between
        # a tick and the click moves every row down one.
        message = dash.no_update
        chosen = set(selected or [])
        if ctx.triggered_id == "al-ack":
            if chosen:
                count = acknowledge(
                    reader.store, sorted(chosen), datetime.now(UTC), user=operator()
                )
                message = f"acknowledged {count} alert(s)"
            else:
                message = "select alerts first (the boxes on the left)"
            chosen = set()
        frame = alerts_data(reader, run_id, severities, kinds, bool(unacked))
        empty = None
        if frame.empty:
            empty = _empty_note(
                "No alerts match these filters."
                if (severities or kinds or unacked)
                else "No alerts in this run: nothing has needed attention."
            )
        records = _records(frame.assign(id=frame["alert_id"]))
        keep = [i for i, row in enumerate(records) if row["id"] in chosen]
        return records, keep, message, empty

    @app.callback(
        Output("hl-status", "children"),
        Output("hl-age", "children"),
        Output("hl-broker", "children"),
        Output("hl-engine", "children"),
        Output("hl-checks", "data"),
        Output("hl-cycles", "figure"),
        Output("hl-percentiles", "data"),
        Output("hl-data", "data"),
        Output("hl-tables", "data"),
        Output("hl-plugins", "data"),
        Output("hl-plugins-empty", "children"),
        Input("refresh", "n_intervals"),
        Input("run-select", "value"),
    )
    def health_page(_n: int, run_id: str | None) -> tuple:
        data = health_data(reader, run_id, settings)
        result = data["health"]
        plugins = data["plugin_errors"]
        return (
            result.status.upper(),
            "-"
            if result.heartbeat_age_seconds is None
            else f"{result.heartbeat_age_seconds:,.0f} s",
            "-"
            if result.mode is None
            else (
                "connected"
                if next(c.ok for c in result.checks if c.name == "broker")
                else "DISCONNECTED"
            ),
            "-"
            if result.run_id is None
            else f"{'running' if result.running else 'not running'} "
            f"({result.mode}, pid {result.pid})",
            [
                {"name": c.name, "ok": "yes" if c.ok else "NO", "detail": c.detail}
                for c in result.checks
            ],
            data["cycles_figure"],
            [data["percentiles"]] if data["percentiles"] else [],
            _records(data["data_quality"]),
            _records(data["tables"]),
            _records(plugins),
            None if not plugins.empty else _empty_note("No plugin errors in this run."),
        )

    return app


# -- page data (also what the benchmark renders) -----------------------------------------


def _heartbeats(reader: StoreReader) -> pd.DataFrame:
    return reader.table("heartbeat")[list(HEARTBEAT_COLUMNS)]


def overview_data(
    reader: StoreReader, run_id: str | None, settings: DashboardSettings
) -> dict[str, Any]:
    """Everything the Overview page shows."""
    account = views.account(reader, run_id)
    greeks = views.portfolio_greeks(reader, run_id)
    rows = views.position_rows(reader, run_id)
    health = evaluate(
        reader.store, settings, heartbeats=_heartbeats(reader), runs=reader.table("runs")
    )
    if run_id is None:
        empty = _empty_note(
            f"No run has written the store at {reader.root} yet. Start the engine (`v6 run` or "
            "`make run`): this page fills in as it cycles."
        )
    elif account.empty:
        empty = _empty_note("This run has not finished a cycle yet.")
    else:
        empty = None
    engine = (
        "no heartbeat"
        if health.run_id is None
        else ("running" if health.running else "not running")
    )
    return {
        "empty": empty,
        "numbers": views.overview(reader, run_id),
        "engine": engine,
        # Figures are rebuilt only when their table changed (Plotly's validation is slow).
        "netliq_figure": reader.memo(
            ("netliq", run_id), ["account_snapshots"], lambda: figures.net_liquidation(account)
        ),
        "pnl_figure": reader.memo(
            ("pnl_today", run_id), ["account_snapshots"], lambda: figures.pnl_today(account)
        ),
        "greeks_figure": reader.memo(
            ("greeks", run_id),
            ["position_risk", "positions", "runs"],
            lambda: figures.greeks_vs_limits(greeks),
        ),
        "greeks": greeks[["label", "value", "limit", "unit"]],
        "breakers": views.breakers(reader, run_id),
        "positions": rows[["position_id", "underlying", "strategy", "pnl", "dte"]],
        "regimes": views.regimes_now(reader, run_id),
    }


def position_data(reader: StoreReader, run_id: str | None, position_id: str) -> dict[str, Any]:
    """Everything one position's page shows (rebuilt only when its tables changed)."""
    detail = views.position_detail(reader, run_id, position_id)
    return reader.memo(
        ("position_page", detail["run_id"], position_id),
        ["positions", "position_risk", "decisions"],
        lambda: _position_page(detail, position_id),
    )


def _position_page(detail: dict[str, Any], position_id: str) -> dict[str, Any]:
    decisions = detail["decisions"]
    verdicts = views.verdict_table(decisions.iloc[::-1])
    if detail["position"] is None:
        return {
            "summary": _empty_note(f"No position {position_id!r} is stored in this store."),
            "marks_figure": figures.empty("Marks over time", "Unknown position."),
            "payoff_figure": figures.empty("Payoff at expiry", "Unknown position."),
            "verdicts": verdicts,
        }
    p = detail["position"]
    decisions = detail["decisions"]
    marks = detail["marks"]
    spot = None
    for frame in (marks, decisions):
        if not frame.empty and frame["spot"].notna().any():
            spot = float(frame["spot"].dropna().iloc[-1])
            break
    curve = views.payoff(detail["legs"], float(p["entry_price"]), int(p["quantity"]), spot)
    credit = -float(p["entry_price"]) * int(p["quantity"]) * 100
    kind = "credit" if credit >= 0 else "debit"
    facts = [
        f"{p['strategy']} {p['structure']} on {p['underlying']}, {int(p['quantity'])} unit(s)",
        f"legs {views.legs_text(p['legs'])}",
        f"entry {kind} ${abs(credit):,.2f}; max profit ${float(p['max_profit']):,.2f}, "
        f"max loss ${float(p['max_loss']):,.2f}",
        f"opened {views.et(p['opened_at'])}"
        + (f" in a {p['entry_regime']} regime" if isinstance(p["entry_regime"], str) else ""),
    ]
    status = f"status {p['status']}"
    if p["status"] == "closed":
        status += (
            f", closed {views.et(p['closed_at'])} by {p['exit_rule'] or '?'}, "
            f"realized P&L {_usd(float(p['realized_pnl']))}"
        )
    facts.append(status)
    if not marks.empty:
        last = marks.iloc[-1]
        pnl = last["unrealized_pnl"]
        value = _usd(float(pnl)) if pd.notna(pnl) else "unknown (no valid quotes)"
        facts.append(
            f"unrealized P&L {value} at mid, {int(last['dte'])} DTE, as of {views.et(last['time'])}"
        )
    summary = html.Ul([html.Li(f) for f in facts], id="pd-facts")
    return {
        "summary": summary,
        "marks_figure": figures.position_marks(marks, decisions),
        "payoff_figure": figures.payoff(curve, spot, str(p["underlying"])),
        "verdicts": verdicts,
    }


def alerts_data(
    reader: StoreReader,
    run_id: str | None,
    severities: list[str] | None = None,
    kinds: list[str] | None = None,
    unacknowledged: bool = False,
) -> pd.DataFrame:
    """The Alerts page's rows, newest first, filtered."""
    frame = views.alerts(reader, run_id)
    if severities:
        frame = frame[frame["severity"].isin(severities)]
    if kinds:
        frame = frame[frame["kind"].isin(kinds)]
    if unacknowledged:
        frame = frame[frame["acknowledged"] == ""]
    return frame.drop(columns=["time"])


def health_data(
    reader: StoreReader, run_id: str | None, settings: DashboardSettings
) -> dict[str, Any]:
    """Everything the Health page shows."""
    cycles = views.cycle_seconds(reader, run_id)
    stats = percentiles(1000 * cycles["cycle_seconds"].astype(float)) if not cycles.empty else {}
    if stats:
        stats = {k: round(v, 1) for k, v in stats.items()} | {"cycles": len(cycles)}
    return {
        "health": evaluate(
            reader.store, settings, heartbeats=_heartbeats(reader), runs=reader.table("runs")
        ),
        "cycles_figure": reader.memo(
            ("cycles", run_id), ["heartbeat"], lambda: figures.cycle_durations(cycles)
        ),
        "percentiles": stats,
        "data_quality": views.data_quality(reader, run_id),
        "tables": views.table_sizes(reader),
        "plugin_errors": views.plugin_errors(reader, run_id),
    }


def _require_login(server: Any, credentials: tuple[str, str]) -> None:
    """HTTP basic authentication on every request (constant-time comparison)."""
    want_user, want_password = credentials

    @server.before_request
    def login() -> Response | None:
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                user, password = "", ""
            if hmac.compare_digest(user.encode(), want_user.encode()) and hmac.compare_digest(
                password.encode(), want_password.encode()
            ):
                return None
        return Response(
            "V6 dashboard: login required\n",
            status=401,
            headers={"WWW-Authenticate": 'Basic realm="V6 dashboard", charset="UTF-8"'},
        )
