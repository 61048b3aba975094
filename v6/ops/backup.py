"""``v6 backup DEST`` and ``v6 restore SRC``: a consistent copy of a store, and back.

A backup is taken while the engine runs. Every table is pinned at its latest committed
version first (one moment for the whole store), then each table's transaction log up to
that version and exactly the data files that version references are copied. A Delta
reader of the copy sees the table as it was at the pinned version; appends the engine
commits meanwhile are newer versions and are left out. Replaced files stay readable for
the store's retention window (an hour at least), far longer than a copy takes; a log file
that a checkpoint let go of mid-copy makes the table start again at its new latest version.

``manifest.json`` records, per table, the version, the row count and every file's size
and SHA-256. ``v6 restore`` checks all of them before it touches the target, copies into
a staging directory beside it, reads every table back at its version, and only then
moves the tables into place. It holds the target's writer lock throughout, so it refuses
a store a running engine writes (exit status 5) even with ``--force``; an existing store
is replaced only with ``--force``, and its old tables are kept aside, not deleted.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
from deltalake import DeltaTable

from v6 import __version__
from v6.errors import V6Error
from v6.store.delta_store import DeltaStore
from v6.store.disk import write_problem
from v6.store.integrity import check_existing_store, is_store
from v6.store.schemas import TABLES
from v6.store.writer_lock import WriterLock

MANIFEST = "manifest.json"
FORMAT = 1
_CHUNK = 1 << 20
_ATTEMPTS = 5


class BackupError(V6Error):
    """A backup that cannot be taken or a restore that must not happen (exit status 2)."""

    exit_status = 2


class DamagedBackupError(V6Error):
    """A backup whose files do not match its manifest (exit status 6, as a damaged table)."""

    exit_status = 6


def sha256(path: Path) -> str:
    """The file's SHA-256 in hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _log_version(name: str) -> int | None:
    """The version a ``_delta_log`` file belongs to (commit or checkpoint), else None."""
    head = name.split(".", 1)[0]
    return int(head) if head.isdigit() else None


def _pinned_files(table_root: Path, version: int) -> tuple[list[str], list[str], int]:
    """(log files, data files, rows) of ``table_root`` at ``version``, paths relative to it."""
    delta = DeltaTable(str(table_root), version=version)
    actions = pa.table(delta.get_add_actions(flatten=True))
    data = [unquote(p) for p in actions.column("path").to_pylist()] if actions.num_rows else []
    counts = (
        actions.column("num_records").to_pylist() if "num_records" in actions.schema.names else []
    )
    rows = (
        int(sum(counts))
        if counts and all(c is not None for c in counts)
        else delta.to_pyarrow_dataset().count_rows()
    )
    log_dir = table_root / "_delta_log"
    logs = []
    for item in sorted(os.listdir(log_dir)):
        found = _log_version(item)
        if (
            found is not None
            and found <= version
            and (item.endswith(".json") or ".checkpoint" in item)
        ):
            logs.append(f"_delta_log/{item}")
    return logs, data, rows


def _copy(source: Path, target: Path) -> dict[str, Any]:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return {"bytes": target.stat().st_size, "sha256": sha256(target)}


def _copy_table(source: Path, target: Path, version: int) -> dict[str, Any]:
    """Copy one table at ``version``; its manifest entry."""
    logs, data, rows = _pinned_files(source, version)
    files: dict[str, Any] = {}
    for relative in logs + data:  # the log first: the small files a checkpoint may let go
        files[relative] = _copy(source / relative, target / relative)
    copied = DeltaTable(str(target), version=version).to_pyarrow_dataset().count_rows()
    if copied != rows:
        raise BackupError(
            f"table {source.name}: {copied} rows in the copy, {rows} at version {version}"
        )
    return {"version": version, "rows": rows, "files": files}


def backup(
    root: str | Path, dest: str | Path, say: Callable[[str], None] = lambda _t: None
) -> dict:
    """Copy the store under ``root`` into the new directory ``dest``; returns the manifest."""
    root, dest = Path(root), Path(dest)
    check_existing_store(root)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BackupError(
            f"backup destination {dest} exists and is not empty; give a new directory"
        )
    store = DeltaStore(root)
    store.verify_all()  # a damaged table is named now, not copied
    need = sum(_size(store.path(name)) for name in TABLES if store.exists(name))
    problem = write_problem([dest], need)
    if problem is not None:
        raise BackupError(f"cannot back up into {dest}: {problem}")
    # One moment for every table: pin them all before copying any.
    pinned = {
        name: DeltaTable(str(store.path(name))).version() for name in TABLES if store.exists(name)
    }
    taken = datetime.now(UTC)
    staging = dest.with_name(f".{dest.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    tables: dict[str, Any] = {}
    for name, version in pinned.items():
        for attempt in range(_ATTEMPTS):
            try:
                tables[name] = _copy_table(store.path(name), staging / name, version)
                break
            except FileNotFoundError:
                # A checkpoint let an old log file go mid-copy: start the table again
                # at its newest version (later than the others, never torn).
                if attempt == _ATTEMPTS - 1:
                    raise
                shutil.rmtree(staging / name, ignore_errors=True)
                version = DeltaTable(str(store.path(name))).version()
        say(f"{name}: version {tables[name]['version']}, {tables[name]['rows']:,} rows")
    manifest = {
        "format": FORMAT,
        "v6_version": __version__,
        "taken_at": taken.isoformat(),
        "source": str(root),
        "tables": tables,
    }
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    if dest.exists():
        dest.rmdir()
    staging.rename(dest)  # a backup directory either is complete or does not exist
    return manifest


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def read_manifest(src: Path) -> dict[str, Any]:
    """The manifest of the backup in ``src``, checked for shape."""
    try:
        manifest = json.loads((src / MANIFEST).read_text())
        tables = manifest["tables"]
        if manifest.get("format") != FORMAT or not isinstance(tables, dict):
            raise ValueError("unknown format")
        for name, entry in tables.items():
            if name not in TABLES:
                raise ValueError(f"unknown table {name!r}")
            int(entry["version"]), int(entry["rows"]), dict(entry["files"])
    except FileNotFoundError:
        raise BackupError(f"{src} is not a V6 backup (no {MANIFEST} in it)") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DamagedBackupError(f"{src / MANIFEST} is damaged: {exc}") from None
    return manifest


def verify(src: str | Path) -> dict[str, Any]:
    """Check every file of the backup in ``src`` against its manifest; returns the manifest."""
    src = Path(src)
    manifest = read_manifest(src)
    for name, entry in manifest["tables"].items():
        for relative, expected in entry["files"].items():
            path = src / name / relative
            if ".." in Path(relative).parts or not path.is_file():
                raise DamagedBackupError(f"backup {src}: {name}/{relative} is missing")
            if path.stat().st_size != expected["bytes"] or sha256(path) != expected["sha256"]:
                raise DamagedBackupError(
                    f"backup {src}: {name}/{relative} does not match its checksum (damaged)"
                )
    return manifest


def restore(
    src: str | Path,
    target: str | Path,
    *,
    force: bool = False,
    say: Callable[[str], None] = lambda _t: None,
) -> Path | None:
    """Restore the backup in ``src`` as the store ``target``.

    Returns where the replaced store's tables were moved (None if there were none).
    """
    src, target = Path(src), Path(target)
    manifest = verify(src)
    say(f"backup {src}: {len(manifest['tables'])} tables, every checksum matches")
    if target.exists() and not target.is_dir():
        raise BackupError(f"restore target {target} is a file; give a directory")
    occupied = target.exists() and any(p.name != ".v6-writer.lock" for p in target.iterdir())
    with WriterLock(target, "restore"):  # StoreInUseError (exit 5) while an engine runs
        if occupied and not force:
            what = "a V6 store" if is_store(target) else "files"
            raise BackupError(
                f"{target} already holds {what}; restore with --force to replace it "
                "(its tables are kept aside, not deleted)"
            )
        need = sum(f["bytes"] for e in manifest["tables"].values() for f in e["files"].values())
        problem = write_problem([target.parent], need)
        if problem is not None:
            raise BackupError(f"cannot restore into {target}: {problem}")
        staging = target.with_name(f".{target.name}.restoring")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        try:
            _stage(src, staging, manifest, say)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)  # nothing half-restored stays
            raise
        kept = None
        if occupied:
            kept = target.with_name(
                f"{target.name}.before-restore-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
            )
            kept.mkdir()
            for item in target.iterdir():
                if item.name != ".v6-writer.lock":
                    item.rename(kept / item.name)
        for item in staging.iterdir():
            item.rename(target / item.name)
        staging.rmdir()
        DeltaStore(target).verify_all()
    return kept


def _stage(src: Path, staging: Path, manifest: dict[str, Any], say: Callable[[str], None]) -> None:
    """Copy every table of the backup into ``staging`` and read each back at its version."""
    for name, entry in manifest["tables"].items():
        for relative in entry["files"]:
            (staging / name / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src / name / relative, staging / name / relative)
        rows = DeltaTable(str(staging / name), version=entry["version"]).to_pyarrow_dataset()
        if rows.count_rows() != entry["rows"]:
            raise DamagedBackupError(
                f"backup {src}: table {name} reads {rows.count_rows()} rows, "
                f"its manifest says {entry['rows']}"
            )
        say(f"{name}: version {entry['version']}, {entry['rows']:,} rows")
