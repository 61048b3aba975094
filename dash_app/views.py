"""Each page's numbers, computed from the tables (no Dash here: tested and benchmarked
without a browser, and the browser tests compare what the pages show against them).

Every function takes a :class:`~dash_app.data.StoreReader` and the run being looked at
(``run_id``; a store can hold many sim runs that simulate the same dates) and returns
plain frames and dicts. An empty or partial store gives empty frames, never an error.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import yaml

from dash_app.data import StoreReader, cached
from v6.alert_acks import alert_ids
from v6.config import BREAKER_NAMES
from v6.risk.manual_halt import BREAKER as MANUAL_HALT
from v6.risk.manual_halt import HALT, applied_in
from v6.store.rows import in_write_order

NEW_YORK = ZoneInfo("America/New_York")
LIVE_STATUSES = ("opening", "open", "closing")
GREEK_LIMITS = (
    ("beta_delta", "Beta-weighted delta", "max_abs_beta_delta", "SPY shares"),
    ("gamma", "Gamma", "max_abs_gamma", "shares per $1"),
    ("vega", "Vega", "max_abs_vega", "$ per vol point"),
    ("theta", "Theta", None, "$ per day"),
)
ALERT_SOURCES = ("plugin", "breaker", "broker", "data quality", "engine")


# -- runs ------------------------------------------------------------------------------


@cached("runs")
def runs(reader: StoreReader) -> pd.DataFrame:
    """One row per run, newest first: run_id, mode, started, ended, state, message."""
    frame = reader.table("runs")
    if frame.empty:
        return pd.DataFrame(columns=["run_id", "mode", "started", "ended", "state", "message"])
    frame = frame.sort_values("time", kind="stable")
    out = []
    for run_id, group in frame.groupby("run_id", sort=False):
        start = group[group["event"] == "start"]
        last = group.iloc[-1]
        out.append(
            {
                "run_id": run_id,
                "mode": str(last["mode"]),
                "started": start["time"].iloc[0] if not start.empty else group["time"].iloc[0],
                "ended": last["time"] if last["event"] != "start" else pd.NaT,
                "state": "running" if last["event"] == "start" else str(last["event"]),
                "message": str(last["message"]),
            }
        )
    return pd.DataFrame(out).sort_values("started", ascending=False, kind="stable")


def latest_run(reader: StoreReader) -> str | None:
    """The run started last, None for a store no run has written."""
    table = runs(reader)
    return None if table.empty else str(table["run_id"].iloc[0])


@cached("runs")
def run_config(reader: StoreReader, run_id: str | None) -> dict[str, Any]:
    """The effective config the run recorded at its start ({} if unknown)."""
    frame = reader.table("runs")
    if run_id is None or frame.empty:
        return {}
    mine = frame[(frame["run_id"] == run_id) & (frame["event"] == "start")]
    if mine.empty:
        return {}
    try:
        config = yaml.safe_load(mine["config"].iloc[0])
    except yaml.YAMLError:
        return {}
    return config if isinstance(config, dict) else {}


def _of_run(frame: pd.DataFrame, run_id: str | None) -> pd.DataFrame:
    if run_id is None:
        return frame.iloc[0:0]
    return frame[frame["run_id"] == run_id]


def et(time: Any) -> str:
    """A time as a trader reads it: New York time."""
    if time is None or pd.isna(time):
        return "-"
    stamp = pd.Timestamp(time)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return f"{stamp.tz_convert(NEW_YORK):%Y-%m-%d %H:%M} ET"


# -- account and P&L ---------------------------------------------------------------------


@cached("account_snapshots")
def account(reader: StoreReader, run_id: str | None) -> pd.DataFrame:
    """The run's account snapshots by time, with ``pnl`` since its first snapshot and
    ``pnl_today`` since the first snapshot of that New York trading day."""
    frame = _of_run(reader.table("account_snapshots"), run_id)
    if frame.empty:
        return frame.assign(pnl=pd.Series(dtype=float), pnl_today=pd.Series(dtype=float))
    frame = frame.sort_values(["time", "cycle"], kind="stable").reset_index(drop=True)
    first = frame["net_liquidation"].iloc[0]
    day = frame["time"].dt.tz_convert(NEW_YORK).dt.date
    day_start = frame.groupby(day)["net_liquidation"].transform("first")
    return frame.assign(
        pnl=frame["net_liquidation"] - first,
        pnl_today=frame["net_liquidation"] - day_start,
        day=day,
    )


def overview(reader: StoreReader, run_id: str | None) -> dict[str, Any]:
    """The Overview page's headline numbers."""
    acct = account(reader, run_id)
    beat = last_heartbeat(reader, run_id)
    out: dict[str, Any] = {
        "net_liquidation": None,
        "pnl_total": None,
        "pnl_today": None,
        "open_positions": len(open_positions(reader, run_id)),
        "last_cycle": None,
    }
    if not acct.empty:
        last = acct.iloc[-1]
        out.update(
            net_liquidation=float(last["net_liquidation"]),
            pnl_total=float(last["pnl"]),
            pnl_today=float(last["pnl_today"]),
            last_cycle=last["time"],
        )
    if beat is not None:
        out["last_cycle"] = beat["time"]
    return out


# -- positions ---------------------------------------------------------------------------


@cached("positions")
def latest_positions(reader: StoreReader, run_id: str | None) -> pd.DataFrame:
    """Every position of the run at its latest state (the row written last), with ``held``:
    the most units it ever held (a closed position's row says 0)."""
    frame = _of_run(reader.table("positions"), run_id)
    if frame.empty:
        return frame.assign(held=pd.Series(dtype="int64"))
    frame = in_write_order(frame)
    held = frame.groupby("position_id")["quantity"].max()
    latest = frame.drop_duplicates("position_id", keep="last").reset_index(drop=True)
    return latest.assign(held=latest["position_id"].map(held).astype("int64"))


def open_positions(reader: StoreReader, run_id: str | None) -> pd.DataFrame:
    latest = latest_positions(reader, run_id)
    return latest[latest["status"].isin(LIVE_STATUSES)] if not latest.empty else latest


def legs_text(legs: str) -> str:
    """``01-30 -P480 +P475`` for a leg list stored as JSON: the expiry once when the legs
    share it (month-day), each leg as signed ratio, right and strike."""
    try:
        items = json.loads(legs)
    except (TypeError, ValueError):
        return "?"
    if not isinstance(items, list) or not items:
        return "?"
    expiries = {str(leg.get("expiry")) for leg in items}
    parts = []
    for leg in items:
        ratio = int(leg["ratio"])
        size = "" if abs(ratio) == 1 else str(abs(ratio))
        text = f"{'+' if ratio > 0 else '-'}{size}{leg['right']}{float(leg['strike']):g}"
        if len(expiries) > 1:
            text += f" {str(leg['expiry'])[5:]}"
        parts.append(text)
    head = f"{next(iter(expiries))[5:]} " if len(expiries) == 1 else ""
    return head + " ".join(parts)


def _last_per_position(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return frame
    return frame.sort_values("time", kind="stable").drop_duplicates("position_id", keep="last")


def take_profit_threshold(config: dict[str, Any], regime: str | None) -> float | None:
    """The share of max profit the run's take-profit rule banks in ``regime``.

    ``dynamic_take_profit`` has a target per regime; ``take_profit`` one fixed target.
    None when neither rule is selected.
    """
    rules = (config.get("plugins") or {}).get("exit_rules") or {}
    if "dynamic_take_profit" in rules:
        from v6_plugins.exit_rules.dynamic_take_profit import Settings as DynamicTakeProfitSettings

        raw = (rules["dynamic_take_profit"] or {}).get("settings") or {}
        try:
            settings = DynamicTakeProfitSettings(**raw)
        except (TypeError, ValueError):
            settings = DynamicTakeProfitSettings()
        return float(settings.target(regime))
    if "take_profit" in rules:
        from v6_plugins.exit_rules.take_profit import Settings as TakeProfitSettings

        raw = (rules["take_profit"] or {}).get("settings") or {}
        try:
            return float(TakeProfitSettings(**raw).profit_fraction)
        except (TypeError, ValueError):
            return float(TakeProfitSettings().profit_fraction)
    return None


POSITION_COLUMNS = (
    "position_id",
    "underlying",
    "strategy",
    "status",
    "legs",
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
    "regime",
    "take_profit_at",
    "last_action",
    "last_rule",
    "last_reason",
    "opened",
)


@cached("positions", "position_risk", "decisions", "runs")
def position_rows(reader: StoreReader, run_id: str | None, *, closed: bool = False) -> pd.DataFrame:
    """The Positions page: one row per open position (``closed``: every position).

    Money in dollars for the whole position: ``entry_credit`` is what opening brought in
    (negative for a debit), ``current_value`` what it is worth now at mid (negative: a
    liability to buy back), ``pnl`` unrealized at mid (realized for a closed one).
    """
    latest = latest_positions(reader, run_id)
    if not closed and not latest.empty:
        latest = latest[latest["status"].isin(LIVE_STATUSES)]
    if latest.empty:
        return pd.DataFrame(columns=list(POSITION_COLUMNS))
    risk = _last_per_position(_of_run(reader.table("position_risk"), run_id))
    decisions = _last_per_position(_of_run(reader.table("decisions"), run_id))
    frame = latest.merge(
        risk.drop(columns=["time", "strategy", "underlying", "run_id"], errors="ignore"),
        on="position_id",
        how="left",
        suffixes=("", "_risk"),
    ).merge(
        decisions[["position_id", "rule", "action", "reason", "regime"]],
        on="position_id",
        how="left",
    )
    config = run_config(reader, run_id)
    mult = 100.0
    units = frame["held"].astype(float) * mult
    live = frame["status"].isin(LIVE_STATUSES)
    # An unvalued position's Greeks are unknown: shown empty ("n/a"), never 0.
    valued = live & ~unvalued(frame.assign(valid=frame["valid"].fillna(True)))
    regime = frame["regime"].where(frame["regime"].notna(), frame["entry_regime"])
    out = pd.DataFrame(
        {
            "position_id": frame["position_id"],
            "underlying": frame["underlying"],
            "strategy": frame["strategy"],
            "status": frame["status"],
            "legs": frame["legs"].map(legs_text),
            "quantity": frame["held"].astype(int),
            "entry_credit": (-frame["entry_price"] * units).round(2),
            "current_value": (-frame["mark"] * units).round(2).where(live),
            "pnl": frame["unrealized_pnl"].where(live, frame["realized_pnl"]).round(2),
            "pnl_pct": (100 * frame["pnl_fraction"]).round(1).where(live),
            "beta_delta": frame["beta_delta"].round(2).where(valued),
            "gamma": frame["gamma"].round(3).where(valued),
            "vega": frame["vega"].round(2).where(valued),
            "theta": frame["theta"].round(2).where(valued),
            "dte": frame["dte"].where(live),
            "regime": regime.fillna("-"),
            "take_profit_at": [
                None
                if (t := take_profit_threshold(config, r if isinstance(r, str) else None)) is None
                else round(100 * t)
                for r in regime
            ],
            "last_action": frame["action"].fillna("-"),
            "last_rule": frame["rule"].fillna("-"),
            "last_reason": frame["reason"].fillna(""),
            "opened": frame["opened_at"].map(et),
        }
    )
    return out.sort_values(["underlying", "position_id"], kind="stable").reset_index(drop=True)


GREEKS = ("delta", "beta_delta", "gamma", "vega", "theta")


def unvalued(risk: pd.DataFrame) -> pd.Series:
    """Rows of ``position_risk`` whose Greeks are unknown: the engine could not value the
    position (``valid`` False; an older store wrote 0 for its Greeks) or stored them null."""
    if risk.empty:
        return pd.Series(False, index=risk.index, dtype=bool)
    known = risk["valid"].astype("boolean").fillna(False).astype(bool)
    return ~known | risk[list(GREEKS)].isna().any(axis=1)


@cached("position_risk", "positions", "runs")
def portfolio_greeks(reader: StoreReader, run_id: str | None) -> pd.DataFrame:
    """The book's Greeks at the run's last cycle against the configured limits.

    Columns: greek, label, value (summed over the positions that could be valued), limit
    (None for theta, which has none), used (share of the limit, absolute), unit, and what
    the totals leave out: ``unvalued`` (open positions the engine could not value, whose
    Greeks are unknown, never counted as 0), ``unvalued_max_loss`` (their max loss, $) and
    ``status`` ("complete", or "INCOMPLETE: ..." naming both).
    """
    risk = _of_run(reader.table("position_risk"), run_id)
    limits = run_config(reader, run_id).get("limits") or {}
    missing, missing_loss = 0, 0.0
    if risk.empty:
        totals = dict.fromkeys(("beta_delta", "gamma", "vega", "theta"), 0.0)
    else:
        last = risk[risk["time"] == risk["time"].max()]
        open_ids = set(open_positions(reader, run_id)["position_id"])
        last = last[last["position_id"].isin(open_ids)]
        bad = unvalued(last)
        missing = int(bad.sum())
        missing_loss = float(last.loc[bad, "max_loss"].abs().sum())
        valued = last[~bad]
        totals = {g: float(valued[g].sum()) for g, *_ in GREEK_LIMITS}
    status = (
        "complete"
        if not missing
        else f"INCOMPLETE: {missing} position{'s' if missing > 1 else ''} unvalued "
        f"(Greeks unknown, not counted), max loss ${missing_loss:,.2f}"
    )
    rows = []
    for greek, label, key, unit in GREEK_LIMITS:
        limit = limits.get(key) if key else None
        value = totals[greek]
        rows.append(
            {
                "greek": greek,
                "label": label,
                "value": round(value, 2),
                "limit": limit,
                "used": round(abs(value) / float(limit), 4) if limit else None,
                "unit": unit,
                "unvalued": missing,
                "unvalued_max_loss": round(missing_loss, 2),
                "status": status,
            }
        )
    return pd.DataFrame(rows)


@cached("position_risk")
def greeks_history(reader: StoreReader, run_id: str | None) -> pd.DataFrame:
    """The book's Greeks summed per cycle (a line per Greek); a cycle in which a position
    could not be valued has no total (a gap in the line, not a sum that counts it as 0)."""
    risk = _of_run(reader.table("position_risk"), run_id)
    columns = ["beta_delta", "gamma", "vega", "theta"]
    if risk.empty:
        return pd.DataFrame(columns=["time", *columns])
    totals = risk.groupby("time")[columns].sum()
    gaps = unvalued(risk).groupby(risk["time"]).any()
    return totals.mask(gaps.reindex(totals.index, fill_value=False)).reset_index()


# -- one position ------------------------------------------------------------------------


@cached("positions", "position_risk", "decisions")
def position_detail(reader: StoreReader, run_id: str | None, position_id: str) -> dict[str, Any]:
    """One position: its latest row, its marks over time, its decisions (every rule's
    verdict each cycle), its legs; reads pushed down to the position's files."""
    filt = [("position_id", "=", position_id)]
    rows = reader.filtered("positions", filt)
    if run_id is not None and not rows.empty and run_id in set(rows["run_id"]):
        rows = rows[rows["run_id"] == run_id]
    elif not rows.empty:
        run_id = str(in_write_order(rows)["run_id"].iloc[-1])
        rows = rows[rows["run_id"] == run_id]
    position = None
    if not rows.empty:
        position = in_write_order(rows).iloc[-1].copy()
        position["held"] = int(rows["quantity"].max())  # a closed position's row says 0
    marks = reader.filtered("position_risk", filt)
    marks = (
        marks[marks["run_id"] == run_id].sort_values("time", kind="stable")
        if not marks.empty
        else marks
    )
    decisions = reader.filtered(
        "decisions",
        filt,
        columns=[
            "time",
            "rule",
            "priority",
            "action",
            "reason",
            "regime",
            "verdicts",
            "unrealized_pnl",
            "spot",
            "run_id",
        ],
    )
    if not decisions.empty:
        decisions = decisions[decisions["run_id"] == run_id].sort_values("time", kind="stable")
    legs = json.loads(position["legs"]) if position is not None else []
    return {
        "position": position,
        "marks": marks,
        "decisions": decisions,
        "legs": legs,
        "run_id": run_id,
    }


def verdict_table(decisions: pd.DataFrame) -> pd.DataFrame:
    """Every rule's verdict in every cycle, as ``v6 explain`` shows the last one: time,
    priority, rule, verdict (CLOSE/HOLD/no opinion/ERROR), reason, and whether it decided."""
    rows = []
    for decision in decisions.itertuples(index=False):
        verdicts = (
            json.loads(decision.verdicts)
            if isinstance(decision.verdicts, str) and decision.verdicts
            else []
        )
        if not verdicts:
            verdicts = [
                {
                    "rule": decision.rule,
                    "priority": decision.priority,
                    "action": decision.action,
                    "reason": decision.reason,
                    "error": None,
                }
            ]
        decided = False
        for v in verdicts:
            if v.get("error"):
                verdict, note = "ERROR", str(v["error"])
            elif v.get("action") is None:
                verdict, note = "no opinion", ""
            else:
                verdict, note = str(v["action"]).upper(), str(v.get("reason") or "")
            outcome = ""
            if verdict not in ("ERROR", "no opinion"):
                outcome = "decided" if not decided else "outranked"
                decided = True
            rows.append(
                {
                    "time": et(decision.time),
                    "priority": int(v.get("priority", 0)),
                    "rule": str(v.get("rule")),
                    "verdict": verdict,
                    "reason": note,
                    "outcome": outcome,
                }
            )
    return pd.DataFrame(rows, columns=["time", "priority", "rule", "verdict", "reason", "outcome"])


def payoff(
    legs: list[dict[str, Any]], entry_price: float, quantity: int, spot: float | None
) -> pd.DataFrame:
    """The position's P&L at expiry in dollars over a range of underlying prices."""
    from v6.pricing.payoff import expiry_payoff

    strikes = np.array([float(leg["strike"]) for leg in legs])
    if not len(strikes):
        return pd.DataFrame(columns=["price", "pnl"])
    is_call = np.array([leg["right"] == "C" for leg in legs])
    ratio = np.array([float(leg["ratio"]) for leg in legs])
    mult = float(legs[0].get("multiplier", 100))
    lo, hi = strikes.min(), strikes.max()
    centre = spot if spot is not None and np.isfinite(spot) else (lo + hi) / 2
    width = max(hi - lo, 0.05 * centre)
    prices = np.linspace(min(lo, centre) - width, max(hi, centre) + width, 241)
    prices = prices[prices > 0]
    pnl = (expiry_payoff(strikes, is_call, ratio, prices) - entry_price) * mult * quantity
    return pd.DataFrame({"price": prices, "pnl": pnl})


# -- regimes and breakers ----------------------------------------------------------------


@cached("regimes")
def regimes_now(reader: StoreReader, run_id: str | None) -> pd.DataFrame:
    """The last reading per underlying and detector: underlying, detector, regime, reason, time."""
    frame = _of_run(reader.table("regimes"), run_id)
    if frame.empty:
        return pd.DataFrame(columns=["underlying", "detector", "regime", "reason", "time"])
    frame = frame.assign(detector=frame["detector"].fillna("-"))
    last = frame.sort_values("time", kind="stable").drop_duplicates(
        ["underlying", "detector"], keep="last"
    )
    last = last.assign(time=last["time"].map(et))
    return (
        last[["underlying", "detector", "regime", "reason", "time"]]
        .sort_values(["underlying", "detector"])
        .reset_index(drop=True)
    )


def last_heartbeat(reader: StoreReader, run_id: str | None) -> pd.Series | None:
    beats = _of_run(reader.table("heartbeat"), run_id)
    if beats.empty:
        return None
    return beats.sort_values("written_at", kind="stable").iloc[-1]


@cached("breaker_events", "heartbeat")
def breakers(reader: StoreReader, run_id: str | None) -> pd.DataFrame:
    """Every breaker's state in the run: at its last cycle (heartbeat), with the reason
    and time of the trip that holds it; a halt or resume the engine has not applied yet
    is shown as pending."""
    events = _of_run(reader.table("breaker_events"), run_id).sort_values("time", kind="stable")
    beat = last_heartbeat(reader, run_id)
    tripped = set(str(beat["tripped_breakers"]).split(",")) - {""} if beat is not None else set()
    if beat is None:  # no heartbeat (an older store): replay the events
        for e in events.itertuples(index=False):
            if e.event == "trip":
                tripped.add(e.breaker)
            elif e.event in ("reset", "reset_request"):
                tripped.discard(e.breaker)
    rows = []
    for name in BREAKER_NAMES:
        trips = events[(events["breaker"] == name) & (events["event"] == "trip")]
        last_trip = trips.iloc[-1] if not trips.empty else None
        rows.append(
            {
                "breaker": name,
                "state": "TRIPPED" if name in tripped else "ok",
                "since": et(last_trip["time"]) if name in tripped and last_trip is not None else "",
                "reason": str(last_trip["reason"])
                if name in tripped and last_trip is not None
                else "",
            }
        )
    return pd.DataFrame(rows)


@cached("breaker_events", "heartbeat", "manual_commands")
def halt_state(reader: StoreReader, run_id: str | None) -> dict[str, Any]:
    """The manual halt as the switch shows it: ``halted`` (the engine's breaker at its last
    cycle), ``pending`` (a command not applied yet: "halt" or "resume") and the text."""
    table = breakers(reader, run_id)
    halted = bool((table["breaker"].eq(MANUAL_HALT) & table["state"].eq("TRIPPED")).any())
    commands = reader.table("manual_commands").sort_values("time", kind="stable")
    pending = None
    if not commands.empty:
        last = commands.iloc[-1]
        if last["command_id"] not in applied_in(reader.table("breaker_events")):
            pending = "halt" if last["command"] == HALT else "resume"
    if pending == "halt":
        text = "halt requested: the engine applies it at its next cycle"
    elif pending == "resume":
        text = "resume requested: the engine applies it at its next cycle"
    elif halted:
        text = "entries HALTED by hand (no new positions; exits go on)"
    else:
        text = "entries allowed"
    return {"halted": halted, "pending": pending, "text": text}


# -- alerts ------------------------------------------------------------------------------


def alert_kind(source: str, code: str) -> str:
    """What raised an alert, as the Alerts page filters it: plugin (a plugin failing, an
    exit rule or strike selector asking for attention), breaker, broker (orders, fills,
    positions out of sync, recovery), data quality (quotes, regime readings) or engine."""
    code = code or ""
    if code.startswith(("plugin_", "exit_")) or code == "strike_selection":
        return "plugin"
    if source == "breakers" or code.startswith("breaker_"):
        return "breaker"
    if source in ("sync", "execution", "book", "recovery", "broker", "ib") or "commission" in code:
        return "broker"
    if code.startswith("regime_") or "quote" in code or "stale" in code or "data" in code:
        return "data quality"
    return "engine"


@cached("alerts", "alert_acks")
def alerts(reader: StoreReader, run_id: str | None) -> pd.DataFrame:
    """The run's alerts, newest first, with their kind, id and acknowledgement."""
    frame = _of_run(reader.table("alerts"), run_id)
    columns = [
        "alert_id",
        "time",
        "when",
        "severity",
        "kind",
        "source",
        "code",
        "message",
        "acknowledged",
    ]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    frame = frame.sort_values("time", ascending=False, kind="stable").reset_index(drop=True)
    acks = reader.table("alert_acks")
    acked = acks.sort_values("time", kind="stable").drop_duplicates("alert_id", keep="first")
    by_id = dict(zip(acked["alert_id"], acked["time"], strict=True))
    ids = alert_ids(frame)
    return pd.DataFrame(
        {
            "alert_id": ids,
            "time": frame["time"],
            "when": frame["time"].map(et),
            "severity": frame["severity"],
            "kind": [alert_kind(s, c) for s, c in zip(frame["source"], frame["code"], strict=True)],
            "source": frame["source"],
            "code": frame["code"],
            "message": frame["message"],
            "acknowledged": ["yes " + et(by_id[i]) if i in by_id else "" for i in ids],
        }
    )[columns]


# -- health ------------------------------------------------------------------------------


@cached("heartbeat")
def cycle_seconds(reader: StoreReader, run_id: str | None, last: int = 2000) -> pd.DataFrame:
    """The run's last ``last`` cycles: time and wall seconds each took."""
    beats = _of_run(reader.table("heartbeat"), run_id)
    if beats.empty:
        return pd.DataFrame(columns=["time", "cycle", "cycle_seconds"])
    # Rows written while the engine waited repeat their cycle: count each cycle once.
    beats = beats.sort_values("written_at", kind="stable").drop_duplicates("cycle")
    return beats.tail(last)[["time", "cycle", "cycle_seconds"]]


@cached("data_quality", "heartbeat", "runs")
def data_quality(reader: StoreReader, run_id: str | None) -> pd.DataFrame:
    """Per underlying: whether its data was usable at the last cycle and the last cycle it
    was (how stale the data the engine trades on is), rejected quotes at the last cycle
    and over the run, the last time any were rejected, and why."""
    frame = _of_run(reader.table("data_quality"), run_id)
    beats = _of_run(reader.table("heartbeat"), run_id)
    beat = last_heartbeat(reader, run_id)
    unusable = (
        set(str(beat["unusable_underlyings"]).split(",")) - {""} if beat is not None else set()
    )
    config = run_config(reader, run_id)
    symbols = list(config.get("underlyings") or [])
    rejected = frame[frame["reason"] != "repaired_greeks"] if not frame.empty else frame
    seen = [] if rejected.empty else list(rejected["underlying"].unique())
    for symbol in [*seen, *sorted(unusable)]:
        if symbol not in symbols:
            symbols.append(symbol)
    last_time = (
        beat["time"] if beat is not None else (frame["time"].max() if not frame.empty else None)
    )
    rows = []
    for symbol in symbols:
        mine = rejected[rejected["underlying"] == symbol] if not rejected.empty else rejected
        reasons = (
            mine.groupby("reason")["count"].sum().sort_values(ascending=False)
            if not mine.empty
            else pd.Series(dtype=int)
        )
        rows.append(
            {
                "underlying": symbol,
                "usable": "no" if symbol in unusable else "yes",
                "last_usable": et(
                    beats.loc[
                        ~beats["unusable_underlyings"]
                        .str.split(",")
                        .map(lambda u, s=symbol: s in u),
                        "time",
                    ].max()
                )
                if not beats.empty
                else "-",
                "rejected_last_cycle": int(mine.loc[mine["time"] == last_time, "count"].sum())
                if not mine.empty
                else 0,
                "rejected_total": int(mine["count"].sum()) if not mine.empty else 0,
                "last_rejection": et(mine["time"].max()) if not mine.empty else "-",
                "reasons": ", ".join(f"{r} {int(n)}" for r, n in reasons.items()) or "-",
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "underlying",
            "usable",
            "last_usable",
            "rejected_last_cycle",
            "rejected_total",
            "last_rejection",
            "reasons",
        ],
    )


def table_sizes(reader: StoreReader) -> pd.DataFrame:
    """Every table: data files, size on disk (MB), and its last commit (wall clock).

    Walks the table directories (thousands of chain snapshot files in a long-lived
    store), so at most every 30 seconds.
    """
    return reader.memo(("table_sizes",), (), lambda: _table_sizes(reader), ttl=30.0)


def _table_sizes(reader: StoreReader) -> pd.DataFrame:
    from v6.store.schemas import TABLES

    rows = []
    for name in TABLES:
        root = reader.store.path(name)
        if not root.is_dir():
            rows.append({"table": name, "files": 0, "size_mb": 0.0, "last_write": "never written"})
            continue
        files = size = 0
        for path in root.rglob("*.parquet"):
            if "_delta_log" in path.parts:
                continue
            files += 1
            size += path.stat().st_size
        log = root / "_delta_log"
        commits = list(log.glob("*.json")) if log.is_dir() else []
        last = max((p.stat().st_mtime for p in commits), default=None)
        rows.append(
            {
                "table": name,
                "files": files,
                "size_mb": round(size / 1e6, 3),
                "last_write": et(datetime.fromtimestamp(last, UTC)) if last else "never written",
            }
        )
    return pd.DataFrame(rows)


@cached("alerts", "alert_acks")
def plugin_errors(reader: StoreReader, run_id: str | None) -> pd.DataFrame:
    """Plugin failure alerts of the run, newest first."""
    frame = alerts(reader, run_id)
    if frame.empty:
        return frame[["when", "source", "code", "message"]]
    return frame.loc[frame["kind"] == "plugin", ["when", "source", "code", "message"]]
