"""The backtest's write path: the same rows as a live run, committed in batches.

A live engine commits orders and fills as they happen, so a crash loses nothing a
restart needs. A backtest has nothing to recover (it is rerun from its data), and a
Delta commit costs tens of milliseconds, so here every table is written once per flush,
every ``backtest.flush_every_cycles`` cycles and at the end: one commit per table per
flush. The order of commits inside a flush is the live recorder's (fills, then orders,
then positions). Row sequence numbers start at 0, not at the wall clock, so the same
backtest writes the same rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from v6.config import StoreSettings
from v6.domain.orders import ComboOrder, OrderState
from v6.domain.positions import Position
from v6.engine.recorder import ORDER_TABLES, Recorder
from v6.store.delta_store import DeltaStore
from v6.store.schemas import TABLES

# Facts before the states derived from them, then the rest (see v6.engine.recorder).
FLUSH_ORDER = (*ORDER_TABLES, *(t for t in TABLES if t not in ORDER_TABLES))


class BacktestRecorder(Recorder):
    """A :class:`Recorder` that buffers across cycles and flushes on an interval."""

    def __init__(
        self, store: DeltaStore, settings: StoreSettings, run_id: str, flush_every_cycles: int
    ) -> None:
        super().__init__(store, settings, run_id)
        self._seq = 0
        self.flush_every_cycles = flush_every_cycles
        # Rows wait here as mappings and go to the store one batch per table at a flush:
        # the store checks a batch column by column, so checking each row on its own
        # (what a live run's few rows a cycle can afford) would cost more than the cycle.
        self._rows: dict[str, list[Mapping[str, Any]]] = {}

    def _append(self, table: str, row: Mapping[str, Any], run_id: str | None = None) -> None:
        self._rows.setdefault(table, []).append({**row, "run_id": run_id or self.run_id})

    def _hand_over(self) -> None:
        """Every waiting row to the store's buffers, one batch per table."""
        rows, self._rows = self._rows, {}
        for table, batch in rows.items():
            self.store.append(table, batch)

    def run_event(self, *args: Any, **kwargs: Any) -> None:
        super().run_event(*args, **kwargs)
        self._hand_over()
        self.store.flush(["runs"])

    def chains(self, view: object) -> None:
        """Not written: the chains are the backtest's input, already in its data store
        (the ``runs`` row names the range; copying them would double the data)."""

    def heartbeat(self, row: Mapping[str, Any]) -> None:
        """Not written: the heartbeat says a live engine is alive (wall-clock time, process
        id, cycle duration) for the dashboard's health page and ``v6 status``; a backtest
        is not a running engine, and those values would differ on every rerun."""

    def flush_orders(self) -> None:
        """Order events wait for the next flush (nothing to recover in a backtest)."""

    def write_ahead(self, order: ComboOrder, pending: OrderState, position: Position) -> None:
        """Buffer the position's row, then the order's, as the live recorder writes them."""
        self.position(position, pending.time)
        self.order(order, pending)

    def breaker_event(self, event: object) -> None:
        self._append(
            "breaker_events",
            {
                "time": event.time,  # type: ignore[attr-defined]
                "breaker": event.breaker,  # type: ignore[attr-defined]
                "event": event.event,  # type: ignore[attr-defined]
                "reason": event.reason,  # type: ignore[attr-defined]
                "source": event.source,  # type: ignore[attr-defined]
            },
        )

    def end_cycle(self, cycle: int) -> None:
        if cycle % self.flush_every_cycles == 0:
            self.flush()

    def flush(self) -> None:
        """Every buffered row, one commit per table, facts before states."""
        self._hand_over()
        self.store.flush(list(FLUSH_ORDER))
        self._flushes += 1
        if self._flushes % self.settings.compact_every_flushes == 0:
            self.maintenance.start()

    def close(self, timeout: float | None = None) -> bool:
        self._hand_over()
        self.store.flush(list(FLUSH_ORDER))
        return self.maintenance.close(timeout)
