"""The change metrics of a future on a ratio-adjusted continuous series.

Every metric compares the price now with the price at a reference instant:

* ``change_1h`` / ``change_4h``: 1 and 4 hours of CME *trading* time ago, so the hour
  before Monday 18:30 ET is Monday 18:00 back to Friday 16:30 (break, weekend and
  holidays skipped);
* ``change_overnight``: the close of the previous regular equity session (16:00 ET, or
  the early close), the ETFs' last close;
* ``change_daily``: one CME trading day (23 trading hours) ago: yesterday at this time,
  Friday at this time on a Monday, Wednesday on the day after a Thursday holiday.

The reference price is the last snapshot taken at or before the reference instant, and
only if no more than ``tolerance`` of trading time separates the two (one engine cycle):
a price from hours earlier is not the price at the reference, so the metric is None.

Contract rolls: each snapshot carries ``roll_ratio``, the new contract's price over the
old one's at the roll (both quoted in the same cycle), 1 otherwise. A reference taken on
an older contract is scaled by the product of the ratios since (a ratio, not a
back-adjustment by points: percent changes stay what they were). A roll whose ratio is
unknown (the old contract had no quote) starts a new segment that no metric spans.
"""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
from attrs import define, field

from v6.futures.hours import HOUR_NS, SESSION_NS, FuturesHours, to_ns

METRICS = ("change_1h", "change_4h", "change_overnight", "change_daily")
KEEP_NS = 10 * 24 * HOUR_NS  # snapshots older than this (calendar time) are dropped


@define
class _Series:
    """One future's recent snapshots, oldest first."""

    times: list[int] = field(factory=list)  # ns since the epoch
    log_prices: list[float] = field(factory=list)
    log_adjust: list[float] = field(factory=list)  # cumulative log roll ratio
    segments: list[int] = field(factory=list)  # bumped by a roll of unknown ratio
    contracts: list[str] = field(factory=list)


class ChangeTracker:
    """Keeps each future's recent snapshots and measures the change metrics from them."""

    def __init__(self, hours: FuturesHours, tolerance_seconds: float) -> None:
        self.hours = hours
        self.tolerance_ns = int(tolerance_seconds * 1e9)
        self._series: dict[str, _Series] = {}

    def last_contract(self, symbol: str) -> str | None:
        """The local symbol of ``symbol``'s latest snapshot (None before the first)."""
        series = self._series.get(symbol)
        return series.contracts[-1] if series and series.contracts else None

    def add(
        self, symbol: str, time: datetime, contract: str, price: float, roll_ratio: float
    ) -> None:
        """Record a snapshot; ``roll_ratio`` is NaN for a roll whose ratio is unknown."""
        if not (math.isfinite(price) and price > 0):
            raise ValueError(f"{symbol}: a snapshot needs a positive price, got {price}")
        s = self._series.setdefault(symbol, _Series())
        t = to_ns(time)
        if s.times and t <= s.times[-1]:
            return  # the same instant again (or a clock that went back): nothing new
        known = math.isfinite(roll_ratio) and roll_ratio > 0
        adjust = (s.log_adjust[-1] if s.log_adjust else 0.0) + (
            math.log(roll_ratio) if known else 0.0
        )
        segment = (s.segments[-1] if s.segments else 0) + (0 if known else 1)
        s.times.append(t)
        s.log_prices.append(math.log(price))
        s.log_adjust.append(adjust)
        s.segments.append(segment)
        s.contracts.append(contract)
        cut = int(np.searchsorted(np.asarray(s.times), t - KEEP_NS))
        if cut:
            for column in (s.times, s.log_prices, s.log_adjust, s.segments, s.contracts):
                del column[:cut]

    def changes(self, symbol: str, time: datetime) -> dict[str, float | None]:
        """The four metrics in percent for the snapshot of ``symbol`` at ``time`` (the
        latest added); None where there is no usable reference."""
        s = self._series.get(symbol)
        if not s or not s.times:
            return dict.fromkeys(METRICS)
        now = to_ns(time)
        hours = self.hours
        refs = np.array(
            [
                hours.trading_time_before(time, HOUR_NS),
                hours.trading_time_before(time, 4 * HOUR_NS),
                hours.previous_regular_close(time),
                hours.trading_time_before(time, SESSION_NS),
            ],
            dtype=np.int64,
        )
        times = np.asarray(s.times, dtype=np.int64)
        j = np.searchsorted(times, refs, side="right") - 1
        k = len(times) - 1
        if times[k] != now:
            return dict.fromkeys(METRICS)
        found = j >= 0
        jj = np.maximum(j, 0)
        gap = hours.trading_ns(refs) - hours.trading_ns(times[jj])
        log_p = np.asarray(s.log_prices)
        adjust = np.asarray(s.log_adjust)
        segment = np.asarray(s.segments)
        ok = found & (gap <= self.tolerance_ns) & (segment[jj] == segment[k]) & (jj < k)
        change = np.expm1(log_p[k] - log_p[jj] - (adjust[k] - adjust[jj])) * 100.0
        return {
            name: (float(c) if good and math.isfinite(c) else None)
            for name, c, good in zip(METRICS, change, ok, strict=True)
        }
