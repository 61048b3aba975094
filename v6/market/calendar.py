"""The exchange calendar: which days the market trades, and from when to when.

A thin, fast wrapper around the ``exchange_calendars`` library's NYSE calendar ("XNYS")
(and ``pandas_market_calendars``' CME_Equity for the index futures' Globex hours),
so holidays and early closes come from a maintained source, never from a hand-written
list. The schedule is copied once into NumPy arrays; every question the simulated clock
and market ask each cycle is then a binary search, not a pandas lookup.

Building the 36-year schedule costs the libraries most of a second per process (every
``v6 run`` and ``v6 check-config``), so the arrays are kept in a small file under the
user's cache directory, named by calendar, range and the library's version: a new
release of the library (new holidays) builds a new file, and a file that does not read
back as a sound schedule is built again. A cache that cannot be written is only slower.

Option expiries live here too: a listed expiry must be a trading session, and when a
Friday is a holiday the weekly and monthly options expire on the Thursday before.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
import zipfile
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import numpy as np

from v6.errors import V6Error

log = logging.getLogger(__name__)

DEFAULT_START = date(2000, 1, 1)
DEFAULT_END = date(2035, 12, 31)
_NS = np.timedelta64(1, "ns")
CACHE_FORMAT = 1  # bump when what a cache file holds changes

Schedule = tuple[np.ndarray, np.ndarray, np.ndarray]
"""Sessions (datetime64[D]) with their UTC opens and closes (int64 ns since the epoch)."""


PANDAS_MARKET_CALENDARS = frozenset({"CME_Equity"})
"""Calendars taken from ``pandas_market_calendars``: its CME_Equity has Globex's daily
close at 16:00 CT and reopening at 17:00 CT (the maintenance break), which
exchange_calendars' CMES lacks."""


def _pmc_schedule(name: str, start: date, end: date) -> Schedule:
    import pandas_market_calendars as pmc

    schedule = pmc.get_calendar(name).schedule(
        start_date=start.isoformat(), end_date=end.isoformat()
    )
    sessions = schedule.index.values.astype("datetime64[D]")
    opens = schedule["market_open"].dt.tz_convert(UTC).dt.tz_localize(None)
    closes = schedule["market_close"].dt.tz_convert(UTC).dt.tz_localize(None)
    return (
        sessions,
        opens.values.astype("datetime64[ns]").astype("int64"),
        closes.values.astype("datetime64[ns]").astype("int64"),
    )


@lru_cache(maxsize=8)
def _schedule(name: str, start: date, end: date) -> Schedule:
    """Sessions (datetime64[D]) with their UTC opens and closes (int64 ns), built once
    per process, and read from the cache file when an earlier process built it."""
    path = _cache_path(name, start, end)
    schedule = _read_cached(path, start, end) if path is not None else None
    if schedule is None:
        schedule = _build_schedule(name, start, end)
        if path is not None:
            _write_cached(path, schedule)
    for a in schedule:
        a.setflags(write=False)
    return schedule


def _library(name: str) -> str:
    return "pandas_market_calendars" if name in PANDAS_MARKET_CALENDARS else "exchange_calendars"


def _cache_path(name: str, start: date, end: date) -> Path | None:
    """The cache file of this schedule; None when no cache directory can be named."""
    library = _library(name)
    try:
        version = metadata.version(library)
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    except (metadata.PackageNotFoundError, RuntimeError):  # no version, no home directory
        return None
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
    file = f"{safe}-{start:%Y%m%d}-{end:%Y%m%d}-{library}-{version}-v{CACHE_FORMAT}.npz"
    return base / "v6" / "calendars" / file


def _read_cached(path: Path, start: date, end: date) -> Schedule | None:
    """The schedule in ``path``, or None when it is missing or not a sound schedule."""
    try:
        with np.load(path, allow_pickle=False) as cached:
            sessions, opens, closes = cached["sessions"], cached["opens"], cached["closes"]
    except FileNotFoundError:
        return None
    # TypeError/AttributeError: a lone .npy array where the .npz archive belongs.
    except (OSError, ValueError, KeyError, EOFError, TypeError, AttributeError,
            zipfile.BadZipFile) as exc:  # fmt: skip
        log.info("calendar cache %s is unreadable (%s): building the schedule again", path, exc)
        return None
    sound = (
        sessions.dtype == np.dtype("datetime64[D]")
        and opens.dtype == closes.dtype == np.dtype(np.int64)
        and sessions.ndim == opens.ndim == closes.ndim == 1
        and 0 < len(sessions) == len(opens) == len(closes)
        and bool(np.all(np.diff(sessions).astype(np.int64) > 0))
        and bool(np.all(opens < closes))
        and bool(np.all(closes[:-1] <= opens[1:]))
        and sessions[0] >= np.datetime64(start, "D")
        and sessions[-1] <= np.datetime64(end, "D")
    )
    if not sound:
        log.info("calendar cache %s is not a sound schedule: building it again", path)
        return None
    return sessions, opens, closes


def _write_cached(path: Path, schedule: Schedule) -> None:
    """Write the cache file whole (a temporary file renamed over it) or not at all."""
    sessions, opens, closes = schedule
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as out:
                np.savez(out, sessions=sessions, opens=opens, closes=closes)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        log.info("calendar cache %s not written (%s): the next process builds it again", path, exc)


def _build_schedule(name: str, start: date, end: date) -> Schedule:
    if name in PANDAS_MARKET_CALENDARS:
        return _pmc_schedule(name, start, end)
    import exchange_calendars as xcals

    with warnings.catch_warnings():
        # exchange_calendars 4.x still reads tz-aware ``Series.values``, which pandas 3.1
        # deprecates; the values it gets are the UTC ones we want, so the warning is noise.
        warnings.filterwarnings("ignore", message=r"Series\.values returning an ndarray")
        cal = xcals.get_calendar(name, start=start.isoformat(), end=end.isoformat())
    schedule = cal.schedule
    sessions = schedule.index.values.astype("datetime64[D]")
    opens = schedule["open"].dt.tz_convert(UTC).dt.tz_localize(None).values.astype("int64")
    closes = schedule["close"].dt.tz_convert(UTC).dt.tz_localize(None).values.astype("int64")
    return sessions, opens, closes


def _to_ns(t: datetime) -> int:
    if t.tzinfo is None:
        raise ValueError(f"naive datetime {t!r}: V6 times are timezone-aware UTC")
    return int(np.datetime64(t.astimezone(UTC).replace(tzinfo=None), "ns").astype("int64"))


def _from_ns(ns: int | np.integer) -> datetime:
    seconds, rest = divmod(int(ns), 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC) + timedelta(microseconds=rest // 1000)


class ExchangeCalendar:
    """Trading sessions of one exchange (NYSE by default) between ``start`` and ``end``.

    Times are timezone-aware UTC datetimes; sessions are plain dates (the exchange's local
    trading day). A session is open from its open up to *and including* its close: the
    engine's last cycle of a day runs at the closing bell and may still act on it.
    """

    def __init__(
        self, name: str = "XNYS", start: date = DEFAULT_START, end: date = DEFAULT_END
    ) -> None:
        self.name = name
        self.start = start
        self.end = end
        self._sessions, self._opens, self._closes = _schedule(name, start, end)

    # -- sessions -----------------------------------------------------------------------

    def _index_on_or_after(self, d: date) -> int:
        i = int(np.searchsorted(self._sessions, np.datetime64(d, "D"), side="left"))
        if i >= len(self._sessions):
            self._out_of_range(d)
        return i

    def _out_of_range(self, d: date) -> None:
        raise V6Error(
            f"{d} is outside the {self.name} calendar ({self.start} to {self.end}); "
            "choose dates inside it (sim.start and sim.days in the config)"
        )

    def _index_of(self, session: date) -> int:
        i = self._index_on_or_after(session)
        if self._sessions[i] != np.datetime64(session, "D"):
            raise V6Error(f"{session} is not a {self.name} trading session")
        return i

    def is_session(self, d: date) -> bool:
        """True when the exchange trades on day ``d``."""
        i = int(np.searchsorted(self._sessions, np.datetime64(d, "D")))
        return i < len(self._sessions) and bool(self._sessions[i] == np.datetime64(d, "D"))

    def sessions(self, start: date, days: int) -> list[date]:
        """The next ``days`` trading sessions from ``start`` (inclusive when it trades)."""
        i = self._index_on_or_after(start)
        if i + days > len(self._sessions):
            self._out_of_range(start + timedelta(days=days * 7 // 5 + 7))
        return [d.astype(date) for d in self._sessions[i : i + days]]

    def sessions_between(self, first: date, last: date) -> list[date]:
        """Every trading session from ``first`` to ``last``, both inclusive."""
        lo = np.searchsorted(self._sessions, np.datetime64(first, "D"), side="left")
        hi = np.searchsorted(self._sessions, np.datetime64(last, "D"), side="right")
        return [d.astype(date) for d in self._sessions[lo:hi]]

    def next_session(self, d: date) -> date:
        """The first trading session strictly after day ``d`` (``d`` need not trade)."""
        return self._sessions[self._index_on_or_after(d + timedelta(days=1))].astype(date)

    def previous_session(self, d: date) -> date:
        """The last trading session strictly before day ``d``."""
        i = int(np.searchsorted(self._sessions, np.datetime64(d, "D"), side="left")) - 1
        if i < 0:
            self._out_of_range(d)
        return self._sessions[i].astype(date)

    def session_on_or_before(self, d: date) -> date:
        """``d`` itself when it trades, else the session before it.

        This is how an expiry that falls on a holiday moves: a Good Friday or a
        Juneteenth Friday expiry trades and settles on the Thursday.
        """
        return d if self.is_session(d) else self.previous_session(d)

    # -- hours --------------------------------------------------------------------------

    def open_close(self, session: date) -> tuple[datetime, datetime]:
        """The UTC open and close of ``session`` (early closes included)."""
        i = self._index_of(session)
        return _from_ns(self._opens[i]), _from_ns(self._closes[i])

    def is_open(self, t: datetime) -> bool:
        """True when ``t`` is within a session, from its open to its close inclusive."""
        ns = _to_ns(t)
        i = int(np.searchsorted(self._opens, ns, side="right")) - 1
        return i >= 0 and ns <= self._closes[i]

    def session_of(self, t: datetime) -> date | None:
        """The session ``t`` falls in (open to close inclusive), or None outside hours."""
        ns = _to_ns(t)
        i = int(np.searchsorted(self._opens, ns, side="right")) - 1
        if i >= 0 and ns <= self._closes[i]:
            return self._sessions[i].astype(date)
        return None

    def trading_date(self, t: datetime) -> date:
        """The session that ``t`` belongs to, or the next one when the market is shut.

        Used to decide which expiries are still alive: after Friday's close the
        trading date is Monday's session.
        """
        ns = _to_ns(t)
        i = int(np.searchsorted(self._closes, ns, side="left"))
        if i >= len(self._sessions):
            self._out_of_range(_from_ns(ns).date())
        return self._sessions[i].astype(date)

    def session_progress(self, t0: datetime, t1: datetime) -> tuple[float, np.ndarray]:
        """How much trading happened between ``t0`` and ``t1``, for scaling price moves.

        Returns the open time elapsed in units of whole sessions (an early-close session
        counts as one full session when it is all elapsed) and, for each overnight gap
        crossed (a session open in ``(t0, t1]`` with a session before it), the number of
        calendar days since the previous session: 1 on a weeknight, 3 over a weekend.
        """
        a, b = _to_ns(t0), _to_ns(t1)
        lo = int(np.searchsorted(self._closes, a, side="right"))
        hi = int(np.searchsorted(self._opens, b, side="left"))
        opens = self._opens[lo:hi]
        closes = self._closes[lo:hi]
        overlap = np.clip(np.minimum(closes, b) - np.maximum(opens, a), 0, None)
        elapsed = float(np.sum(overlap / (closes - opens))) if len(opens) else 0.0
        first_gap = int(np.searchsorted(self._opens, a, side="right"))
        last_gap = int(np.searchsorted(self._opens, b, side="right"))
        idx = np.arange(max(first_gap, 1), last_gap)
        gaps = (self._sessions[idx] - self._sessions[idx - 1]).astype(np.int64)
        return elapsed, gaps

    # -- trading time -------------------------------------------------------------------

    def open_nanoseconds(self, times: np.ndarray) -> np.ndarray:
        """Nanoseconds the exchange was open from the calendar's start up to each of
        ``times`` (int64 ns since the epoch, UTC), vectorised.

        Trading time runs only while a session is open: a lookback of "one hour" in it
        skips a maintenance break, a night, a weekend and a holiday.
        """
        ns = np.asarray(times, dtype=np.int64)
        durations = self._closes - self._opens
        cum = np.concatenate([[0], np.cumsum(durations)])
        i = np.searchsorted(self._opens, ns, side="right") - 1
        inside = np.clip(ns - self._opens[np.maximum(i, 0)], 0, durations[np.maximum(i, 0)])
        return np.where(i >= 0, cum[np.maximum(i, 0)] + inside, 0)

    def instant_at_open_nanoseconds(self, open_ns: np.ndarray) -> np.ndarray:
        """The instant (int64 ns, UTC) at which :meth:`open_nanoseconds` reaches each of
        ``open_ns``: its inverse, landing inside a session (or on its open)."""
        c = np.asarray(open_ns, dtype=np.int64)
        durations = self._closes - self._opens
        cum = np.concatenate([[0], np.cumsum(durations)])
        i = np.clip(np.searchsorted(cum, c, side="right") - 1, 0, len(self._opens) - 1)
        return self._opens[i] + (c - cum[i])

    def last_close_before(self, t: datetime) -> datetime:
        """The close of the last session that closed strictly before ``t``."""
        i = int(np.searchsorted(self._closes, _to_ns(t), side="left")) - 1
        if i < 0:
            self._out_of_range(t.date())
        return _from_ns(self._closes[i])

    # -- expiries -----------------------------------------------------------------------

    def expiry_close(self, expiries: np.ndarray) -> np.ndarray:
        """UTC close (datetime64[ns]) of each expiry session: when the options stop trading.

        Every expiry must be a session (see :meth:`session_on_or_before`).
        """
        days = np.asarray(expiries, dtype="datetime64[D]")
        idx = np.searchsorted(self._sessions, days)
        if np.any(idx >= len(self._sessions)) or np.any(self._sessions[idx] != days):
            raise V6Error(f"expiries {days} include a day that is not a {self.name} session")
        return self._closes[idx].astype("datetime64[ns]")

    def third_friday(self, year: int, month: int) -> date:
        """The third Friday of a month: the standard monthly option expiry date."""
        first = date(year, month, 1)
        return first + timedelta(days=(4 - first.weekday()) % 7 + 14)
