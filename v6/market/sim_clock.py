"""The simulated clock: jumps from one engine cycle to the next over real trading sessions.

Cycles run every ``interval_seconds`` from one interval after each session's open (the
first quotes of the day) through the closing bell, which always gets a cycle of its own
so the engine sees every session end. Nights, weekends and holidays are skipped: the
next cycle after a close is the next session's first one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, datetime, timedelta

from v6.market.calendar import ExchangeCalendar


def session_cycles(open_: datetime, close: datetime, interval_seconds: int) -> list[datetime]:
    """Cycle times of one session: open + k * interval before the close, then the close."""
    step = timedelta(seconds=interval_seconds)
    times: list[datetime] = []
    t = open_ + step
    while t < close:
        times.append(t)
        t += step
    times.append(close)
    return times


class SimClock:
    """A :class:`v6.ports.Clock` over ``days`` trading sessions starting at ``start``.

    ``speed`` 0 runs as fast as the engine goes; ``speed`` s > 0 sleeps interval / s real
    seconds between cycles (for demos: 60 turns a 15-minute interval into 15 seconds).
    ``sleep`` is injectable so tests never wait on the wall clock. ``should_stop`` is
    asked between short naps of a wait, like the live clock's, so a stop signal ends a
    slow demo's wait at once instead of after the whole interval.
    """

    WAIT_STEP_SECONDS = 0.25

    def __init__(
        self,
        calendar: ExchangeCalendar,
        start: date,
        days: int,
        interval_seconds: int,
        speed: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if days <= 0 or interval_seconds <= 0 or speed < 0:
            raise ValueError("SimClock needs days > 0, interval_seconds > 0 and speed >= 0")
        self.calendar = calendar
        self.interval_seconds = interval_seconds
        self.speed = speed
        self._sleep = sleep
        self.should_stop: Callable[[], bool] = lambda: False
        self.sessions: list[date] = calendar.sessions(start, days)
        times: list[datetime] = []
        owners: list[int] = []
        for n, session in enumerate(self.sessions):
            open_, close = calendar.open_close(session)
            cycles = session_cycles(open_, close, interval_seconds)
            times.extend(cycles)
            owners.extend([n] * len(cycles))
        self._times = times
        self._owners = owners
        self._first_open = calendar.open_close(self.sessions[0])[0]
        self._i = -1

    @property
    def cycle_times(self) -> list[datetime]:
        """Every cycle time of the run, in order (for progress bars and tests)."""
        return list(self._times)

    def now(self) -> datetime:
        """The current cycle time; the first session's open before the first cycle."""
        if self._i < 0:
            return self._first_open
        return self._times[min(self._i, len(self._times) - 1)]

    def next_cycle(self) -> datetime | None:
        """Advance to the next cycle time; None once the last session has closed."""
        if self._i >= len(self._times) - 1:
            self._i = len(self._times)
            return None
        if self._i >= 0 and self.speed > 0 and not self._wait(self.interval_seconds / self.speed):
            return None  # asked to stop while waiting: no new cycle, nothing skipped
        self._i += 1
        return self._times[self._i]

    def _wait(self, seconds: float) -> bool:
        """Sleep ``seconds`` in short naps; False as soon as a stop is requested."""
        left = seconds
        while left > 0:
            if self.should_stop():
                return False
            nap = min(left, self.WAIT_STEP_SECONDS)
            self._sleep(nap)
            left -= nap
        return not self.should_stop()

    @property
    def session_date(self) -> date | None:
        """The session of the current cycle (None before the first cycle)."""
        if self._i < 0:
            return None
        return self.sessions[self._owners[min(self._i, len(self._owners) - 1)]]

    @property
    def is_session_close(self) -> bool:
        """True when the current cycle is the last one of its session (the closing bell)."""
        i = self._i
        if i < 0 or i >= len(self._times):
            return False
        return i == len(self._times) - 1 or self._owners[i + 1] != self._owners[i]

    @property
    def is_last_cycle(self) -> bool:
        """True when the current cycle is the last of the whole run."""
        return self._i == len(self._times) - 1

    @property
    def finished(self) -> bool:
        """True once :meth:`next_cycle` has returned None."""
        return self._i >= len(self._times)
