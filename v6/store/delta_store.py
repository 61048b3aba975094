"""Append-only Delta Lake tables, one directory per table under a root.

A Delta commit has a fixed cost (tens of milliseconds), so the store never writes on
``append``: it validates the rows against the table's schema at once (the caller sees a
bad row where it made it) and buffers them as Arrow batches. ``flush`` writes one append
per table that has pending rows; the caller decides when (orders and fills as they
happen, the rest on an interval and at shutdown). Delta commits are atomic: a process
killed mid-flush leaves every table readable at its last commit, and a failed write
keeps its rows pending so the caller can retry.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
from attrs import frozen
from deltalake import DeltaTable, write_deltalake

from v6.errors import V6Error
from v6.store.schemas import TABLES, TableSpec

Rows = Sequence[Mapping[str, Any]] | pa.Table


class StoreError(V6Error):
    """A row does not fit its table, or a table could not be written or read."""

    def __init__(self, table: str, problem: str, column: str | None = None) -> None:
        self.table = table
        self.column = column
        self.problem = problem
        where = f"table '{table}'" + (f", column '{column}'" if column else "")
        super().__init__(f"{where}: {problem}")


@frozen(slots=True)
class Compaction:
    """What one compaction did: live data files before and after, files deleted."""

    table: str
    files_before: int
    files_after: int
    files_deleted: int


class DeltaStore:
    """Every fact the engine saw or did, as append-only Delta tables under ``root``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._buffers: dict[str, list[pa.Table]] = {}

    # -- writing ----------------------------------------------------------------------

    def append(self, table: str, rows: Rows) -> None:
        """Validate ``rows`` against ``table``'s schema and buffer them until ``flush``.

        ``rows`` is a sequence of mappings (one per row, with exactly the schema's
        columns) or an Arrow table with exactly those columns in any order. Raises
        StoreError naming the table and column for an unknown table, a missing or extra
        column, a value of the wrong type, a null in a required column or a timestamp
        without a time zone (the core is UTC throughout; a naive time is a bug).
        """
        spec = _spec(table)
        if isinstance(rows, pa.Table):
            batch = _table_from_arrow(spec, rows)
        else:
            batch = _table_from_rows(spec, rows)
        if batch.num_rows:
            self._buffers.setdefault(table, []).append(batch)

    def pending(self, table: str) -> int:
        """Rows buffered for ``table`` and not yet written."""
        _spec(table)
        return sum(batch.num_rows for batch in self._buffers.get(table, ()))

    def flush(self, tables: Iterable[str] | None = None) -> dict[str, int]:
        """Write pending rows, one Delta commit per table; returns rows written per table.

        ``tables`` limits the flush (e.g. orders and fills on an order event); None
        flushes everything. A table is created with its schema and partitioning on its
        first flush. If a write fails its rows stay pending and StoreError is raised;
        tables already written stay written.
        """
        names = list(TABLES) if tables is None else list(tables)
        for name in names:
            _spec(name)
        written: dict[str, int] = {}
        for name in names:
            batches = self._buffers.get(name)
            if not batches:
                continue
            spec = TABLES[name]
            data = pa.concat_tables(batches)
            try:
                write_deltalake(
                    self.path(name),
                    data,
                    mode="append",
                    partition_by=list(spec.partition_by) or None,
                    # Lets a nullable column added to the schema extend an old table.
                    schema_mode="merge",
                )
            except Exception as exc:
                raise StoreError(name, f"append to {self.path(name)} failed: {exc}") from exc
            del self._buffers[name]
            written[name] = data.num_rows
        return written

    def close(self) -> None:
        """Write everything still buffered (call at shutdown)."""
        self.flush()

    def __enter__(self) -> DeltaStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- reading ----------------------------------------------------------------------

    def path(self, table: str) -> Path:
        """The directory holding ``table``."""
        return self.root / _spec(table).name

    def exists(self, table: str) -> bool:
        """True once ``table`` has been flushed at least once."""
        return DeltaTable.is_deltatable(str(self.path(table)))

    def read(
        self,
        table: str,
        columns: Sequence[str] | None = None,
        filters: list[tuple[str, str, Any]] | None = None,
    ) -> pd.DataFrame:
        """The committed rows of ``table`` as a DataFrame (buffered rows are not included).

        ``filters`` are pyarrow-style conjunctions, e.g. ``[("underlying", "=", "SPY")]``;
        on partition columns they skip whole directories. A table never flushed reads as
        an empty frame with the schema's columns and dtypes, so analysis code needs no
        special case for a fresh store.
        """
        spec = _spec(table)
        wanted = list(spec.schema.names) if columns is None else list(columns)
        for column in wanted:
            if column not in spec.schema.names:
                raise StoreError(table, "no such column", column)
        if not self.exists(table):
            return spec.schema.empty_table().select(wanted).to_pandas()
        return DeltaTable(str(self.path(table))).to_pandas(columns=wanted, filters=filters)

    def version(self, table: str) -> int:
        """The table's latest committed version, -1 if it has none.

        Read from the transaction log's file names (``_delta_log/NNNN.json``), so a caller
        polling for changes (a running engine waiting for ``v6 breaker reset``) pays a
        directory listing, not a table open.
        """
        log_dir = self.path(table) / "_delta_log"
        if not log_dir.is_dir():
            return -1
        versions = [int(p.stem) for p in log_dir.glob("*.json") if p.stem.isdigit()]
        return max(versions, default=-1)

    def files(self, table: str) -> int:
        """Data files in ``table``'s current version (what a reader has to open)."""
        if not self.exists(table):
            return 0
        return len(DeltaTable(str(self.path(table))).file_uris())

    # -- maintenance ------------------------------------------------------------------

    def compact(self, table: str, *, vacuum: bool = True) -> Compaction:
        """Rewrite ``table``'s small files into few large ones; optionally delete the old.

        Small files make reads slow (each costs an open and a footer read), and an
        append-per-flush table is made of nothing else. Compaction is itself a commit:
        readers see the same rows before and after.

        ``vacuum`` then deletes, with zero retention, the files the compaction replaced.
        Without it the disk keeps every replaced file, and since compaction re-bins every
        file below the target size, a long run would rewrite (and keep) its data again
        and again. The price: a reader that loaded the previous version and has not
        finished reading its files gets a missing-file error and must re-open the table,
        and time travel to versions before the compaction is lost. V6's tables are
        append-only facts, so nothing needs old versions; pass ``vacuum=False`` when
        another process may be mid-read and cannot retry.
        """
        spec = _spec(table)
        if not self.exists(table):
            return Compaction(spec.name, 0, 0, 0)
        delta = DeltaTable(str(self.path(table)))
        before = len(delta.file_uris())
        delta.optimize.compact()
        deleted: list[str] = []
        if vacuum:
            deleted = delta.vacuum(
                retention_hours=0, enforce_retention_duration=False, dry_run=False
            )
        after = len(DeltaTable(str(self.path(table))).file_uris())
        return Compaction(spec.name, before, after, len(deleted))


def _spec(table: str) -> TableSpec:
    try:
        return TABLES[table]
    except KeyError:
        known = ", ".join(TABLES)
        raise StoreError(table, f"unknown table; known tables: {known}") from None


def _check_columns(spec: TableSpec, names: Iterable[str]) -> None:
    given = set(names)
    for column in spec.schema.names:
        if column not in given:
            raise StoreError(spec.name, "missing column", column)
    for column in sorted(given - set(spec.schema.names)):
        raise StoreError(spec.name, "column not in the table's schema", column)


def _checked(spec: TableSpec, field: pa.Field, array: pa.Array | pa.ChunkedArray) -> None:
    if not field.nullable and array.null_count:
        raise StoreError(
            spec.name, f"{array.null_count} null value(s) in a required column", field.name
        )


def _table_from_rows(spec: TableSpec, rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    """Rows as mappings -> an Arrow table with the schema, column by column."""
    expected = set(spec.schema.names)
    for row in rows:
        if row.keys() != expected:
            _check_columns(spec, row.keys())
    arrays = []
    for field in spec.schema:
        values = [row[field.name] for row in rows]
        if pa.types.is_timestamp(field.type):
            for value in values:
                if value is not None and getattr(value, "tzinfo", None) is None:
                    raise StoreError(
                        spec.name, f"timestamp without a time zone: {value!r}", field.name
                    )
        try:
            array = pa.array(values, type=field.type)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError) as e:
            raise StoreError(spec.name, f"expected {field.type}: {e}", field.name) from None
        _checked(spec, field, array)
        arrays.append(array)
    return pa.Table.from_arrays(arrays, schema=spec.schema)


def _table_from_arrow(spec: TableSpec, table: pa.Table) -> pa.Table:
    """An Arrow table -> the schema's column order and types (safe casts only)."""
    _check_columns(spec, table.column_names)
    arrays = []
    for field in spec.schema:
        column = table.column(field.name)
        if pa.types.is_timestamp(column.type) and column.type.tz is None:
            raise StoreError(spec.name, "timestamp column without a time zone", field.name)
        if column.type != field.type:
            try:
                column = column.cast(field.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as e:
                raise StoreError(
                    spec.name, f"expected {field.type}, got {column.type}: {e}", field.name
                ) from None
        _checked(spec, field, column)
        arrays.append(column)
    return pa.Table.from_arrays(arrays, schema=spec.schema)
