"""What the dashboard reads: the store's tables, cached between refreshes.

Every page refresh asks for a few tables. Reading them whole each time would grow with
the store (a year of 15-minute cycles is tens of thousands of rows per table), so each
table is cached with the Delta files it was read from:

* the table's version is a directory listing (``DeltaStore.version``): unchanged, the
  cached frame is returned without opening anything;
* changed by appends, only the data files added since are read (the engine appends,
  it never rewrites), with only the columns the dashboard uses;
* changed by a compaction (files removed), the table is read again once.

Reads are read-only: the dashboard takes no lock and writes nothing here. A table the
engine has not written yet reads as an empty frame with its columns, so every page has
an empty state rather than an error. One position's own history is read with a filter
pushed down to the files (``DeltaStore.read``), never by loading every position.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable

from v6 import alert_acks
from v6.risk import manual_halt
from v6.store.delta_store import DeltaStore, _local_files
from v6.store.schemas import TABLES

COLUMNS: dict[str, tuple[str, ...]] = {
    "account_snapshots": (
        "time",
        "net_liquidation",
        "cash",
        "realized_pnl",
        "unrealized_pnl",
        "commissions",
        "maintenance_margin",
        "cycle",
        "run_id",
    ),
    "positions": (
        "time",
        "position_id",
        "strategy",
        "underlying",
        "structure",
        "legs",
        "quantity",
        "entry_price",
        "status",
        "max_profit",
        "max_loss",
        "opened_at",
        "closed_at",
        "exit_price",
        "realized_pnl",
        "commissions",
        "entry_regime",
        "exit_rule",
        "seq",
        "run_id",
    ),
    "position_risk": tuple(TABLES["position_risk"].schema.names),
    "decisions": ("time", "position_id", "rule", "action", "reason", "regime", "run_id"),
    "alerts": tuple(TABLES["alerts"].schema.names),
    "regimes": ("time", "underlying", "regime", "reason", "detector", "run_id"),
    "data_quality": ("time", "underlying", "reason", "count", "run_id"),
    "breaker_events": tuple(TABLES["breaker_events"].schema.names),
    "runs": ("time", "run_id", "mode", "config", "event", "message", "seed"),
    "heartbeat": tuple(TABLES["heartbeat"].schema.names),
    "alert_acks": ("time", "alert_id", "user"),
    "manual_commands": tuple(TABLES["manual_commands"].schema.names),
    "predictions": (
        "time",
        "prediction_id",
        "position_id",
        "strategy",
        "underlying",
        "structure",
        "status",
        "model",
        "predicted_at",
        "regime",
        "detector",
        "probability_of_profit",
        "expected_pnl",
        "closed_at",
        "realized_pnl",
        "exit_rule",
        "profitable",
        "seq",
        "run_id",
    ),
    "sim_truth": ("time", "regime", "run_id"),
    "futures_snapshots": (
        "time",
        "symbol",
        "etf",
        "local_symbol",
        "expiry",
        "price",
        "roll_ratio",
        "etf_price",
        "change_1h",
        "change_4h",
        "change_overnight",
        "change_daily",
        "run_id",
    ),
}
"""The columns the dashboard reads of each table (nothing else is loaded)."""


def _files(delta: DeltaTable) -> list[str]:
    """The data files of the table's current version, relative to its directory."""
    return pa.table(delta.get_add_actions(flatten=True)).column("path").to_pylist()


def _partition_values(path: str, columns: Sequence[str]) -> dict[str, str]:
    """A partitioned table's file holds no partition column: its values are in the file's
    directories (``symbol=ES/date=2026-01-05/part-....parquet``, as Delta writes them).
    A file outside that layout raises, and the table is read afresh the store's way."""
    if not columns:
        return {}
    found = dict(part.split("=", 1) for part in path.split("/")[:-1] if "=" in part)
    missing = [c for c in columns if c not in found]
    if missing:
        raise ValueError(f"{path}: no partition value for {missing}")
    return {c: found[c] for c in columns}


class _Cached:
    __slots__ = ("files", "frame", "version")

    def __init__(self) -> None:
        self.version = -2
        self.files: list[str] = []
        self.frame: pd.DataFrame | None = None


_T = TypeVar("_T")


class StoreReader:
    """Cached, column-pruned, incremental reads of one store (thread-safe).

    What the pages derive from the tables (a position table, a figure) is cached too
    (:meth:`memo`, :func:`cached`): a refresh that finds no table changed recomputes
    nothing.
    """

    def __init__(self, root: str | Path) -> None:
        self.store = DeltaStore(root)
        self._cache: dict[str, _Cached] = {}
        self._locks: dict[str, threading.Lock] = {name: threading.Lock() for name in COLUMNS}
        self._memo: dict[Any, tuple[tuple[Any, ...], float, Any]] = {}
        self._memo_lock = threading.Lock()
        # The dashboard's two writes (a halt/resume, an acknowledgement) share one store
        # whose buffers belong to one thread: one write at a time, or a command appended
        # while another request's flush runs is dropped after its id was handed out.
        self._write_lock = threading.Lock()

    def issue_command(self, command: str, time: datetime, *, reason: str, user: str) -> str:
        """Write a halt or resume (:func:`v6.risk.manual_halt.issue`); its id."""
        with self._write_lock:
            return manual_halt.issue(self.store, command, time, reason=reason, user=user)

    def acknowledge(self, ids: Iterable[str], time: datetime, *, user: str) -> int:
        """Store acknowledgements (:func:`v6.alert_acks.acknowledge`); how many."""
        with self._write_lock:
            return alert_acks.acknowledge(self.store, ids, time, user=user)

    def memo(
        self,
        key: Any,
        tables: Sequence[str],
        compute: Callable[[], _T],
        *,
        ttl: float | None = None,
    ) -> _T:
        """``compute()``, or its result from an earlier call with ``key`` while none of
        ``tables`` changed (and, with ``ttl``, no more than ``ttl`` seconds ago)."""
        frames = tuple(self.table(name) for name in tables)
        now = time.monotonic()
        with self._memo_lock:
            hit = self._memo.get(key)
        if (
            hit is not None
            and len(hit[0]) == len(frames)
            and all(a is b for a, b in zip(hit[0], frames, strict=True))
            and (ttl is None or now - hit[1] < ttl)
        ):
            return hit[2]
        value = compute()
        with self._memo_lock:
            self._memo[key] = (frames, now, value)  # the frames kept: their ids stay unique
        return value

    @property
    def root(self) -> Path:
        return self.store.root

    def table(self, name: str) -> pd.DataFrame:
        """The table's current rows (the dashboard's columns); do not modify the frame."""
        with self._locks[name]:
            cached = self._cache.setdefault(name, _Cached())
            version = self.store.version(name)
            if cached.frame is not None and version == cached.version:
                return cached.frame
            if version < 0 or not self.store.exists(name):
                cached.version, cached.files = version, []
                cached.frame = self._empty(name)
                return cached.frame
            try:
                self._refresh(name, cached)
            except Exception:
                # A file vanished under us (a vacuum after a compaction) or another
                # surprise: read the table afresh the store's own careful way.
                cached.frame = self.store.read(name, columns=list(COLUMNS[name]))
                cached.files = _files(DeltaTable(str(self.store.path(name))))
            cached.version = version
            return cached.frame

    def _empty(self, name: str) -> pd.DataFrame:
        return self.store.read(name, columns=list(COLUMNS[name]))  # an empty typed frame

    def _refresh(self, name: str, cached: _Cached) -> None:
        delta = DeltaTable(str(self.store.path(name)))
        files = _files(delta)
        known = set(cached.files)
        if cached.frame is None or not known.issubset(files):
            cached.frame = self.store.read(name, columns=list(COLUMNS[name]))
            cached.files = files
            return
        new = [f for f in files if f not in known]
        if new:
            parts = [cached.frame, *(self._read_file(name, f) for f in new)]
            cached.frame = pd.concat(
                [p for p in parts if not p.empty] or [parts[0]], ignore_index=True
            )
        cached.files = files

    def _read_file(self, name: str, relative: str) -> pd.DataFrame:
        """One data file, the dashboard's columns only (absent nullable ones as nulls)."""
        spec = TABLES[name]
        fs = _local_files(self.store.path(name))
        path = unquote(relative)
        present = set(pq.read_schema(path, filesystem=fs).names)
        wanted = list(COLUMNS[name])
        data = pq.read_table(path, columns=[c for c in wanted if c in present], filesystem=fs)
        partition = _partition_values(path, spec.partition_by)
        for column in wanted:
            if column in partition:
                field = spec.schema.field(column)
                value = pa.array([partition[column]] * data.num_rows, pa.string())
                data = data.append_column(field, value.cast(field.type))
            elif column not in present:
                field = spec.schema.field(column)
                data = data.append_column(field, pa.nulls(data.num_rows, field.type))
        return (
            data.select(wanted).cast(pa.schema([spec.schema.field(c) for c in wanted])).to_pandas()
        )

    def filtered(
        self,
        name: str,
        filters: list[tuple[str, str, object]],
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Rows matching ``filters``, pushed down to the files (one position's history)."""
        return self.store.read(name, columns=list(columns or COLUMNS[name]), filters=filters)


def cached(*tables: str) -> Callable[[Callable[..., _T]], Callable[..., _T]]:
    """Cache a view ``fn(reader, *args)`` until one of ``tables`` changes on disk.

    The result is shared between callers: never modify a frame a cached view returns.
    """

    def wrap(fn: Callable[..., _T]) -> Callable[..., _T]:
        @functools.wraps(fn)
        def view(reader: StoreReader, *args: Any, **kwargs: Any) -> _T:
            key = (fn.__module__, fn.__qualname__, args, tuple(sorted(kwargs.items())))
            return reader.memo(key, tables, lambda: fn(reader, *args, **kwargs))

        return view

    return wrap
