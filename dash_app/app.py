"""The Dash app: pages, refresh, the two operator writes, ``GET /health`` and the login.

Pages (client-side routes): ``/`` Overview, ``/positions`` and ``/positions/<id>``,
``/alerts``, ``/predictions``, ``/futures``, ``/system`` Health. Each page's layout is
fixed and its callbacks refill its tables and figures on every tick of the refresh
interval, so a table's sorting and filtering survive a refresh. Layouts are in
:mod:`dash_app.layouts`, what each page shows in :mod:`dash_app.pages` (numbers from
:mod:`dash_app.views`, :mod:`dash_app.prediction_views` and
:mod:`dash_app.futures_views`, figures from :mod:`dash_app.figures`), the login in
:mod:`dash_app.auth`.

Writes: "Acknowledge selected" on the Alerts page (rows in ``alert_acks``) and the "Halt
entries" / "Resume entries" switch (rows in ``manual_commands``, obeyed by the running
engine at its next cycle through the ``manual_halt`` breaker). Nothing else; no orders.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import dash
import pandas as pd
from dash import Input, Output, State, ctx, dcc, html
from flask import Response, request

from dash_app import views
from dash_app.auth import require_local_host, require_login
from dash_app.data import StoreReader
from dash_app.layouts import (
    PAGES,
    alerts_layout,
    empty_note,
    futures_layout,
    health_layout,
    not_found_layout,
    overview_layout,
    position_layout,
    positions_layout,
    predictions_layout,
)
from dash_app.pages import (
    alerts_data,
    futures_data,
    health_data,
    heartbeats,
    overview_data,
    position_data,
    predictions_data,
)
from v6.config import DashboardSettings
from v6.config_rules import is_loopback
from v6.errors import V6Error
from v6.health import evaluate
from v6.risk.manual_halt import HALT, RESUME

log = logging.getLogger(__name__)


def _guarded(
    count: int, note_at: int | None, note: Callable[[str], Any] | None = None
) -> Callable[[Callable[..., tuple]], Callable[..., tuple]]:
    """A page callback that meets a store it cannot read (a damaged table, no permission)
    says so on the page, in one line naming the table, instead of failing the request.
    ``count`` outputs; the message goes to output ``note_at`` (None: nowhere), the rest
    are left as they were."""

    def wrap(fn: Callable[..., tuple]) -> Callable[..., tuple]:
        @functools.wraps(fn)
        def callback(*args: Any) -> tuple:
            try:
                return fn(*args)
            except V6Error as exc:
                log.warning("dashboard: %s", exc)
                out: list[Any] = [dash.no_update] * count
                if note_at is not None:
                    text = f"Cannot read the store: {exc}"
                    out[note_at] = (note or _error_note)(text)
                return tuple(out)

        return callback

    return wrap


def _error_note(text: str) -> html.Div:
    return html.Div(text, className="store-error", style={"color": "#c0392b", "padding": "6px 0"})


def _money(value: Any, sign: bool = False) -> str:
    if value is None or pd.isna(value):
        return "-"
    return f"{value:+,.2f}" if sign else f"{value:,.2f}"


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Frame rows for a DataTable: NaN as empty, times as ET text."""
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[column]):
            out[column] = out[column].map(views.et)
    return json.loads(out.to_json(orient="records", date_format="iso"))


# -- the app -----------------------------------------------------------------------------


def create_app(
    reader: StoreReader,
    settings: DashboardSettings,
    *,
    credentials: tuple[str, str] | None = None,
    user: str = "",
) -> dash.Dash:
    """The dashboard for ``reader``'s store. With ``credentials`` (user, password) every
    request, ``/health`` included, needs HTTP basic authentication (401 without); without
    them on loopback, a request whose ``Host`` is not this machine is refused (403)."""
    app = dash.Dash(
        __name__,
        title="V6 dashboard",
        suppress_callback_exceptions=True,
        update_title=None,
        serve_locally=True,
    )
    server = app.server
    if credentials is not None:
        require_login(server, credentials)
    elif is_loopback(settings.host):
        require_local_host(server)  # no login: at least no DNS rebinding

    @server.route("/health")
    def health() -> Response:
        result = evaluate(
            reader.store, settings, heartbeats=heartbeats(reader), runs=reader.table("runs")
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
        if path == "/predictions":
            return predictions_layout()
        if path == "/futures":
            return futures_layout()
        if path == "/system":
            return health_layout()
        return not_found_layout(path)

    @app.callback(
        Output("run-select", "options"),
        Output("run-select", "value"),
        Input("refresh", "n_intervals"),
        State("run-select", "value"),
    )
    @_guarded(2, None)
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
    @_guarded(4, 0, str)
    def halt_switch(_h: int, _r: int, _n: int, run_id: str | None, reason: str | None) -> tuple:
        clicked = ctx.triggered_id
        if clicked in ("halt-button", "resume-button"):
            command = HALT if clicked == "halt-button" else RESUME
            reader.issue_command(
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
    @_guarded(14, 0)
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
    @_guarded(2, 1)
    def positions(_n: int, run_id: str | None, scope: str) -> tuple:
        rows = views.position_rows(reader, run_id, closed=scope == "all")
        if rows.empty:
            note = empty_note(
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
    @_guarded(4, 0)
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
    @_guarded(4, 3)
    def alerts(_n, run_id, severities, kinds, unacked, _clicks, selected) -> tuple:
        # Rows are selected by alert id, never by position: a new alert arriving between
        # a tick and the click moves every row down one.
        message = dash.no_update
        chosen = set(selected or [])
        if ctx.triggered_id == "al-ack":
            if chosen:
                count = reader.acknowledge(sorted(chosen), datetime.now(UTC), user=operator())
                message = f"acknowledged {count} alert(s)"
            else:
                message = "select alerts first (the boxes on the left)"
            chosen = set()
        frame = alerts_data(reader, run_id, severities, kinds, bool(unacked))
        empty = None
        if frame.empty:
            empty = empty_note(
                "No alerts match these filters."
                if (severities or kinds or unacked)
                else "No alerts in this run: nothing has needed attention."
            )
        records = _records(frame.assign(id=frame["alert_id"]))
        keep = [i for i, row in enumerate(records) if row["id"] in chosen]
        return records, keep, message, empty

    @app.callback(
        Output("pr-empty", "children"),
        Output("pr-graded", "children"),
        Output("pr-pending", "children"),
        Output("pr-void", "children"),
        Output("pr-scatter", "figure"),
        Output("pr-calibration", "figure"),
        Output("pr-confusion", "figure"),
        Output("pr-metrics", "data"),
        Output("pr-buckets", "data"),
        Input("refresh", "n_intervals"),
        Input("run-select", "value"),
        Input("pr-scope", "value"),
    )
    @_guarded(9, 0)
    def predictions(_n: int, run_id: str | None, scope: str) -> tuple:
        data = predictions_data(reader, run_id, every_run=scope != "run")
        counts = data["counts"]
        return (
            data["empty"],
            str(counts["graded"]),
            str(counts["pending"]),
            str(counts["void"]),
            data["scatter_figure"],
            data["calibration_figure"],
            data["confusion_figure"],
            _records(data["metrics"]),
            _records(data["calibration"]),
        )

    @app.callback(
        Output("fu-empty", "children"),
        Output("fu-contracts", "data"),
        Output("fu-leadlag", "figure"),
        Output("fu-leadlag-table", "data"),
        Input("refresh", "n_intervals"),
        Input("run-select", "value"),
    )
    @_guarded(4, 0)
    def futures(_n: int, run_id: str | None) -> tuple:
        data = futures_data(reader, run_id)
        return (
            data["empty"],
            _records(data["contracts"]),
            data["lead_lag_figure"],
            _records(data["lead_lag"]),
        )

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
    @_guarded(11, 10)
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
            None if not plugins.empty else empty_note("No plugin errors in this run."),
        )

    return app
