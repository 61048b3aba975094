"""``v6 explain POSITION_ID``: why a position was held or closed, from the decisions table.

Reads only the store, like every analysis tool: the position's rows in ``positions``
(its latest state) and ``decisions`` (one row per cycle with every rule's verdict).
Runs of identical decisions are folded into one line so a week of "hold" reads as one.
"""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pandas as pd

from v6.errors import V6Error
from v6.store.delta_store import DeltaStore
from v6.store.rows import in_write_order

NEW_YORK = ZoneInfo("America/New_York")


class UnknownPositionError(V6Error):
    """No decisions are stored for the position asked about (exit status 2)."""

    exit_status = 2


def _et(time: object) -> str:
    stamp = pd.Timestamp(time)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return f"{stamp.tz_convert(NEW_YORK):%Y-%m-%d %H:%M} ET"


def _verdicts(text: object) -> list[dict[str, object]]:
    if not isinstance(text, str) or not text:
        return []
    return json.loads(text)


def _not_found(store: DeltaStore, position_id: str) -> UnknownPositionError:
    known = store.read("positions", columns=["position_id", "time"])
    recent = (
        known.sort_values("time").drop_duplicates("position_id", keep="last")["position_id"]
        if not known.empty
        else pd.Series(dtype=str)
    )
    hint = ", ".join(recent.tail(5)) or "none stored"
    return UnknownPositionError(
        f"no decisions stored for position {position_id!r} in {store.root}; "
        f"most recent positions: {hint}"
    )


def explain(store: DeltaStore, position_id: str, *, history: int = 20) -> str:
    """The report ``v6 explain`` prints: state, folded decision history, last verdicts.

    Both tables are verified first: a filtered read skips files whose statistics rule
    them out, so a missing file would otherwise leave a silently shorter history.
    """
    for table in ("decisions", "positions"):
        store.verify(table)
    decisions = store.read("decisions", filters=[("position_id", "=", position_id)])
    if decisions.empty:
        raise _not_found(store, position_id)
    lines = [f"position {position_id}"]
    positions = in_write_order(store.read("positions", filters=[("position_id", "=", position_id)]))
    used_by = sorted(set(decisions["run_id"]) | set(positions["run_id"]))
    if len(used_by) > 1:
        # Stores written before ids were numbered per store can hold one id from several
        # runs: never mix their histories; show the run that wrote the id last.
        run = positions["run_id"].iloc[-1] if not positions.empty else decisions["run_id"].iloc[-1]
        decisions = decisions[decisions["run_id"] == run]
        positions = positions[positions["run_id"] == run]
        lines.append(
            f"  note: {len(used_by)} runs of this store used this id (written before ids "
            f"were unique per store); showing run {run}, the last to write it"
        )
    decisions = decisions.sort_values("time", kind="stable")
    if not positions.empty:
        p = positions.iloc[-1]
        lines.append(
            f"  {p['strategy']} {p['structure']} on {p['underlying']}, "
            f"entry {p['entry_price']:+.2f}/share, opened {_et(p['opened_at'])}"
            + (f" in a {p['entry_regime']} regime" if p.get("entry_regime") else "")
        )
        status = f"  status {p['status']}"
        if p["status"] == "closed":
            status += (
                f" by {p.get('exit_rule') or '?'} at {_et(p['closed_at'])}, "
                f"realized P&L {p['realized_pnl']:+.2f}"
            )
        lines.append(status)
        legs = ", ".join(f"{leg['key']} x{leg['ratio']:+d}" for leg in json.loads(p["legs"]))
        lines.append(f"  legs {legs}")

    runs: list[tuple[datetime, datetime, int, pd.Series]] = []
    for row in decisions.itertuples(index=False):
        key = (row.rule, row.action, row.reason if row.action == "close" else "")
        if runs and runs[-1][3] == key:
            first, _, count, _ = runs[-1]
            runs[-1] = (first, row.time, count + 1, key)
        else:
            runs.append((row.time, row.time, 1, key))
    shown = runs[-history:]
    lines.append("")
    lines.append(
        f"decision history ({len(decisions)} cycles"
        + (f", last {len(shown)} of {len(runs)} runs" if len(runs) > len(shown) else "")
        + "):"
    )
    last_reason = dict(zip(decisions["time"], decisions["reason"], strict=False))
    for first, last, count, (rule, action, _) in shown:
        span = _et(first) if count == 1 else f"{_et(first)} .. {_et(last)} ({count} cycles)"
        lines.append(f"  {span}  {action.upper():5}  {rule}: {last_reason[last]}")

    final = decisions.iloc[-1]
    lines.append("")
    lines.append(
        f"every rule's verdict at {_et(final['time'])}"
        + (f" (regime {final['regime']})" if final.get("regime") else "")
        + ":"
    )
    verdicts = _verdicts(final.get("verdicts"))
    if not verdicts:
        lines.append(f"  {final['priority']:>3}  {final['rule']:<20} {final['action'].upper()}")
    decided = False
    for v in verdicts:
        if v.get("error"):
            text = f"ERROR  {v['error']}"
        elif v.get("action") is None:
            text = "no opinion"
        else:
            text = f"{str(v['action']).upper():5}  {v['reason']}"
            if not decided:
                text += "   <= decided"
                decided = True
            else:
                text += "   (outranked)"
        lines.append(f"  {v['priority']:>3}  {v['rule']:<20} {text}")
    return "\n".join(lines)
