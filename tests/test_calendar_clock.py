"""The exchange calendar and the simulated clock: real NYSE sessions, cycles within them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from v6.errors import V6Error
from v6.market.calendar import ExchangeCalendar
from v6.market.sim_clock import SimClock
from v6.ports import Clock

NEW_YORK = ZoneInfo("America/New_York")
THANKSGIVING = date(2026, 11, 26)
BLACK_FRIDAY = date(2026, 11, 27)
GOOD_FRIDAY = date(2026, 4, 3)


def ny(day: date, hour: int, minute: int = 0) -> datetime:
    """A New York wall-clock time as the UTC datetime the core uses."""
    return datetime.combine(day, time(hour, minute), NEW_YORK).astimezone(UTC)


@pytest.fixture(scope="module")
def calendar() -> ExchangeCalendar:
    return ExchangeCalendar()


def test_thanksgiving_is_not_a_session(calendar):
    assert calendar.sessions(date(2026, 11, 25), 3) == [
        date(2026, 11, 25),
        BLACK_FRIDAY,
        date(2026, 11, 30),
    ]
    assert not calendar.is_session(THANKSGIVING)
    assert not calendar.is_open(ny(THANKSGIVING, 12))
    assert calendar.next_session(date(2026, 11, 25)) == BLACK_FRIDAY


def test_day_after_thanksgiving_closes_at_one_in_new_york(calendar):
    open_, close = calendar.open_close(BLACK_FRIDAY)
    assert open_ == ny(BLACK_FRIDAY, 9, 30)
    assert close == ny(BLACK_FRIDAY, 13)
    assert open_.tzinfo is not None and close.utcoffset() == timedelta(0)
    assert calendar.is_open(ny(BLACK_FRIDAY, 12, 59))
    assert not calendar.is_open(ny(BLACK_FRIDAY, 13, 30))


def test_regular_session_runs_from_930_to_1600_new_york_across_dst(calendar):
    for day in (date(2026, 1, 5), date(2026, 7, 6)):  # winter and summer time
        assert calendar.open_close(day) == (ny(day, 9, 30), ny(day, 16))


def test_market_is_open_from_the_open_up_to_and_including_the_close(calendar):
    day = date(2026, 1, 6)
    open_, close = calendar.open_close(day)
    assert calendar.is_open(open_)
    assert calendar.is_open(close)
    assert not calendar.is_open(open_ - timedelta(seconds=1))
    assert not calendar.is_open(close + timedelta(seconds=1))
    assert not calendar.is_open(ny(date(2026, 1, 10), 12))  # Saturday


def test_next_session_skips_weekends_from_any_day(calendar):
    assert calendar.next_session(date(2026, 1, 9)) == date(2026, 1, 12)  # Friday
    assert calendar.next_session(date(2026, 1, 10)) == date(2026, 1, 12)  # Saturday
    assert calendar.sessions(date(2026, 1, 10), 1) == [date(2026, 1, 12)]


def test_friday_holiday_expiry_moves_to_thursday(calendar):
    assert not calendar.is_session(GOOD_FRIDAY)
    assert calendar.session_on_or_before(GOOD_FRIDAY) == date(2026, 4, 2)
    assert calendar.session_on_or_before(date(2026, 4, 10)) == date(2026, 4, 10)


def test_trading_date_rolls_to_the_next_session_after_the_close(calendar):
    friday = date(2026, 1, 9)
    assert calendar.trading_date(ny(friday, 15)) == friday
    assert calendar.trading_date(ny(friday, 16)) == friday
    assert calendar.trading_date(ny(friday, 17)) == date(2026, 1, 12)


def test_dates_outside_the_calendar_are_refused_with_a_fix():
    small = ExchangeCalendar(start=date(2026, 1, 1), end=date(2026, 12, 31))
    with pytest.raises(V6Error, match=r"sim\.start"):
        small.sessions(date(2026, 12, 20), 30)


def test_clock_is_an_engine_clock(calendar):
    assert isinstance(SimClock(calendar, date(2026, 1, 5), 1, 900), Clock)


def test_clock_runs_every_interval_from_after_the_open_to_the_close_for_a_week(calendar):
    week = calendar.sessions(date(2026, 1, 5), 5)
    clock = SimClock(calendar, week[0], 5, 900)
    seen: dict[date, list[datetime]] = {}
    closes: list[datetime] = []
    assert clock.now() == calendar.open_close(week[0])[0]
    while (now := clock.next_cycle()) is not None:
        assert clock.now() == now
        seen.setdefault(clock.session_date, []).append(now)
        if clock.is_session_close:
            closes.append(now)
    assert list(seen) == week
    for day, times in seen.items():
        open_, close = calendar.open_close(day)
        assert times[0] == open_ + timedelta(minutes=15)
        assert times[-1] == close
        assert all(b - a == timedelta(minutes=15) for a, b in pairwise(times))
        # 6.5 hours in 15-minute steps after the open: 26 cycles, the last one at the bell.
        assert len(times) == int((close - open_) / timedelta(minutes=15))
    assert closes == [calendar.open_close(d)[1] for d in week]
    assert clock.next_cycle() is None
    assert clock.finished


def test_clock_skips_thanksgiving_and_stops_at_the_early_close(calendar):
    clock = SimClock(calendar, date(2026, 11, 23), 5, 900)
    times = clock.cycle_times
    days = {t.astimezone(NEW_YORK).date() for t in times}
    assert THANKSGIVING not in days
    assert date(2026, 11, 30) in days
    black_friday = [t for t in times if t.astimezone(NEW_YORK).date() == BLACK_FRIDAY]
    assert black_friday[-1] == ny(BLACK_FRIDAY, 13)
    assert len(black_friday) == 14  # 3.5 hours of 15-minute cycles


def test_interval_that_misses_the_bell_still_gets_a_closing_cycle(calendar):
    day = date(2026, 1, 6)
    clock = SimClock(calendar, day, 1, 3600)
    expected = [ny(day, h, 30) for h in range(10, 16)] + [ny(day, 16)]
    assert clock.cycle_times == expected
    flags = []
    while clock.next_cycle() is not None:
        flags.append(clock.is_session_close)
    assert flags == [False] * 6 + [True]


def test_speed_zero_never_sleeps_and_speed_s_sleeps_interval_over_s(calendar):
    naps: list[float] = []
    fast = SimClock(calendar, date(2026, 1, 6), 1, 900, speed=0.0, sleep=naps.append)
    while fast.next_cycle() is not None:
        pass
    assert naps == []
    demo = SimClock(calendar, date(2026, 1, 6), 1, 900, speed=60.0, sleep=naps.append)
    n = 0
    while demo.next_cycle() is not None:
        n += 1
    # Between cycles only, not before the first, in short naps a stop can cut short.
    assert sum(naps) == pytest.approx(15.0 * (n - 1))
    assert max(naps) <= SimClock.WAIT_STEP_SECONDS


def test_a_stop_requested_during_a_wait_ends_it_without_skipping_a_cycle(calendar):
    naps: list[float] = []
    stop = {"requested": False}

    def nap(seconds: float) -> None:
        naps.append(seconds)
        if len(naps) == 3:
            stop["requested"] = True  # a signal arrives during the third nap

    clock = SimClock(calendar, date(2026, 1, 6), 1, 900, speed=1.0, sleep=nap)
    clock.should_stop = lambda: stop["requested"]
    first = clock.next_cycle()
    assert first is not None
    assert clock.next_cycle() is None  # the 900 s wait ends after three naps
    assert len(naps) == 3 and clock.now() == first and not clock.finished
    stop["requested"] = False
    assert clock.next_cycle() == first + timedelta(seconds=900)  # nothing was skipped


# -- the schedule's cache file ------------------------------------------------------------

ASK_CALENDAR = """
import json
from datetime import date
from v6.market.calendar import ExchangeCalendar
c = ExchangeCalendar("XNYS", date(2026, 1, 1), date(2026, 12, 31))
f = ExchangeCalendar("CME_Equity", date(2026, 1, 1), date(2026, 12, 31))
print(json.dumps({
    "thanksgiving": c.is_session(date(2026, 11, 26)),
    "black_friday_close": c.open_close(date(2026, 11, 27))[1].isoformat(),
    "sessions": len(c.sessions_between(date(2026, 1, 1), date(2026, 12, 31))),
    "globex_sessions": len(f.sessions_between(date(2026, 1, 1), date(2026, 12, 31))),
}))
"""
TRUTH = {
    "thanksgiving": False,
    "black_friday_close": "2026-11-27T18:00:00+00:00",
    "sessions": 251,  # 261 weekdays less ten holidays
}


def ask_calendar(cache: Path) -> dict:
    """The calendar's answers in a fresh process whose user cache directory is ``cache``."""
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    done = subprocess.run(
        [sys.executable, "-c", ASK_CALENDAR], capture_output=True, text=True, env=env, check=True
    )
    return json.loads(done.stdout)


def cache_files(cache: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((cache / "v6" / "calendars").glob("*.npz"))}


def test_a_process_reads_the_schedule_an_earlier_one_cached(tmp_path):
    first = ask_calendar(tmp_path)
    files = cache_files(tmp_path)
    assert sorted(name.split("-")[0] for name in files) == ["CME_Equity", "XNYS"]
    assert all("20260101-20261231" in name for name in files)
    assert {k: first[k] for k in TRUTH} == TRUTH
    second = ask_calendar(tmp_path)
    assert second == first
    assert cache_files(tmp_path) == files  # read, not written again


@pytest.mark.parametrize(
    "damage", ["garbage", "truncated", "empty", "shuffled", "wrong type", "one array"]
)
def test_a_damaged_cache_file_is_built_again_never_trusted(tmp_path, damage):
    import numpy as np

    truth = ask_calendar(tmp_path)
    files = cache_files(tmp_path)
    xnys = next(tmp_path.glob("v6/calendars/XNYS-*.npz"))
    if damage == "garbage":
        xnys.write_bytes(b"\x00not a cache" * 100)
    elif damage == "truncated":
        xnys.write_bytes(files[xnys.name][: len(files[xnys.name]) // 2])
    elif damage == "empty":
        xnys.write_bytes(b"")
    elif damage == "one array":  # a lone .npy array where the archive belongs
        with xnys.open("wb") as out:
            np.save(out, np.arange(10))
    else:
        with np.load(xnys) as cached:
            sessions, opens, closes = cached["sessions"], cached["opens"], cached["closes"]
        if damage == "shuffled":  # a plausible file, but not an ordered schedule
            sessions, opens, closes = sessions[::-1], opens[::-1], closes[::-1]
        else:
            opens = opens.astype(np.float64)
        np.savez(xnys, sessions=sessions, opens=opens, closes=closes)
    assert ask_calendar(tmp_path) == truth
    assert cache_files(tmp_path) == files  # written again, whole


def test_a_cache_directory_that_cannot_be_written_only_costs_time(tmp_path):
    blocked = tmp_path / "cache"
    blocked.write_text("a file where the cache directory would go")
    assert {k: v for k, v in ask_calendar(blocked).items() if k in TRUTH} == TRUTH
