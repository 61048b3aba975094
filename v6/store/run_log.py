"""The ``runs`` table as the sessions' log: start, stop, and runs that never stopped.

Every session writes a ``start`` row when it begins and a ``stop`` row when it ends in
order. A run with a start and no stop was killed or crashed: whatever it had buffered and
not flushed is lost. The next session on the store (which holds the writer lock, so no
other session can still be running) finds such runs and adds a ``crashed`` row for each,
so the store says what happened instead of leaving a run open forever.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from v6.store.delta_store import DeltaStore

TABLE = "runs"
CLOSING_EVENTS = ("stop", "crashed")
"""Events that end a run; a run with a ``start`` and none of these is unfinished."""


def unfinished_runs(store: DeltaStore) -> pd.DataFrame:
    """The start rows of runs that have no stop or crashed row, oldest first."""
    events = store.read(TABLE, columns=["run_id", "event"])
    if events.empty:
        return pd.DataFrame(columns=["time", "run_id", "mode", "config", "seed"])
    ended = set(events.loc[events["event"].isin(CLOSING_EVENTS), "run_id"])
    open_ids = sorted(set(events.loc[events["event"] == "start", "run_id"]) - ended)
    if not open_ids:
        return pd.DataFrame(columns=["time", "run_id", "mode", "config", "seed"])
    starts = store.read(
        TABLE,
        columns=["time", "run_id", "mode", "config", "seed", "event"],
        filters=[("run_id", "in", open_ids), ("event", "=", "start")],
    )
    starts = starts.sort_values("time", kind="stable").drop_duplicates("run_id")
    return starts.drop(columns=["event"]).reset_index(drop=True)


def mark_crashed_runs(store: DeltaStore, now: datetime, found_by: str) -> list[str]:
    """Add a ``crashed`` row for every unfinished run; returns their run ids.

    Call only while holding the store's writer lock: otherwise a session that is still
    running would be marked crashed. ``found_by`` is the run id of the caller, named in
    the message. The rows are written at once.
    """
    starts = unfinished_runs(store)
    if starts.empty:
        return []
    rows = [
        {
            "time": now,
            "run_id": row.run_id,
            "mode": row.mode,
            "config": row.config,
            "seed": None if pd.isna(row.seed) else int(row.seed),
            "event": "crashed",
            "message": (
                f"found unfinished by run {found_by}: started "
                f"{pd.Timestamp(row.time):%Y-%m-%d %H:%M:%S}Z and never wrote a stop record "
                "(killed or crashed); rows it had not yet flushed are lost"
            ),
        }
        for row in starts.itertuples(index=False)
    ]
    store.append(TABLE, rows)
    store.flush([TABLE])
    return [row["run_id"] for row in rows]
