"""Each page's content computed from the tables: numbers, frames, Plotly figures.

No callbacks here: the app's callbacks turn these into component properties, the
benchmark times them on a year of cycles, and the tests compare them with the tables.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from dash import html

from dash_app import figures, futures_views, prediction_views, views
from dash_app.data import StoreReader
from dash_app.layouts import empty_note
from v6.config import DashboardSettings
from v6.health import HEARTBEAT_COLUMNS, evaluate, percentiles


def _usd(value: float) -> str:
    """+$1,234.50 / -$5.50: signed dollars as a trader writes them."""
    return f"{'-' if value < 0 else '+'}${abs(value):,.2f}"


def heartbeats(reader: StoreReader) -> pd.DataFrame:
    return reader.table("heartbeat")[list(HEARTBEAT_COLUMNS)]


def overview_data(
    reader: StoreReader, run_id: str | None, settings: DashboardSettings
) -> dict[str, Any]:
    """Everything the Overview page shows."""
    account = views.account(reader, run_id)
    greeks = views.portfolio_greeks(reader, run_id)
    rows = views.position_rows(reader, run_id)
    health = evaluate(
        reader.store, settings, heartbeats=heartbeats(reader), runs=reader.table("runs")
    )
    if run_id is None:
        empty = empty_note(
            f"No run has written the store at {reader.root} yet. Start the engine (`v6 run` or "
            "`make run`): this page fills in as it cycles."
        )
    elif account.empty:
        empty = empty_note("This run has not finished a cycle yet.")
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
        "greeks": greeks[["label", "value", "limit", "unit", "status"]],
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
            "summary": empty_note(f"No position {position_id!r} is stored in this store."),
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
    units = int(p["held"])
    curve = views.payoff(detail["legs"], float(p["entry_price"]), units, spot)
    credit = -float(p["entry_price"]) * units * 100
    kind = "credit" if credit >= 0 else "debit"
    facts = [
        f"{p['strategy']} {p['structure']} on {p['underlying']}, {units} unit(s)",
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
            reader.store, settings, heartbeats=heartbeats(reader), runs=reader.table("runs")
        ),
        "cycles_figure": reader.memo(
            ("cycles", run_id), ["heartbeat"], lambda: figures.cycle_durations(cycles)
        ),
        "percentiles": stats,
        "data_quality": views.data_quality(reader, run_id),
        "tables": views.table_sizes(reader),
        "plugin_errors": views.plugin_errors(reader, run_id),
    }


MONEY_COLUMNS = ("mae", "mse", "rmse", "bias", "mean_expected_pnl", "mean_realized_pnl")
RATIO_COLUMNS = ("brier", "win_rate", "mean_pop", "mean_predicted", "share")


def rounded(frame: pd.DataFrame) -> pd.DataFrame:
    """Dollars to the cent, ratios to three places (as ``v6 predictions report`` prints
    them), ``too_small`` as the report's ``TOO FEW``."""
    out = frame.copy()
    for column in out.columns:
        if column in MONEY_COLUMNS:
            out[column] = out[column].astype(float).round(2)
        elif column in RATIO_COLUMNS:
            out[column] = out[column].astype(float).round(3)
    if "too_small" in out:
        out["too_small"] = out["too_small"].map(lambda v: "TOO FEW" if v else "")
    return out


def predictions_data(
    reader: StoreReader, run_id: str | None, every_run: bool = True
) -> dict[str, Any]:
    """Everything the Predictions page shows: every run's predictions (what ``v6
    predictions report`` grades), or with ``every_run=False`` the chosen run's."""
    scope = None if every_run else run_id
    if not every_run and run_id is None:
        scope = ""  # no run chosen: nothing of any run
    found = prediction_views.counts(reader, scope)
    text = prediction_views.empty_text(found)
    key = ("predictions_page", scope)
    tables = ["predictions", "sim_truth"]
    return {
        "empty": None if text is None else empty_note(text),
        "counts": found,
        "scatter_figure": reader.memo(
            (*key, "scatter"),
            tables,
            lambda: figures.predicted_vs_realised(prediction_views.graded(reader, scope)),
        ),
        "calibration_figure": reader.memo(
            (*key, "calibration"),
            tables,
            lambda: figures.calibration(prediction_views.calibration(reader, scope)),
        ),
        "confusion_figure": reader.memo(
            (*key, "confusion"),
            ["regimes", "sim_truth"],
            lambda: figures.regime_confusion(prediction_views.confusion(reader, scope)),
        ),
        "metrics": rounded(prediction_views.metrics(reader, scope)),
        "calibration": rounded(prediction_views.calibration(reader, scope)),
    }


def futures_data(reader: StoreReader, run_id: str | None) -> dict[str, Any]:
    """Everything the Futures page shows: the chosen run's last reading of each future,
    and the lead-lag of every run in the store (what ``v6 futures correlate`` prints)."""
    contracts = futures_views.contracts(reader, run_id)
    results = futures_views.lead_lag(reader)
    if not futures_views.settings(reader, run_id)["enabled"]:
        empty = empty_note(
            "Futures are disabled in this run's config (futures.enabled: false): no "
            "snapshots are stored. Enable them to see ES, NQ and RTY lead their ETFs."
        )
    elif contracts.empty:
        empty = empty_note(
            "No futures snapshots in this run yet: the engine stores one per future each "
            "cycle while CME trades (docs/FUTURES.md)."
            if run_id is not None
            else "No run has written this store yet: futures snapshots appear as `v6 run` cycles."
        )
    else:
        empty = None
    table = futures_views.lead_lag_table(results)
    for column in ("correlation", "hit_rate", "ic"):
        table[column] = table[column].astype(float).round(3)
    return {
        "empty": empty,
        "contracts": contracts.round(
            {c: 2 for c in ("price", "change_1h", "change_4h", "change_overnight", "change_daily")}
        ),
        "lead_lag_figure": reader.memo(
            ("lead_lag",), ["futures_snapshots"], lambda: figures.lead_lag(results)
        ),
        "lead_lag": table,
    }
