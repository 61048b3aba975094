"""Engine time in paper and live: the broker's clock, one cycle per interval.

IB's server time is the reference (a drifting local clock must not decide whether the
market is open or a quote is stale); between cycles the clock keeps ib_async processing
messages, so fills, order updates and disconnects are handled while V6 waits. Outside
regular trading hours it waits for the next open instead of cycling.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from v6.brokers.ib.connection import IBConnectionManager
from v6.market.calendar import ExchangeCalendar

WAIT_STEP_SECONDS = 0.25


class BrokerClock:
    """Implements :class:`v6.ports.Clock` on IB's server time."""

    def __init__(
        self,
        connection: IBConnectionManager,
        calendar: ExchangeCalendar,
        interval_seconds: float,
        *,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self.connection = connection
        self.calendar = calendar
        self.interval = interval_seconds
        self.should_stop = should_stop
        self._offset: timedelta | None = None  # broker time - local time
        self._last_cycle: float | None = None

    def now(self) -> datetime:
        """IB's time (the local clock corrected by the last offset IB gave)."""
        if self.connection.connected:
            try:
                server = self.connection.ib.reqCurrentTime()
            except (ConnectionError, TimeoutError, OSError):
                server = None
            if server is not None:
                server = server if server.tzinfo else server.replace(tzinfo=UTC)
                self._offset = server - datetime.now(UTC)
        return datetime.now(UTC) + (self._offset or timedelta(0))

    def next_cycle(self) -> datetime | None:
        """Wait for the next cycle (processing IB messages meanwhile); None when asked to stop."""
        if self._last_cycle is not None:
            due = self._last_cycle + self.interval
            while (left := due - time.monotonic()) > 0:
                if self.should_stop():
                    return None
                self.connection.pump(min(left, WAIT_STEP_SECONDS))
        while True:
            now = self.now()
            if self.calendar.is_open(now):
                break
            if self.should_stop():
                return None
            self.connection.pump(WAIT_STEP_SECONDS * 4)
        self._last_cycle = time.monotonic()
        return now
