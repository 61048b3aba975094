"""What a V6 store and a sound table look like on disk, and the errors for those that are not.

A store is a directory holding one directory per table (see ``schemas.TABLES``) and, once
a session has run on it, the writer lock ``.v6-writer.lock``. A table is sound when its
transaction log (``_delta_log``) opens and every data file the log refers to is there,
at the size the log recorded.

A damaged table is never read as empty and never replaced: Delta would start a fresh
table over a directory whose log is gone, and every row in its data files would be lost
without a word. V6 names the table and stops (exit status 6). To tell a lost log from a
first write that was killed before its commit, the store creates every table with an
empty first commit before writing data into it (``DeltaStore.flush``): data files
without a committed log are therefore always damage, never a table still being made.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from v6.errors import V6Error
from v6.store.schemas import TABLES
from v6.store.writer_lock import LOCK_FILE

LOG_DIR = "_delta_log"
# A commit (00000000000000000012.json), a checkpoint (…12.checkpoint.parquet, or a
# multi-part …12.checkpoint.0000000001.0000000002.parquet) or the pointer to the latest.
_COMMITTED = re.compile(
    r"^(\d{20}\.json|\d{20}\.checkpoint(\.\d+\.\d+)?\.parquet|_last_checkpoint)$"
)
_REASON_LENGTH = 200


class NotAStoreError(V6Error):
    """A command that reads a store was given a path that holds none (exit status 2)."""

    exit_status = 2


class DamagedTableError(V6Error):
    """A table's log or data files are damaged: V6 neither reads nor replaces it (status 6)."""

    exit_status = 6

    def __init__(self, table: str, path: Path, reason: str) -> None:
        self.table = table
        self.path = path
        self.reason = reason
        super().__init__(
            f"table '{table}' in {path.parent} is damaged: {reason}; V6 neither reads nor "
            f"replaces it: restore {path} from a backup, or move it aside to start that "
            "table afresh without its rows"
        )


def short_reason(exc: BaseException) -> str:
    """The first line of an error's message, bounded.

    delta-rs puts a Rust backtrace under the message when RUST_BACKTRACE is set, and
    object_store indents a chain of causes; the first line is the one a user needs.
    """
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    if len(text) > _REASON_LENGTH:
        text = text[: _REASON_LENGTH - 3] + "..."
    return text


def table_committed(path: Path, table: str) -> bool:
    """True if the table at ``path`` has a committed log; False if it was never written.

    Never written: the directory is absent, or holds no data and no committed log (a
    creation killed before its first commit). Raises DamagedTableError for a file where
    the directory should be, and for data files without a committed log.
    """
    try:
        if not path.is_dir():
            if path.exists() or path.is_symlink():
                raise DamagedTableError(table, path, "it is a file, not a table directory")
            return False
        log = path / LOG_DIR
        if log.is_dir():
            if any(_COMMITTED.match(name) for name in os.listdir(log)):
                return True
        elif log.exists():
            raise DamagedTableError(table, path, f"its {LOG_DIR} is a file, not a directory")
        data = sorted(name for name in os.listdir(path) if not name.startswith(("_", ".")))
    except OSError as exc:
        raise DamagedTableError(table, path, f"cannot list it: {short_reason(exc)}") from exc
    if not data:
        return False
    log_state = f"no commit in its {LOG_DIR}" if log.is_dir() else f"no {LOG_DIR}"
    raise DamagedTableError(
        table, path, f"{len(data)} data file(s) (e.g. {data[0]}) but {log_state}"
    )


def is_store(root: Path) -> bool:
    """True if ``root`` holds a V6 store: its writer lock or at least one of its tables."""
    return (root / LOCK_FILE).exists() or any((root / name).exists() for name in TABLES)


def check_store_path(root: str | Path) -> None:
    """Refuse a store path that exists but is not a directory (NotAStoreError).

    What ``v6 run`` checks: a path that does not exist yet becomes a new store.
    """
    path = Path(root)
    try:
        if path.exists() and not path.is_dir():
            raise NotAStoreError(
                f"store {path} is a file, not a directory; give --store (or store.path) a "
                "directory, or a path that does not exist yet for a new store"
            )
    except OSError as exc:
        raise NotAStoreError(f"cannot open store {path}: {short_reason(exc)}") from exc


def check_existing_store(root: str | Path) -> None:
    """Refuse a path that holds no V6 store (NotAStoreError): what readers check first.

    ``v6 explain`` and ``v6 breaker`` read a store a session wrote; a path that does not
    exist, is a file or holds no V6 table is a typo, and reading it as an empty store
    would report every breaker as ok (and ``breaker reset`` would create a store there).
    """
    path = Path(root)
    hint = "give --store (or store.path) the directory a `v6 run` writes"
    check_store_path(path)
    try:
        if not path.exists():
            raise NotAStoreError(f"store {path} does not exist; {hint}")
        if not is_store(path):
            raise NotAStoreError(
                f"{path} is not a V6 store (no V6 table and no {LOCK_FILE} in it); {hint}"
            )
    except OSError as exc:
        raise NotAStoreError(f"cannot open store {path}: {short_reason(exc)}") from exc
