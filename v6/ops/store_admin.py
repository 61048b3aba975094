"""``v6 store info | optimize | vacuum``: look at and tidy a store by hand.

The engine maintains its tables itself (v6.store.maintenance: compact, checkpoint, vacuum
every few flushes). These commands are for an operator: ``info`` to see what is on disk,
``optimize`` to compact every table and Z-order the ones the dashboard reads by position,
``vacuum`` to delete replaced files older than a retention the operator chooses. All are
safe while the engine runs: each step is an atomic Delta commit or deletes only files no
version within the retention window refers to, under the table's maintenance lock.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from attrs import frozen
from deltalake import DeltaTable

from v6.errors import V6Error
from v6.store.delta_store import Compaction, DeltaStore
from v6.store.schemas import TABLES

MIN_VACUUM_RETAIN_HOURS = 1
"""The shortest retention ``v6 store vacuum`` accepts: the engine's own window (its readers,
the dashboard and a backup under way, open older versions for less than this)."""

MAX_VACUUM_RETAIN_HOURS = 8760

Z_ORDER = {
    "positions": ("position_id",),
    "position_risk": ("position_id",),
    "decisions": ("position_id",),
}
"""Tables the dashboard reads one position at a time (``filtered(position_id = ...)``)."""


class RetentionError(V6Error):
    """A vacuum retention outside the safe window (exit status 2: fix the command line)."""

    exit_status = 2


@frozen(slots=True)
class TableInfo:
    """One table as it is on disk now."""

    name: str
    version: int
    files: int  # data files in the current version
    bytes: int  # their size
    rows: int
    disk_bytes: int  # everything under the table's directory (log, replaced files too)

    def to_json(self) -> dict[str, int | str]:
        return {
            "table": self.name,
            "version": self.version,
            "files": self.files,
            "bytes": self.bytes,
            "rows": self.rows,
            "disk_bytes": self.disk_bytes,
        }


def directory_bytes(path: Path) -> int:
    """Bytes of every file under ``path`` (0 if it is gone)."""
    total = 0
    for item in path.rglob("*"):
        try:
            if item.is_file():
                total += item.stat().st_size
        except OSError:  # a file vacuumed while we looked
            continue
    return total


def table_info(store: DeltaStore, name: str) -> TableInfo:
    """Version, live files, their size and row count of table ``name`` (which exists)."""
    path = store.path(name)
    delta = DeltaTable(str(path))
    actions = pa.table(delta.get_add_actions(flatten=True))
    sizes = actions.column("size_bytes").to_pylist() if actions.num_rows else []
    counts = (
        actions.column("num_records").to_pylist() if "num_records" in actions.schema.names else []
    )
    if len(counts) == len(sizes) and all(c is not None for c in counts):
        rows = int(sum(counts))
    else:  # files written without statistics: count them
        rows = delta.to_pyarrow_dataset().count_rows()
    return TableInfo(
        name, delta.version(), len(sizes), int(sum(sizes)), rows, directory_bytes(path)
    )


def info(store: DeltaStore) -> list[TableInfo]:
    """Every table the store holds, in the schema's order."""
    store.verify_all()
    return [table_info(store, name) for name in TABLES if store.exists(name)]


def optimize(store: DeltaStore) -> list[tuple[str, Compaction]]:
    """Compact every table; Z-order the tables in :data:`Z_ORDER` as well.

    Returns what was done to each table: ("compacted" or "z-ordered by ...", files).
    """
    done = []
    for name in TABLES:
        if not store.exists(name):
            continue
        done.append(("compacted", store.compact(name)))
        if name in Z_ORDER:
            columns = ", ".join(Z_ORDER[name])
            done.append((f"z-ordered by {columns}", store.z_order(name, Z_ORDER[name])))
    return done


def vacuum(root: str | Path, retain_hours: int) -> dict[str, int]:
    """Delete files no version younger than ``retain_hours`` needs; returns deletions per table."""
    if not MIN_VACUUM_RETAIN_HOURS <= retain_hours <= MAX_VACUUM_RETAIN_HOURS:
        raise RetentionError(
            f"--retain {retain_hours}: must be {MIN_VACUUM_RETAIN_HOURS} to "
            f"{MAX_VACUUM_RETAIN_HOURS} hours (below {MIN_VACUUM_RETAIN_HOURS} h a reader of "
            "an older version, the dashboard or a backup under way, could lose its files)"
        )
    store = DeltaStore(root, retention_hours=retain_hours)
    return {name: store.vacuum(name) for name in TABLES if store.exists(name)}


def format_info(tables: list[TableInfo]) -> str:
    """The ``v6 store info`` table."""
    header = f"{'TABLE':<18} {'VERSION':>7} {'FILES':>6} {'ROWS':>10} {'SIZE':>10} {'ON DISK':>10}"
    lines = [header]
    for t in tables:
        lines.append(
            f"{t.name:<18} {t.version:>7} {t.files:>6} {t.rows:>10,} "
            f"{_mb(t.bytes):>10} {_mb(t.disk_bytes):>10}"
        )
    total = sum(t.disk_bytes for t in tables)
    lines.append(f"{len(tables)} tables, {_mb(total)} on disk")
    return "\n".join(lines)


def _mb(count: int) -> str:
    return f"{count / 1e6:,.2f} MB"
