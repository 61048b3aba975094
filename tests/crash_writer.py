"""Append and flush batches of alerts forever, so a test can kill it mid-flush.

Usage: ``python tests/crash_writer.py <store root> <batch size>``. Batch ``b`` holds
rows whose ``code`` is ``batch-b`` and whose ``message`` is the row's index ``0..n-1``,
so a reader can tell a complete batch from a torn one.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import pyarrow as pa

from v6.store.delta_store import DeltaStore
from v6.store.schemas import TIME


def batch(number: int, size: int) -> pa.Table:
    """One batch of ``size`` alert rows, all tagged with ``number``."""
    return pa.table(
        {
            "time": pa.repeat(pa.scalar(datetime.now(UTC), type=TIME), size),
            "severity": pa.repeat("info", size),
            "source": pa.repeat("crash_writer", size),
            "code": pa.repeat(f"batch-{number}", size),
            "message": pa.array([str(i) for i in range(size)]),
            "run_id": pa.repeat("crash", size),
        }
    )


def main(root: str, size: int) -> None:
    store = DeltaStore(root)
    number = 0
    while True:
        store.append("alerts", batch(number, size))
        store.flush()
        number += 1


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
