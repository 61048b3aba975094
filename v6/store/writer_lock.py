"""One writer per store: an advisory lock that a crashed writer cannot leave stuck.

Two engines writing one store corrupt each other's work: each compaction vacuums, with
zero retention, files the other has just read or is about to commit against, and the
other dies with a DeltaError. ``v6 run`` therefore holds an exclusive ``flock`` on
``<store>/.v6-writer.lock`` from before it writes anything until after its last flush.

The kernel owns the lock, not the file: it is released when the holder's descriptor is
closed, and the kernel closes every descriptor of a process that dies, however it dies
(SIGKILL, a segfault, the OOM killer). So a crash never leaves the store locked, and no
"stale lock" clean-up exists to get wrong. The file itself stays (deleting a lock file
races with a process that has just opened it); its content only names the current holder
for the refusal message.

Readers (``v6 explain``, ``v6 breaker status``, the dashboard) and ``v6 breaker reset``
(which appends a request to ``breaker_events`` for the running engine to pick up) never
take the lock.
"""

from __future__ import annotations

import fcntl
import json
import os
from datetime import UTC, datetime
from pathlib import Path

from attrs import frozen

from v6.errors import V6Error

LOCK_FILE = ".v6-writer.lock"


class WriterLockError(V6Error):
    """The store's writer lock could not be taken for a reason other than another writer."""


class StoreInUseError(WriterLockError):
    """Another V6 session is writing the store (exit status 5; 4 is an unreachable IB gateway)."""

    exit_status = 5

    def __init__(self, root: Path, holder: WriterInfo | None) -> None:
        self.root = root
        self.holder = holder
        who = "pid unknown" if holder is None else holder.describe()
        super().__init__(
            f"store {root} is in use by another V6 session ({who}); "
            "stop that session first (Ctrl-C, or SIGTERM to its pid) "
            "or give this one another --store"
        )


@frozen(slots=True)
class WriterInfo:
    """Who holds a store's writer lock: written into the lock file for other sessions."""

    pid: int
    run_id: str
    since: datetime

    def describe(self) -> str:
        """``pid N, run X since T`` for messages."""
        return f"pid {self.pid}, run {self.run_id} since {self.since:%Y-%m-%d %H:%M:%S}Z"

    def to_json(self) -> str:
        return json.dumps({"pid": self.pid, "run_id": self.run_id, "since": self.since.isoformat()})

    @classmethod
    def from_json(cls, text: str) -> WriterInfo | None:
        """The holder named by a lock file's content; None if it is empty or torn."""
        try:
            data = json.loads(text)
            return cls(int(data["pid"]), str(data["run_id"]), datetime.fromisoformat(data["since"]))
        except (ValueError, KeyError, TypeError):
            return None


def lock_path(root: str | Path) -> Path:
    """The lock file of the store under ``root``."""
    return Path(root) / LOCK_FILE


class WriterLock:
    """The exclusive right to write the store under ``root``; use as a context manager.

    ``acquire`` never waits: a store in use raises :class:`StoreInUseError` naming the
    holder. Creates ``root`` if it does not exist yet.
    """

    def __init__(self, root: str | Path, run_id: str) -> None:
        self.root = Path(root)
        self.path = lock_path(root)
        self.run_id = run_id
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """True between ``acquire`` and ``release``."""
        return self._fd is not None

    def acquire(self) -> WriterLock:
        """Take the lock or raise StoreInUseError (another writer) / WriterLockError."""
        if self._fd is not None:
            return self
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            # Opened without truncating: the content names the holder until we hold it.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise WriterLockError(
                f"cannot create the writer lock {self.path}: {exc.strerror or exc}; "
                "check that the store path is a writable directory"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StoreInUseError(self.root, current_writer(self.root)) from None
        except OSError as exc:
            os.close(fd)
            raise WriterLockError(
                f"cannot lock {self.path}: {exc.strerror or exc} "
                "(the store's file system must support flock)"
            ) from None
        info = WriterInfo(os.getpid(), self.run_id, datetime.now(UTC).replace(microsecond=0))
        os.ftruncate(fd, 0)
        os.pwrite(fd, info.to_json().encode() + b"\n", 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Give the lock up (clearing the holder's name first); a no-op if not held."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # closing the descriptor releases the flock

    def __enter__(self) -> WriterLock:
        return self.acquire()

    def __exit__(self, *_exc: object) -> None:
        self.release()


def current_writer(root: str | Path) -> WriterInfo | None:
    """The holder named in the store's lock file (None if none is named).

    Only meaningful while the lock is held: a killed writer's name stays in the file
    until the next writer takes the lock.
    """
    try:
        return WriterInfo.from_json(lock_path(root).read_text())
    except OSError:
        return None
