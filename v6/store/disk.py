"""The disk under a store: permission and room to write, checked before delta-rs writes.

delta-rs writes through a Rust runtime. When a write fails on a read-only directory or a
full disk, a worker thread of that runtime panics ("thread 'tokio-rt-worker' panicked at
.../object_store/src/buffered.rs: Already shut down", with a stack backtrace when
RUST_BACKTRACE is set) and Rust prints that on stderr before the error reaches Python.
Nothing in Python can silence the printing, so the store asks the operating system first
and refuses in one line of its own. A disk that fills up during the write itself still
slips past the check; its error is then reported in one line after Rust's.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

SPARE_BYTES = 1 << 20
"""Room kept beyond the data itself: commit files, a checkpoint every 10 commits, footers."""

# How the errors read once they have crossed delta-rs and object_store: only the text
# survives, with the OS's message and Rust's "(os error N)".
_OS_PROBLEMS = (
    (errno.ENOSPC, "No space left on device", "no space left on the device"),
    (errno.EDQUOT, "Disk quota exceeded", "the disk quota is exceeded"),
    (errno.EROFS, "Read-only file system", "the file system is read-only"),
    (errno.EACCES, "Permission denied", "permission denied"),
    (errno.EPERM, "Operation not permitted", "permission denied"),
)


def _size(count: int) -> str:
    return f"{count / (1 << 20):.1f} MiB"


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def write_problem(directories: list[Path], need: int) -> str | None:
    """Why ``need`` bytes cannot be written into ``directories``, or None if they can.

    Each directory that does not exist yet is judged by its nearest existing parent
    (where it would be created). Checks a read-only file system, write permission, and
    the free space left to an unprivileged user against ``need`` plus ``SPARE_BYTES``.
    ``need`` is an upper bound (the Arrow size of the rows; Parquet compresses them), so
    a nearly full disk is refused somewhat before it would really fail.
    """
    for directory in directories:
        target = _nearest_existing(directory)
        try:
            read_only = bool(os.statvfs(target).f_flag & os.ST_RDONLY)
            if read_only:
                return f"{target} is on a read-only file system (mount it read-write)"
            if not os.access(target, os.W_OK | os.X_OK):
                return f"no permission to write in {target} (make it writable for this user)"
            stats = os.statvfs(target)
        except OSError as exc:
            return f"cannot check {target}: {exc.strerror or exc}"
        free = stats.f_bavail * stats.f_frsize
        if free < need + SPARE_BYTES:
            return (
                f"not enough space left on the device of {target} ({_size(free)} free, up to "
                f"{_size(need + SPARE_BYTES)} needed; free some space on it)"
            )
    return None


def free_bytes(directory: str | Path) -> float | None:
    """Bytes free to an unprivileged user on the disk of ``directory`` (None if unreadable).

    A ``statvfs`` call: microseconds, cheap enough for every cycle.
    """
    try:
        stats = os.statvfs(_nearest_existing(Path(directory)))
    except OSError:
        return None
    return float(stats.f_bavail * stats.f_frsize)


def os_problem(exc: BaseException) -> str | None:
    """A full disk, a read-only file system or a denied permission behind ``exc``, or None.

    Works on errors that crossed delta-rs, which keep only their text.
    """
    code = exc.errno if isinstance(exc, OSError) else None
    text = str(exc)
    for number, message, problem in _OS_PROBLEMS:
        if code == number or message in text or f"(os error {number})" in text:
            return problem
    return None
