"""Acknowledged alerts: rows in ``alert_acks``, written by the dashboard.

An alert has no id column of its own (the engine writes alerts in batches, and an id
counter would be one more thing a restart must continue). Its id is derived from what
identifies it: the run that raised it, its time, source, code and message. The same alert
read twice gets the same id, so an acknowledgement written today still marks it after
every restart of the engine or the dashboard.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime

import pandas as pd

from v6.store.delta_store import DeltaStore

TABLE = "alert_acks"
_KEY = ("run_id", "time", "source", "code", "message")


def alert_id(run_id: str, time: object, source: str, code: str, message: str) -> str:
    """The stable id of one alert (16 hex digits)."""
    stamp = pd.Timestamp(time)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    text = "\x1f".join((run_id, stamp.tz_convert("UTC").isoformat(), source, code, message))
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def alert_ids(alerts: pd.DataFrame) -> pd.Series:
    """:func:`alert_id` of every row of an ``alerts`` frame (same index)."""
    if alerts.empty:
        return pd.Series([], index=alerts.index, dtype=object)
    return pd.Series(
        [alert_id(*values) for values in zip(*(alerts[c] for c in _KEY), strict=True)],
        index=alerts.index,
        dtype=object,
    )


def acknowledge(
    store: DeltaStore, ids: Iterable[str], time: datetime, *, user: str = "", note: str = ""
) -> int:
    """Store an acknowledgement of each alert in ``ids`` (committed at once); how many."""
    rows = [
        {"time": time, "alert_id": i, "user": user, "note": note, "run_id": "dashboard"}
        for i in dict.fromkeys(ids)
    ]
    if rows:
        store.append(TABLE, rows)
        store.flush([TABLE])
    return len(rows)


def acknowledged(store: DeltaStore) -> pd.DataFrame:
    """The first acknowledgement of every acknowledged alert: alert_id, time, user."""
    acks = store.read(TABLE, columns=["alert_id", "time", "user"])
    return acks.sort_values("time", kind="stable").drop_duplicates("alert_id", keep="first")
