"""Append-only Delta Lake tables, one directory per table under a root.

A Delta commit has a fixed cost (tens of milliseconds), so the store never writes on
``append``: it validates the rows against the table's schema at once (the caller sees a
bad row where it made it) and buffers them as Arrow batches. ``flush`` writes one append
per table that has pending rows; the caller decides when (orders and fills as they
happen, the rest on an interval and at shutdown). Delta commits are atomic: a process
killed mid-flush leaves every table readable at its last commit, and a failed write
keeps its rows pending so the caller can retry.

Maintenance (:meth:`DeltaStore.maintain`, run for every table by
``v6.store.maintenance.StoreMaintenance`` on a background thread) keeps each table
bounded: compaction merges the small files appends leave, a checkpoint and log cleanup
keep the transaction log short, and vacuum deletes data files no version needs any more,
but only once they are older than ``retention_hours``, so a reader that opened an older
version can finish. Every table checkpoints its log every ``CHECKPOINT_INTERVAL``
commits on its own (a table property), so opening a table never replays more than that
many commit files.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote

import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
from attrs import frozen
from deltalake import (
    ColumnProperties,
    CommitProperties,
    DeltaTable,
    Transaction,
    WriterProperties,
    write_deltalake,
)
from deltalake.exceptions import DeltaError

from v6.errors import V6Error
from v6.store.disk import os_problem, write_problem
from v6.store.integrity import DamagedTableError, short_reason, table_committed
from v6.store.schemas import ENGINE_TABLES, TABLES, TableSpec

log = logging.getLogger(__name__)

Rows = Sequence[Mapping[str, Any]] | pa.Table


class StoreError(V6Error):
    """A row does not fit its table, or a table could not be written or read."""

    def __init__(self, table: str, problem: str, column: str | None = None) -> None:
        self.table = table
        self.column = column
        self.problem = problem
        where = f"table '{table}'" + (f", column '{column}'" if column else "")
        super().__init__(f"{where}: {problem}")


# Delta's default is a checkpoint every 100 commits. Every table open (each read, and an
# append every CHECKPOINT_INTERVAL commits or after another writer's) replays the commit
# files since the last checkpoint, reading them on a pool of blocking threads that stay
# alive. Measured over 300 appends to a small table, each opening it: 22 ms per append
# and 78 threads with the default, 9 ms and 26 threads with ten.
CHECKPOINT_INTERVAL = 10
DEFAULT_RETENTION_HOURS = 1
# delta-rs's default target file size for a compaction: smaller files are rewritten.
COMPACTION_TARGET = 100 * 1024 * 1024
# In each table's directory; Delta readers and vacuum ignore names starting with "_".
MAINTENANCE_LOCK = "_v6_maintenance.lock"


def table_properties(retention_hours: int) -> dict[str, str]:
    """The Delta table properties every V6 table carries.

    ``delta.checkpointInterval`` bounds the log replay of every open;
    ``delta.deletedFileRetentionDuration`` says how long replaced files stay readable
    (vacuum honours it, and checkpoints drop tombstones older than it);
    ``delta.logRetentionDuration`` is how long commit files stay before a checkpoint
    makes them removable; ``delta.setTransactionRetentionDuration`` how long a checkpoint
    keeps the id of a store that appended (see ``DeltaStore.flush``), so the ids of
    past runs do not pile up in the log.
    """
    window = f"interval {retention_hours} hours"
    return {
        "delta.checkpointInterval": str(CHECKPOINT_INTERVAL),
        "delta.deletedFileRetentionDuration": window,
        "delta.logRetentionDuration": window,
        "delta.setTransactionRetentionDuration": window,
    }


@frozen(slots=True)
class Compaction:
    """What one compaction did: live data files before and after."""

    table: str
    files_before: int
    files_after: int


@frozen(slots=True)
class Maintenance:
    """What one maintenance of a table did.

    ``files_before``/``files_after``: live data files around the compaction.
    ``files_deleted``: data files vacuum deleted (replaced by a compaction, or written by
    a killed process and never committed, more than ``retention_hours`` ago).
    ``log_files_deleted``: commit and checkpoint files the log cleanup removed.
    """

    table: str
    files_before: int
    files_after: int
    files_deleted: int
    log_files_deleted: int
    checkpointed: bool
    skipped: bool = False  # another thread or process was maintaining the table


class DeltaStore:
    """Every fact the engine saw or did, as append-only Delta tables under ``root``.

    Appending and flushing belong to one thread (the engine's). :meth:`maintain` may run
    on another thread at the same time: it touches no buffer, and Delta's optimistic
    commits let a compaction and an append commit in either order.
    """

    def __init__(self, root: str | Path, *, retention_hours: int = DEFAULT_RETENTION_HOURS) -> None:
        self.root = Path(root)
        self.retention_hours = _checked_retention(retention_hours)
        self._buffers: dict[str, list[pa.Table]] = {}
        # The table each table's last append left (see ``_writer``).
        self._writers: dict[str, _Writer] = {}
        # Every append commits this store's id with its number: an error raised after the
        # commit (a post-commit checkpoint or log cleanup that failed) is told from one
        # before it by the table, so rows written are never kept pending and written twice.
        self._app_id = f"v6-{uuid.uuid4().hex}"
        self._appends = 0

    @property
    def table_properties(self) -> dict[str, str]:
        """The properties a table gets when this store creates it (see ``configure``)."""
        return table_properties(self.retention_hours)

    def configure(self, retention_hours: int | None = None) -> list[str]:
        """Set the retention window and give every existing table this store's properties.

        Tables are created with the properties; a table created by an older V6 or with
        another retention gets them here, one metadata commit each. Returns the tables
        changed. A metadata commit conflicts with a concurrent append or compaction of the
        same table, so call this before the engine writes and before maintenance starts
        (the engine's recorder does, at start).
        """
        if retention_hours is not None:
            self.retention_hours = _checked_retention(retention_hours)
        wanted = self.table_properties
        changed = []
        # Operator tables belong to the dashboard: a metadata commit here could race its
        # append (they are created with the default properties and stay tiny).
        for name in ENGINE_TABLES:
            if not self.exists(name):
                continue
            delta = self._open(name)
            current = delta.metadata().configuration
            if any(current.get(key) != value for key, value in wanted.items()):
                self._check_writable(name, 0)
                try:
                    delta.alter.set_table_properties(wanted)
                except Exception as exc:
                    raise self._write_failure(name, "setting table properties", exc) from exc
                changed.append(name)
        return changed

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
        first flush, with an empty first commit (so data files without a commit always
        mean a damaged table, see ``v6.store.integrity``). If a write fails its rows stay
        pending and StoreError is raised; tables already written stay written. A table
        whose log or data files are damaged raises DamagedTableError and is never
        replaced; a store that cannot be written (permission, read-only file system, a
        full disk) raises StoreError before delta-rs tries (see ``v6.store.disk``).
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
            exists = self.exists(name)
            self._check_writable(name, data.nbytes)
            self._appends += 1
            number = self._appends
            try:
                if not exists:
                    DeltaTable.create(
                        str(self.path(name)),
                        spec.schema,
                        # Another process (``v6 breaker reset``) may have just created it.
                        mode="ignore",
                        partition_by=list(spec.partition_by) or None,
                        configuration=self.table_properties,
                    )
                writer = self._writer(name)
                write_deltalake(
                    writer.delta,
                    data,
                    mode="append",
                    partition_by=list(spec.partition_by) or None,
                    # Lets a nullable column added to the schema extend an old table.
                    schema_mode="merge",
                    # Used when this append creates the table; ignored afterwards.
                    configuration=self.table_properties,
                    writer_properties=_writer_properties(spec),
                    commit_properties=CommitProperties(
                        app_transactions=[
                            Transaction(self._app_id, number, int(time.time() * 1000))
                        ]
                    ),
                )
            except Exception as exc:
                if not self._committed(name, number):
                    raise self._write_failure(name, "append", exc) from exc
                log.warning(
                    "table '%s': the append committed, then failed: %s", name, short_reason(exc)
                )
            else:
                self._keep_writer(name, writer)
            del self._buffers[name]
            written[name] = data.num_rows
        if written:
            # The written batches were the bulk of Arrow's allocations; its allocator
            # (mimalloc) would keep their pages for the next ones.
            pa.default_memory_pool().release_unused()
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
        """True once ``table`` has been flushed at least once.

        Raises DamagedTableError for a table directory that holds data files but no
        committed log, or a file where the directory should be: never read as empty.
        """
        return table_committed(self.path(table), _spec(table).name)

    def read(
        self,
        table: str,
        columns: Sequence[str] | None = None,
        filters: list[tuple[str, str, Any]] | None = None,
    ) -> pd.DataFrame:
        """The committed rows of ``table`` as a DataFrame (see :meth:`read_arrow`)."""
        return self.read_arrow(table, columns, filters).to_pandas()

    def read_arrow(
        self,
        table: str,
        columns: Sequence[str] | None = None,
        filters: list[tuple[str, str, Any]] | None = None,
    ) -> pa.Table:
        """The committed rows of ``table`` as Arrow (buffered rows are not included); for
        bulk readers (replay) that would pay for a DataFrame's object columns.

        ``filters`` are pyarrow-style conjunctions, e.g. ``[("underlying", "=", "SPY")]``;
        on partition columns they skip whole directories. A table never flushed reads as
        an empty frame with the schema's columns and dtypes, so analysis code needs no
        special case for a fresh store. A table that cannot be read raises
        DamagedTableError (its log or a data file is broken or missing) or StoreError
        (no permission), naming the table.
        """
        spec = _spec(table)
        wanted = list(spec.schema.names) if columns is None else list(columns)
        for column in wanted:
            if column not in spec.schema.names:
                raise StoreError(table, "no such column", column)
        if not self.exists(table):
            return spec.schema.empty_table().select(wanted)

        def read_once() -> tuple[pa.Table, list[str]]:
            delta = DeltaTable(str(self.path(table)))
            # A nullable column added to the schema after this table was last appended to
            # (schemas.py) is not in its files yet: its rows read as nulls there, as they
            # do once an append has merged the column in. Never a damaged table.
            present = {f.name for f in delta.schema().fields}
            absent = [c for c in wanted if c not in present and spec.schema.field(c).nullable]
            data = delta.to_pyarrow_table(
                columns=[c for c in wanted if c not in absent],
                filters=filters,
                filesystem=_local_files(self.path(table)),
            )
            return data, absent

        data, absent = self._on_fresh_snapshot(table, read_once)
        for column in absent:
            data = data.append_column(
                spec.schema.field(column), pa.nulls(data.num_rows, spec.schema.field(column).type)
            )
        return data.select(wanted)

    def verify(self, table: str) -> None:
        """Raise unless ``table`` is absent or sound; what ``v6 run`` checks at start.

        Sound: its log opens and every data file of its current version is on disk at
        the size the log recorded (a missing or truncated file would fail the first read
        that needs it, possibly deep in a session). Raises DamagedTableError naming the
        table and the first bad file; does not read the files' contents.
        """
        if not self.exists(table):
            return
        root = self.path(table)

        def bad_files() -> list[str]:
            delta = DeltaTable(str(root))
            actions = pa.table(delta.get_add_actions(flatten=True))
            paths = actions.column("path").to_pylist()
            sizes = actions.column("size_bytes").to_pylist()
            bad = [
                p
                for p in (_file_problem(root, n, s) for n, s in zip(paths, sizes, strict=True))
                if p
            ]
            if bad:  # perhaps an older snapshot's files: look again at the latest one
                raise _Vanished(bad)
            return bad

        try:
            bad = self._on_fresh_snapshot(table, bad_files)
        except _Vanished as gone:
            bad = gone.problems
        if bad:
            more = f" ({len(bad) - 1} more file(s) like it)" if len(bad) > 1 else ""
            raise DamagedTableError(_spec(table).name, root, bad[0] + more)

    def verify_all(self) -> None:
        """:meth:`verify` every table of the store."""
        for table in TABLES:
            self.verify(table)

    def _writer(self, table: str) -> _Writer:
        """The table to append to: the one the last append left, while it is still the
        latest and young, else the table opened afresh.

        Opening a table replays its log, most of a small append's cost, and the engine
        appends to the same tables every cycle. Still the latest means no commit after
        its version (another process's append, a compaction, a log cleanup) and its own
        commit file the very one it wrote (not a table deleted and created again since),
        so an append never starts from an old snapshot. Young means fewer than
        ``CHECKPOINT_INTERVAL`` commits since it was opened: a kept table's append grows
        slower with every commit it made (delta-rs 1.6: 12 ms at first, 40 ms after 300
        appends to a one-row-per-append table), while one opened at its latest checkpoint
        starts again from that (9.5 ms an append over 300 with reopening every 10, 16 ms
        opening every time).
        """
        kept = self._writers.pop(table, None)
        if kept is not None:
            log = self.path(table) / "_delta_log"
            version = kept.delta.version()
            if (
                version - kept.opened_at < CHECKPOINT_INTERVAL
                and _commit_identity(_commit_path(log, version)) == kept.commit
                and not _commit_path(log, version + 1).exists()
            ):
                return kept
        delta = self._open(table)
        return _Writer(delta, delta.version(), None)

    def _committed(self, table: str, number: int) -> bool:
        """True when this store's append ``number`` is in the table's log, though the
        write raised (the commit landed; what failed came after it)."""
        try:
            return DeltaTable(str(self.path(table))).transaction_version(self._app_id) == number
        except Exception:  # no table, a damaged log: the append is not known to be there
            return False

    def _keep_writer(self, table: str, writer: _Writer) -> None:
        """Remember ``writer`` (just appended to: at the version it committed) for the
        next append, with its commit file's identity; not if that file cannot be read."""
        log = self.path(table) / "_delta_log"
        commit = _commit_identity(_commit_path(log, writer.delta.version()))
        if commit is not None:
            self._writers[table] = _Writer(writer.delta, writer.opened_at, commit)

    def _open(self, table: str) -> DeltaTable:
        """The table's current version; its log must open (DamagedTableError if not)."""
        return self._on_fresh_snapshot(table, lambda: DeltaTable(str(self.path(table))))

    def _on_fresh_snapshot(self, table: str, attempt: Callable[[], _T]) -> _T:
        """``attempt()``, taken again on a fresh snapshot when a file it needed vanished.

        A writer's log clean-up deletes a checkpoint (and the commits before it) once a
        newer checkpoint exists and the old one is past the retention window, and a
        vacuum deletes files a compaction replaced. A reader that listed the log just
        before either goes on to open a file that is gone: not damage, only an old
        snapshot. So a missing file is looked for again on the latest snapshot, a few
        times; one that stays missing is damage (DamagedTableError) like any other.
        """
        for wait in (*_SNAPSHOT_RETRY_SECONDS, None):
            try:
                return attempt()
            except _Vanished:
                if wait is None:
                    raise
            except _READ_ERRORS as exc:
                if wait is None or not _vanished_file(exc):
                    raise self._read_failure(table, exc) from exc
            time.sleep(wait)
        raise AssertionError("unreachable")  # the last attempt returns or raises

    def _read_failure(self, table: str, exc: BaseException) -> V6Error:
        problem = os_problem(exc)
        if problem is not None:
            return StoreError(table, f"cannot read {self.path(table)}: {problem}")
        return DamagedTableError(_spec(table).name, self.path(table), short_reason(exc))

    def _check_writable(self, table: str, need: int) -> None:
        """StoreError if ``need`` bytes cannot be written into the table (see disk.py)."""
        root = self.path(table)
        problem = write_problem([root, root / "_delta_log"], need)
        if problem is not None:
            raise StoreError(table, f"cannot be written: {problem}")

    def _write_failure(self, table: str, doing: str, exc: BaseException) -> V6Error:
        problem = os_problem(exc)
        if problem is not None:
            return StoreError(table, f"{doing} failed in {self.path(table)}: {problem}")
        if isinstance(exc, DeltaError):
            self._open(table)  # a damaged log says so, rather than "append failed"
        return StoreError(table, f"{doing} failed in {self.path(table)}: {short_reason(exc)}")

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
        return len(self._open(table).file_uris())

    # -- maintenance ------------------------------------------------------------------
    #
    # Every maintenance operation holds the table's maintenance lock: delta-rs 1.6 does
    # not detect two compactions of one table committing at the same time, and both
    # commits succeed, leaving every row twice. The lock is an flock, released by the
    # kernel when its holder dies, so a killed process cannot leave it stuck.

    def compact(self, table: str) -> Compaction:
        """Rewrite ``table``'s small files into few large ones (one per partition).

        Small files make reads and appends slow (each costs an open and a footer read),
        and an append-per-flush table is made of nothing else. Compaction is itself a
        commit: readers see the same rows before and after, and an append that commits
        while it runs is kept (Delta retries whichever commit comes second; appends never
        conflict with a compaction). The replaced files stay on disk for readers of older
        versions until :meth:`vacuum` removes them after the retention window. Raises
        StoreError if another maintenance of the table holds its lock.
        """
        with self._maintenance_lock(table, raise_if_taken=True):
            return self._compact(table)

    def z_order(self, table: str, columns: Sequence[str]) -> Compaction:
        """Rewrite ``table``'s files clustered by ``columns`` (a Z-order curve).

        Readers that filter on those columns (the dashboard's one-position pages filter on
        ``position_id``) then skip most files by their min/max statistics. It rewrites
        every file, not only small ones: an explicit ``v6 store optimize``, never the
        engine's routine maintenance. Same commit semantics and lock as :meth:`compact`.
        """
        spec = _spec(table)
        with self._maintenance_lock(table, raise_if_taken=True):
            if not self.exists(table):
                return Compaction(spec.name, 0, 0)
            delta = self._open(table)
            before = len(delta.file_uris())
            sizes = pa.table(delta.get_add_actions(flatten=True)).column("size_bytes").to_pylist()
            self._check_writable(table, sum(sizes))
            try:
                delta.optimize.z_order(list(columns))
            except Exception as exc:
                raise self._write_failure(spec.name, "z-ordering", exc) from exc
            return Compaction(spec.name, before, len(delta.file_uris()))

    def checkpoint(self, table: str) -> tuple[bool, int]:
        """Checkpoint ``table``'s log and delete log files the retention window let go.

        Returns (whether a checkpoint was written, log files deleted). No checkpoint is
        written when the latest version already has one. Log files are deleted only when
        older than the table's ``delta.logRetentionDuration`` and older than its latest
        checkpoint, so every version a reader can still open stays readable.
        """
        with self._maintenance_lock(table, raise_if_taken=True):
            return self._checkpoint(table)

    def vacuum(self, table: str) -> int:
        """Delete ``table``'s data files that no version needs, once past the retention.

        That is files a compaction replaced more than ``retention_hours`` ago and files no
        commit refers to (left by a process killed between writing a file and committing
        it) last modified more than ``retention_hours`` ago. A file an append is writing
        right now is seconds old and stays. Returns the number of files deleted.
        """
        with self._maintenance_lock(table, raise_if_taken=True):
            return self._vacuum(table)

    def maintain(self, table: str) -> Maintenance:
        """Compact ``table``, checkpoint its log, then vacuum it (see each step).

        Safe to run on another thread while the engine appends to the same table, and
        safe to kill: every step is an atomic commit or deletes only what no version
        within the retention window refers to. When another thread or process is
        maintaining the table, returns at once with ``skipped`` set and changes nothing.
        """
        spec = _spec(table)
        with self._maintenance_lock(table, raise_if_taken=False) as held:
            if not held:
                return Maintenance(spec.name, 0, 0, 0, 0, checkpointed=False, skipped=True)
            compaction = self._compact(table)
            checkpointed, log_deleted = self._checkpoint(table)
            deleted = self._vacuum(table)
        return Maintenance(
            spec.name,
            compaction.files_before,
            compaction.files_after,
            deleted,
            log_deleted,
            checkpointed,
        )

    @contextmanager
    def _maintenance_lock(self, table: str, *, raise_if_taken: bool) -> Iterator[bool]:
        """Hold ``table``'s maintenance lock: yields True, or False if another holds it.

        Never waits. With ``raise_if_taken`` a taken lock raises StoreError instead (the
        caller asked for one operation and should hear why it did not happen). A table
        not written yet needs no lock: yields True.
        """
        spec = _spec(table)
        if not self.exists(table):
            yield True
            return
        path = self.path(table) / MAINTENANCE_LOCK
        with open(path, "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if raise_if_taken:
                    raise StoreError(
                        spec.name, f"another maintenance holds {path}; try again later"
                    ) from None
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _compact(self, table: str) -> Compaction:
        spec = _spec(table)
        if not self.exists(table):
            return Compaction(spec.name, 0, 0)
        delta = self._open(table)
        before = len(delta.file_uris())
        # Compaction rewrites the files below its target size: it needs their size again.
        sizes = pa.table(delta.get_add_actions(flatten=True)).column("size_bytes").to_pylist()
        self._check_writable(table, sum(size for size in sizes if size < COMPACTION_TARGET))
        try:
            delta.optimize.compact()
        except Exception as exc:
            raise self._write_failure(spec.name, "compaction", exc) from exc
        return Compaction(spec.name, before, len(delta.file_uris()))

    def _checkpoint(self, table: str) -> tuple[bool, int]:
        spec = _spec(table)
        if not self.exists(table):
            return False, 0
        delta = self._open(table)
        log_dir = self.path(table) / "_delta_log"
        before = _log_files(log_dir)
        written = _last_checkpoint(log_dir) != delta.version()
        self._check_writable(table, 0)
        try:
            if written:
                delta.create_checkpoint()
            delta.cleanup_metadata()
        except Exception as exc:
            raise self._write_failure(spec.name, "checkpoint", exc) from exc
        return written, max(0, before - _log_files(log_dir))

    def _vacuum(self, table: str) -> int:
        spec = _spec(table)
        if not self.exists(table):
            return 0
        root = self.path(table)
        before = _data_files(root)
        delta = self._open(table)
        try:
            delta.vacuum(
                retention_hours=self.retention_hours,
                # Needed below Delta's 168 h default; the window is ours, set on purpose.
                enforce_retention_duration=False,
                dry_run=False,
                # Also files the log never mentions (stray files of killed writes).
                full=True,
            )
        except Exception as exc:
            raise self._write_failure(spec.name, "vacuum", exc) from exc
        return len(before - _data_files(root))


# What a broken log or data file raises: delta-rs's own errors, the OS's (a missing file,
# "Corrupt snappy compressed data") and Arrow's ("Parquet magic bytes not found").
_READ_ERRORS = (DeltaError, OSError, pa.ArrowInvalid)
_T = TypeVar("_T")
# Pauses before looking again at a table whose file vanished under a read (a concurrent
# log clean-up or vacuum): the writer's commit takes milliseconds.
_SNAPSHOT_RETRY_SECONDS = (0.05, 0.1, 0.2, 0.4, 0.8)


class _Vanished(Exception):
    """Files the log names are missing or cut short on disk (verify's finding)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems[0])
        self.problems = problems


def _vanished_file(exc: BaseException) -> bool:
    """True when ``exc`` says a file was not found (it may have been cleaned up)."""
    if isinstance(exc, FileNotFoundError):
        return True
    text = str(exc).lower()
    return "not found" in text or "(os error 2)" in text or "no such file" in text


def _local_files(table_root: Path) -> pafs.FileSystem:
    """Arrow's own file system, rooted at the table, for reading its data files.

    deltalake reads through a Python file system by default: when one file fails, Arrow's
    threads go on reading the others through Python, and a process that exits at once
    (a CLI reporting the error) aborted in one run of five to ten, the threads dying on the
    finalizing interpreter ("terminate called without an active exception", status 134).
    Arrow's native local file system needs no Python, and reads as fast or faster.
    """
    return pafs.SubTreeFileSystem(str(table_root.resolve()), pafs.LocalFileSystem())


def _file_problem(root: Path, name: str, size: int | None) -> str:
    """What is wrong with the data file the log names ``name`` ("" if nothing)."""
    path = root / name
    if not path.exists():
        path = root / unquote(name)  # the log may hold the path URL-encoded
    try:
        actual = os.stat(path).st_size
    except FileNotFoundError:
        return f"its data file {name} is missing"
    except OSError as exc:
        return f"its data file {name} cannot be opened: {exc.strerror or exc}"
    if size is not None and actual != size:
        return f"its data file {name} is {actual} bytes, the log says {size}"
    return ""


def _writer_properties(spec: TableSpec) -> WriterProperties | None:
    """delta-rs's defaults, but no dictionary for the table's ``plain_columns``.

    Properties given replace the defaults whole: Snappy, the default codec, is named
    again, or every column of the table would be written uncompressed."""
    if not spec.plain_columns:
        return None
    plain = ColumnProperties(dictionary_enabled=False)
    return WriterProperties(
        compression="SNAPPY", column_properties=dict.fromkeys(spec.plain_columns, plain)
    )


def _checked_retention(hours: int) -> int:
    if isinstance(hours, bool) or not isinstance(hours, int) or hours < 1:
        raise ValueError(f"retention_hours must be a whole number of hours >= 1, got {hours!r}")
    return hours


def _data_files(table_root: Path) -> set[Path]:
    """Parquet data files under a table's directory (the log's checkpoints excluded)."""
    return {
        p
        for p in table_root.rglob("*.parquet")
        if "_delta_log" not in p.relative_to(table_root).parts
    }


@frozen(slots=True)
class _Writer:
    """A table kept for the next append: the version it was opened at, and the identity
    of the commit file of the version it is at (None until it appended)."""

    delta: DeltaTable
    opened_at: int
    commit: tuple[int, int, int] | None


def _commit_path(log_dir: Path, version: int) -> Path:
    return log_dir / f"{version:020d}.json"


def _commit_identity(path: Path) -> tuple[int, int, int] | None:
    """Inode, modification time and size of a commit file; None when it is missing."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def _log_files(log_dir: Path) -> int:
    return sum(1 for p in log_dir.iterdir() if p.name.endswith((".json", ".parquet")))


def _last_checkpoint(log_dir: Path) -> int:
    """The version of the table's latest checkpoint, -1 without one."""
    try:
        return int(json.loads((log_dir / "_last_checkpoint").read_text())["version"])
    except (OSError, ValueError, KeyError, TypeError):
        return -1


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
