"""The ``breaker_events`` table as the breakers' memory and mailbox.

Trips and resets are stored as they happen, so a restart can restore what was tripped
(:func:`stored_events`) and ``v6 breaker status`` can show it. ``v6 breaker reset NAME``
leaves a ``reset_request`` row; a running engine finds it through
:class:`BreakerResetInbox`, which polls the table's version (a directory listing) and
reads the table only when something was written.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from v6.risk.circuit_breakers import BreakerEvent
from v6.store.delta_store import DeltaStore

TABLE = "breaker_events"


def stored_events(store: DeltaStore) -> list[BreakerEvent]:
    """Every stored breaker event, oldest first (ties keep their written order)."""
    frame = store.read(TABLE)
    if frame.empty:
        return []
    frame = frame.sort_values("time", kind="stable")
    return [
        BreakerEvent(
            time=pd.Timestamp(row.time).to_pydatetime(),
            breaker=row.breaker,
            event=row.event,
            reason=row.reason,
            source=row.source,
        )
        for row in frame.itertuples(index=False)
    ]


def request_reset(store: DeltaStore, breaker: str, time: datetime, reason: str) -> None:
    """Ask every engine using ``store`` to reset ``breaker`` (written at once)."""
    store.append(
        TABLE,
        [
            {
                "time": time,
                "breaker": breaker,
                "event": "reset_request",
                "reason": reason,
                "source": "manual",
                "run_id": "cli",
            }
        ],
    )
    store.flush([TABLE])


class BreakerResetInbox:
    """Reset requests written after the engine started, each delivered once."""

    def __init__(self, store: DeltaStore) -> None:
        self.store = store
        self._version = store.version(TABLE)
        self._seen = {self._key(e) for e in stored_events(store) if e.event == "reset_request"}

    @staticmethod
    def _key(event: BreakerEvent) -> tuple[datetime, str, str]:
        return (event.time, event.breaker, event.reason)

    def take(self) -> list[BreakerEvent]:
        """New reset requests since the last call (none without a new table version)."""
        version = self.store.version(TABLE)
        if version == self._version:
            return []
        self._version = version
        fresh = []
        for event in stored_events(self.store):
            key = self._key(event)
            if event.event == "reset_request" and key not in self._seen:
                self._seen.add(key)
                fresh.append(event)
        return fresh
