"""The dashboard's page layouts: fixed skeletons whose tables and figures the callbacks
in :mod:`dash_app.app` fill on every refresh (so a table's sort and filter survive it).

Laid out for a laptop screen: cards in a wrapping row, two charts side by side from about
860 pixels of width, tables that scroll sideways rather than squeeze.
"""

from __future__ import annotations

from typing import Any

from dash import dash_table, dcc, html
from dash.dash_table.Format import Format

from dash_app import figures, views

PAGES = (
    ("/", "Overview"),
    ("/positions", "Positions"),
    ("/alerts", "Alerts"),
    ("/predictions", "Predictions"),
    ("/futures", "Futures"),
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


def _card(label: str, value: str, card_id: str) -> html.Div:
    return html.Div(
        [
            html.Div(label, style={"fontSize": "12px", "color": "#555"}),
            html.Div(value, id=card_id, style={"fontSize": "20px", "fontWeight": "600"}),
        ],
        style=_CARD,
    )


def empty_note(text: str, note_id: str | None = None) -> html.Div:
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
                                    ("status", "totals"),
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
    for column in columns:  # a position the engine could not value: Greeks unknown
        if column["id"] in ("beta_delta", "gamma", "vega", "theta"):
            column["format"] = Format(nully="n/a")
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


METRIC_TABLE = [
    ("strategy", "strategy"),
    ("regime", "regime at entry"),
    ("count", "graded"),
    ("mae", "MAE ($)"),
    ("mse", "MSE ($²)"),
    ("rmse", "RMSE ($)"),
    ("bias", "bias ($)"),
    ("brier", "Brier"),
    ("win_rate", "win rate"),
    ("mean_pop", "mean POP"),
    ("too_small", ""),
]


def predictions_layout() -> html.Div:
    return html.Div(
        [
            html.H2("Predictions"),
            html.Div(
                [
                    html.Label("Grade ", htmlFor="pr-scope"),
                    dcc.RadioItems(
                        id="pr-scope",
                        options=[
                            {
                                "label": " every run in the store (v6 predictions report)",
                                "value": "all",
                            },
                            {"label": " the chosen run's predictions", "value": "run"},
                        ],
                        value="all",
                        inline=True,
                        inputStyle={"marginLeft": "12px"},
                    ),
                ],
                style={"display": "flex", "alignItems": "center"},
            ),
            html.Div(
                [
                    _card("Graded (closed)", "-", "pr-graded"),
                    _card("Pending (open)", "-", "pr-pending"),
                    _card("Void", "-", "pr-void"),
                ],
                style={"display": "flex", "flexWrap": "wrap", "gap": "10px", "margin": "8px 0"},
            ),
            html.Div(id="pr-empty"),
            _grid(_graph("pr-scatter"), _graph("pr-calibration")),
            html.H4(
                "Predicted vs realised P&L by strategy and regime "
                "(error = expected - realised; bias > 0: the model expected more)"
            ),
            _table(
                "pr-metrics",
                _columns(METRIC_TABLE, {k for k, _ in METRIC_TABLE[2:-1]}),
                sort_action="native",
            ),
            _grid(
                _graph("pr-confusion"),
                html.Div(
                    [
                        html.H4("Calibration buckets"),
                        _table(
                            "pr-buckets",
                            _columns(
                                [
                                    ("bucket_low", "from"),
                                    ("bucket_high", "to"),
                                    ("count", "count"),
                                    ("mean_predicted", "mean predicted"),
                                    ("win_rate", "win rate"),
                                    ("too_small", ""),
                                ],
                                {
                                    "bucket_low",
                                    "bucket_high",
                                    "count",
                                    "mean_predicted",
                                    "win_rate",
                                },
                            ),
                        ),
                        html.Div(
                            "Groups and buckets with fewer than 30 graded predictions are "
                            "marked TOO FEW: their figures mean little.",
                            style={"fontSize": "12px", "color": "#555"},
                        ),
                    ]
                ),
            ),
        ]
    )


CONTRACT_TABLE = [
    ("symbol", "future"),
    ("etf", "leads"),
    ("local_symbol", "contract"),
    ("expiry", "expiry"),
    ("roll_date", "rolls on"),
    ("days_to_roll", "days to roll"),
    ("next_contract", "rolls to"),
    ("price", "last price"),
    ("change_1h", "1h (%)"),
    ("change_4h", "4h (%)"),
    ("change_overnight", "overnight (%)"),
    ("change_daily", "daily (%)"),
    ("time", "as of"),
]
LEAD_LAG_TABLE = [
    ("future", "future"),
    ("etf", "ETF"),
    ("best_lag", "best lag"),
    ("correlation", "correlation"),
    ("horizon", "horizon"),
    ("hit_rate", "hit rate (oos)"),
    ("ic", "IC (oos, Spearman)"),
    ("samples", "pairs"),
    ("test_samples", "test pairs"),
]


def _signed(column: str) -> list[dict[str, Any]]:
    return [
        {"if": {"filter_query": f"{{{column}}} < 0", "column_id": column}, "color": "#c0392b"},
        {"if": {"filter_query": f"{{{column}}} > 0", "column_id": column}, "color": "#1e8449"},
    ]


def futures_layout() -> html.Div:
    changes = ("change_1h", "change_4h", "change_overnight", "change_daily")
    return html.Div(
        [
            html.H2("Futures"),
            html.Div(id="fu-empty"),
            html.H4("Last reading per future (the chosen run)"),
            _table(
                "fu-contracts",
                _columns(CONTRACT_TABLE, {"days_to_roll", "price", *changes}),
                style_data_conditional=[s for c in changes for s in _signed(c)],
            ),
            html.Div(
                "Changes are percent on the ratio-adjusted series (a roll is not a move); "
                "blank: no price at the reference. The front contract rolls "
                "futures.roll_days_before_expiry days before expiry.",
                style={"fontSize": "12px", "color": "#555"},
            ),
            _grid(
                _graph("fu-leadlag"),
                html.Div(
                    [
                        html.H4("Lead-lag, every run in the store (v6 futures correlate)"),
                        _table(
                            "fu-leadlag-table",
                            _columns(
                                LEAD_LAG_TABLE,
                                {k for k, _ in LEAD_LAG_TABLE[2:]},
                            ),
                        ),
                        html.Div(
                            "best lag > 0: the future moves that many cycles before its "
                            "ETF. Hit rate and IC are out of sample (the last 30% of the "
                            "pairs, horizon chosen on the rest); blank: too few pairs to say.",
                            style={"fontSize": "12px", "color": "#555"},
                        ),
                    ]
                ),
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
