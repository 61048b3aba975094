"""The engine's write path to the store: domain records in, batched Delta appends out.

Commits to Delta cost tens of milliseconds each, so rows are buffered and written in one
append per table: orders, fills and positions at once whenever an order event happens
(they are what a restart needs to recover), everything else every
``flush_every_cycles`` cycles and at shutdown. Every row carries the run id so runs
sharing a store stay separable. Every ``compact_every_flushes`` flushes the store's
tables are maintained (compacted, checkpointed, vacuumed) on a background thread; the
cycle does not wait for it.

The three order tables are separate commits, so a crash can fall between them. They are
therefore always committed in an order that leaves no row pointing at a row that is not
there, whatever commit the crash interrupts (docs/RECOVERY.md):

* a new order is written ahead: its position's row first, then the order's row, and only
  then is it sent, so no fill can exist before both;
* what the broker reports is written fills first, then order states, then positions, so
  an order stored filled always has its fills, and a position stored holding contracts
  always has the fills that made it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

import attrs
import pyarrow as pa

from v6.config import StoreSettings
from v6.domain.account import AccountSnapshot
from v6.domain.alerts import Alert
from v6.domain.decisions import DecisionRecord, RegimeReading
from v6.domain.entries import EntryCandidate
from v6.domain.market import MarketView
from v6.domain.orders import ComboOrder, Fill, OrderState
from v6.domain.positions import Position
from v6.market.quality import QualityReport
from v6.risk.circuit_breakers import BreakerEvent
from v6.store import rows
from v6.store.delta_store import DeltaStore
from v6.store.maintenance import StoreMaintenance

log = logging.getLogger(__name__)

# Facts before the states derived from them: see the module docstring.
ORDER_TABLES = ("fills", "orders", "positions")


class Recorder:
    """Buffers rows for the store and decides when to flush them."""

    def __init__(self, store: DeltaStore, settings: StoreSettings, run_id: str) -> None:
        self.store = store
        self.settings = settings
        self.run_id = run_id
        self._flushes = 0
        # Called with (table, row) after each row is buffered: v6.ops.notify listens.
        self.listeners: list[Callable[[str, Mapping[str, Any]], None]] = []
        # Before anything writes: a table property change would conflict with a
        # concurrent append or compaction of the same table.
        store.configure(settings.retention_hours)
        self.maintenance = StoreMaintenance(store)
        # Write order of order and position rows: starts at the wall clock in ns, so a
        # later run's rows also sort after an earlier run's rows of the same time.
        self._seq = time.time_ns()

    def _append(self, table: str, row: Mapping[str, Any], run_id: str | None = None) -> None:
        self.store.append(table, [{**row, "run_id": run_id or self.run_id}])
        for listener in self.listeners:
            try:
                listener(table, row)
            except Exception:  # a listener (the notifier) must never stop the engine
                log.warning("a listener of the %s table failed", table, exc_info=True)

    # -- facts ------------------------------------------------------------------------

    def data_quality(self, time: datetime, reports: Iterable[QualityReport]) -> None:
        """One row per underlying and reason: every rejection and every repair."""
        for report in reports:
            for reason, count in [*report.rejected.items(), *report.repaired.items()]:
                self._append(
                    "data_quality",
                    {
                        "time": time,
                        "underlying": report.underlying,
                        "reason": reason,
                        "count": count,
                        "sample": report.samples.get(reason, ""),
                    },
                )

    def chains(self, view: MarketView) -> None:
        for chain in view.chains.values():
            table = rows.chain_table(chain)
            table = table.append_column(
                "run_id", pa.array([self.run_id] * table.num_rows, type=pa.string())
            )
            self.store.append("chain_snapshots", table)

    def order(self, order: ComboOrder, state: OrderState, run_id: str | None = None) -> None:
        """An order's state; ``run_id`` for a state settled on behalf of an ended run."""
        self._seq += 1
        self._append("orders", {**rows.order_row(order, state), "seq": self._seq}, run_id)

    def fill(self, fill: Fill, position_id: str, strategy: str) -> None:
        self._append("fills", rows.fill_row(fill, position_id, strategy))

    def position(self, position: Position, time: datetime, run_id: str | None = None) -> None:
        """A position's state; ``run_id`` for a state settled on behalf of an ended run."""
        self._seq += 1
        self._append("positions", {**rows.position_row(position, time), "seq": self._seq}, run_id)

    def prediction(self, row: Mapping[str, Any]) -> None:
        """A prediction's state (:mod:`v6.engine.predictions`), numbered like orders'."""
        self._seq += 1
        self._append("predictions", {**row, "seq": self._seq})

    def flush_predictions(self) -> None:
        """Write buffered prediction rows now."""
        self.store.flush(["predictions"])

    def decision(self, record: DecisionRecord) -> None:
        self._append("decisions", rows.decision_row(record))

    def account(self, snapshot: AccountSnapshot, cycle: int) -> None:
        self._append("account_snapshots", rows.account_row(snapshot, cycle))

    def alert(self, alert: Alert) -> None:
        self._append("alerts", rows.alert_row(alert))

    def breaker_event(self, event: BreakerEvent) -> None:
        """A breaker trip or reset, written at once: a restart must see it."""
        self._append(
            "breaker_events",
            {
                "time": event.time,
                "breaker": event.breaker,
                "event": event.event,
                "reason": event.reason,
                "source": event.source,
            },
        )
        self.store.flush(["breaker_events"])

    def heartbeat(self, row: Mapping[str, Any]) -> None:
        """This cycle's heartbeat (committed on its own cadence: v6.engine.heartbeat)."""
        self._append("heartbeat", row)

    def sim_truth(self, time: datetime, truth: Any) -> None:
        """The simulator's hidden state at ``time`` (a :class:`v6.market.sim_market.SimTruth`)."""
        self._append("sim_truth", {"time": time, **attrs.asdict(truth)})

    def futures(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Futures snapshots (one per future read this cycle; see v6.futures.observer)."""
        batch = [{**row, "run_id": self.run_id} for row in rows]
        if batch:
            self.store.append("futures_snapshots", batch)

    def regimes(self, time: datetime, detector: str, readings: Iterable[RegimeReading]) -> None:
        """One row per reading, stamped with the ``detector`` that made it."""
        for reading in readings:
            self._append("regimes", rows.regime_row(time, reading, detector))

    def entry(
        self,
        time: datetime,
        candidate: EntryCandidate,
        outcome: str,
        reason: str,
        *,
        order_ref: str | None = None,
        net_price: float | None = None,
        max_loss: float | None = None,
    ) -> None:
        self._append(
            "entries",
            {
                "time": time,
                "strategy": candidate.strategy,
                "underlying": candidate.underlying,
                "structure": candidate.structure,
                "outcome": outcome,
                "reason": reason,
                "order_ref": order_ref,
                "net_price": net_price,
                "max_loss": max_loss,
            },
        )

    def run_event(
        self,
        time: datetime,
        event: str,
        mode: str,
        config_yaml: str,
        seed: int | None,
        message: str = "",
    ) -> None:
        self._append(
            "runs",
            {
                "time": time,
                "mode": mode,
                "config": config_yaml,
                "seed": seed,
                "event": event,
                "message": message,
            },
        )
        self.store.flush(["runs"])

    # -- flushing ---------------------------------------------------------------------

    def flush_orders(self) -> None:
        """Write fill, order and position rows now, in that order (on every order event)."""
        self.store.flush(list(ORDER_TABLES))

    def write_ahead(self, order: ComboOrder, pending: OrderState, position: Position) -> None:
        """Make ``order`` durable before it is sent: whatever was still buffered, then the
        position's row, then its prediction (an opening order's, buffered just before),
        then the order's row, each committed before the next."""
        self.flush_orders()
        self.position(position, pending.time)
        self.store.flush(["positions"])
        if self.store.pending("predictions"):
            self.flush_predictions()
        self.order(order, pending)
        self.store.flush(["orders"])

    def end_cycle(self, cycle: int) -> None:
        """Flush order tables every cycle they changed; the rest on the interval."""
        if any(self.store.pending(t) for t in ORDER_TABLES):
            self.flush_orders()
        if cycle % self.settings.flush_every_cycles == 0:
            self.flush()

    def flush(self) -> None:
        """Write every buffered row; every N flushes start a background maintenance pass.

        Never waits for maintenance: a pass still running when the next is due is left
        to finish and the due one is skipped (the pass after catches up).
        """
        self.store.flush()
        self._flushes += 1
        if self._flushes % self.settings.compact_every_flushes == 0:
            self.maintenance.start()

    def close(self, timeout: float | None = None) -> bool:
        """Write every buffered row, then stop maintenance and wait for it (shutdown).

        A running pass stops after the table it is on. Returns False if ``timeout`` ran
        out first. Without this call, an exiting interpreter still waits for the pass.
        """
        self.store.flush()
        return self.maintenance.close(timeout)
