"""When CME's equity-index futures trade, and the reference instants of the change metrics.

CME Globex trades ES, NQ and RTY from 18:00 ET Sunday to 17:00 ET Friday with a daily
maintenance break from 17:00 to 18:00 ET, and shuts or shortens on exchange holidays.
All of it comes from ``pandas_market_calendars``' CME_Equity calendar (through
:class:`v6.market.calendar.ExchangeCalendar`), never from a hand-written list:
each session opens at 17:00 CT the evening before and closes at 16:00 CT, so the hour
between one close and the next open is the maintenance break. The
regular equity session (for the overnight change) comes from the NYSE calendar V6
already uses.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from v6.errors import V6Error
from v6.market.calendar import ExchangeCalendar

CME_CALENDAR = "CME_Equity"
HOUR_NS = 3_600 * 1_000_000_000
# One CME trading day: 18:00 ET to 17:00 ET the next day.
SESSION_NS = 23 * HOUR_NS
BEFORE_ANY_CLOSE = -(2**62)  # an instant before any snapshot: no reference


def _ns(t: datetime) -> int:
    return int(np.datetime64(t.astimezone(UTC).replace(tzinfo=None), "ns").astype(np.int64))


def _time(ns: int) -> datetime:
    seconds, rest = divmod(int(ns), 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC) + timedelta(microseconds=rest // 1000)


class FuturesHours:
    """CME trading hours and the regular equity session, for one futures observer."""

    def __init__(
        self, cme: ExchangeCalendar | None = None, equity: ExchangeCalendar | None = None
    ) -> None:
        self.cme = cme or ExchangeCalendar(CME_CALENDAR)
        self.equity = equity or ExchangeCalendar()

    def trading(self, t: datetime) -> bool:
        """True while CME trades; False in the maintenance break, weekend or a holiday."""
        return self.cme.is_open(t)

    def trading_ns(self, times_ns: np.ndarray) -> np.ndarray:
        """CME trading time elapsed up to each instant (ns), for lookbacks and gaps."""
        return self.cme.open_nanoseconds(times_ns)

    def trading_time_before(self, t: datetime, nanoseconds: int) -> int:
        """The instant (ns) ``nanoseconds`` of CME trading before ``t``."""
        elapsed = self.cme.open_nanoseconds(np.array([_ns(t)]))[0]
        return int(self.cme.instant_at_open_nanoseconds(np.array([elapsed - nanoseconds]))[0])

    def previous_regular_close(self, t: datetime) -> int:
        """The close (ns) of the last regular equity session that closed before ``t``:
        the reference of the overnight change (Friday's close on a Monday, the close
        before a holiday on the day after it)."""
        try:
            return _ns(self.equity.last_close_before(t))
        except V6Error:  # before the calendar's first session: no close to compare with
            return BEFORE_ANY_CLOSE


def to_ns(t: datetime) -> int:
    """A timezone-aware time as int64 nanoseconds since the epoch (UTC)."""
    return _ns(t)


def from_ns(ns: int) -> datetime:
    """The UTC time of int64 nanoseconds since the epoch."""
    return _time(ns)
