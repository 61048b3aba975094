"""Store maintenance off the engine's critical path: one background pass at a time.

A pass runs :meth:`DeltaStore.maintain` (compact, checkpoint, vacuum) on every table, in
a thread of its own, so a cycle that asks for one returns at once. A compaction of the
chain snapshots takes seconds; done inline it stalled the engine for 5-6 s at a time.

The thread is not a daemon: an interpreter that is exiting waits for the pass to finish,
so a pass is never cut off mid-write by the runtime tearing down under native code.
:meth:`StoreMaintenance.close` stops a pass early, after the table it is on. A process
killed mid-pass loses nothing: each step is an atomic Delta commit or deletes only files
no version within the retention window refers to, and the next pass picks up the rest.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from v6.errors import V6Error
from v6.store.delta_store import DeltaStore, Maintenance
from v6.store.schemas import ENGINE_TABLES

log = logging.getLogger(__name__)


class StoreMaintenance:
    """Runs maintenance passes over ``tables`` (every engine table by default) in the background."""

    def __init__(self, store: DeltaStore, tables: Sequence[str] | None = None) -> None:
        self.store = store
        self.tables = ENGINE_TABLES if tables is None else tuple(tables)
        self.passes = 0  # passes finished (including ones stopped by close)
        self.last: tuple[Maintenance, ...] = ()  # what the last finished pass did
        self.errors: list[str] = []  # one line per table a pass could not maintain
        self._lock = threading.Lock()
        self._pass = threading.Lock()  # one pass at a time, whichever thread runs it
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def running(self) -> bool:
        """True while a pass is under way."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def start(self) -> bool:
        """Begin a pass in the background and return at once.

        Returns False, starting nothing, while a pass is still running (the next request
        after it ends catches up) or after :meth:`close`.
        """
        with self._lock:
            if self._stop.is_set() or self.running:
                return False
            self._thread = threading.Thread(
                target=self._run, name="v6-store-maintenance", daemon=False
            )
            self._thread.start()
            return True

    def run(self) -> tuple[Maintenance, ...]:
        """One pass on the calling thread (the background thread runs this too).

        A table that fails is logged and recorded in ``errors``; the others still run.
        Waits for a background pass that is under way to end first.
        """
        with self._pass:
            done = []
            for table in self.tables:
                if self._stop.is_set():
                    break
                try:
                    done.append(self.store.maintain(table))
                except Exception as exc:  # one table's trouble must not stop the others
                    # A V6Error (a damaged table, a full disk) says all in its message.
                    log.warning(
                        "store maintenance of %s failed: %s",
                        table,
                        exc,
                        exc_info=not isinstance(exc, V6Error),
                    )
                    self.errors.append(f"{table}: {exc}")
            self.last = tuple(done)
            self.passes += 1
            return self.last

    def _run(self) -> None:
        self.run()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a running pass to end; True if none is running any more."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return not self.running

    def close(self, timeout: float | None = None) -> bool:
        """Start no more passes, stop the running one after its current table, wait.

        Returns True once no pass is running (False if ``timeout`` ran out first).
        """
        with self._lock:
            self._stop.set()
        return self.wait(timeout)
