"""The path of every open position: its marks cycle by cycle, kept in NumPy buffers.

Exit rules that depend on a path (a trailing stop's peak, a breach that must hold for
several cycles) read a :class:`~v6.domain.positions.PositionTrack`. The buffers grow by
doubling and the tracks handed out are views, so recording 200 positions a cycle costs a
few array writes each, not a rebuild of their history.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from v6.domain.positions import PositionMark, PositionTrack

_COLUMNS = 4  # pnl, pnl_fraction, half_spread, spot


class _Buffer:
    __slots__ = ("size", "times", "values")

    def __init__(self, capacity: int = 64) -> None:
        self.times = np.empty(capacity, dtype="datetime64[us]")
        self.values = np.empty((_COLUMNS, capacity), dtype=np.float64)
        self.size = 0

    def append(self, time: np.datetime64, row: tuple[float, float, float, float]) -> None:
        if self.size == self.times.shape[0]:
            capacity = 2 * self.size
            self.times = np.resize(self.times, capacity)
            values = np.empty((_COLUMNS, capacity), dtype=np.float64)
            values[:, : self.size] = self.values[:, : self.size]
            self.values = values
        self.times[self.size] = time
        self.values[:, self.size] = row
        self.size += 1

    def track(self) -> PositionTrack:
        n = self.size
        v = self.values
        return PositionTrack(
            times=self.times[:n], pnl=v[0, :n], pnl_fraction=v[1, :n], half_spread=v[2, :n],
            spot=v[3, :n],
        )  # fmt: skip


def track_row(mark: PositionMark) -> tuple[float, float, float, float]:
    """(pnl, pnl fraction, half-spread, spot) of a mark; NaN prices for bad quotes, which
    must neither set a trailing peak nor count as a breach."""
    if mark.quotes_valid:
        return (
            mark.unrealized_pnl,
            mark.pnl_fraction_of_max_profit,
            mark.close_natural - mark.close_mid,
            mark.spot,
        )
    return (np.nan, np.nan, np.nan, mark.spot)


class MarkTracker:
    """Appends each cycle's marks and hands out every position's track."""

    def __init__(self) -> None:
        self._buffers: dict[str, _Buffer] = {}

    def record(self, marks: Iterable[PositionMark]) -> dict[str, PositionTrack]:
        """Append ``marks`` (one per position) and return the updated tracks."""
        tracks = {}
        for mark in marks:
            pid = mark.position.position_id
            buffer = self._buffers.get(pid)
            if buffer is None:
                buffer = self._buffers[pid] = _Buffer()
            buffer.append(np.datetime64(mark.time.replace(tzinfo=None), "us"), track_row(mark))
            tracks[pid] = buffer.track()
        return tracks

    def restore(
        self,
        position_id: str,
        times: np.ndarray,
        pnl: np.ndarray,
        pnl_fraction: np.ndarray,
        half_spread: np.ndarray,
        spot: np.ndarray,
    ) -> None:
        """Rebuild a position's track from stored marks (oldest first), after a restart."""
        buffer = self._buffers[position_id] = _Buffer(max(64, 2 * len(times)))
        for row in zip(times, pnl, pnl_fraction, half_spread, spot, strict=True):
            buffer.append(np.datetime64(row[0], "us"), tuple(float(x) for x in row[1:]))

    def track(self, position_id: str) -> PositionTrack | None:
        """The position's track so far, or None if it has none."""
        buffer = self._buffers.get(position_id)
        return None if buffer is None else buffer.track()

    def forget(self, position_id: str) -> None:
        """Drop a closed position's track."""
        self._buffers.pop(position_id, None)
