"""Failing plugins: reported once, then counted, so a broken plugin cannot flood the log.

A plugin that raises (or returns a bad result) is isolated on every call, but a plugin
that fails on every call would otherwise print a traceback and store an alert per call:
per candidate, per position, every cycle. Failures are grouped by *episode*: one plugin,
one hook, one kind of error (the exception's type; every bad result is one kind), from
its first failure until the hook has a cycle in which it was called and did not fail.

- The first failure of an episode is logged once, with its traceback when the plugin
  raised, and stored as a ``plugin_error`` alert.
- Later failures are only counted. While they go on, one ``plugin_still_failing`` alert
  (and one log line) every :data:`REMIND_EVERY` of engine time says how many more there
  were since the last report, and the last error.
- The episode ends at the first clean cycle with a ``plugin_recovered`` alert giving the
  total count and the time span, or, when the session ends first, with a last
  ``plugin_still_failing`` alert counting the failures not yet reported.

So an analyst reading ``alerts`` sees when each episode began, that it went on, how many
failures it had and when (if) it ended, in a handful of rows per day.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from attrs import define

from v6.domain.alerts import Severity
from v6.plugin_results import BadResult

log = logging.getLogger(__name__)

REMIND_EVERY = timedelta(hours=1)
"""Engine time between two reports of a failure that goes on."""

Alert = Callable[..., None]
"""``alert(severity, source, code, message, time, exc_info=None)``: the engine's."""


@define
class Episode:
    """One plugin failing in one hook with one kind of error, since ``first``."""

    plugin: str
    hook: str
    kind: str
    first: datetime
    last: datetime
    last_error: str
    count: int = 1
    unreported: int = 0  # failures since the last alert about this episode
    reported: datetime | None = None


def _kind(error: BaseException) -> str:
    return "bad result" if isinstance(error, BadResult) else type(error).__name__


def _text(hook: str, error: BaseException) -> str:
    if isinstance(error, BadResult):
        return f"{hook} returned a bad result: {error}"
    return f"{hook} raised {type(error).__name__}: {error}"


def _at(time: datetime) -> str:
    return f"{time.astimezone(UTC):%Y-%m-%d %H:%M}Z"


def _times(n: int, more: str = "") -> str:
    return f"{n} {more}time" + ("" if n == 1 else "s")


class PluginFailures:
    """The failure episodes of every plugin, and the alerts that report them."""

    def __init__(self, alert: Alert, remind_every: timedelta = REMIND_EVERY) -> None:
        self.alert = alert
        self.remind_every = remind_every
        self.episodes: dict[tuple[str, str, str], Episode] = {}
        self._called: set[tuple[str, str]] = set()  # (plugin, hook) called this cycle
        self._failed: set[tuple[str, str]] = set()  # (plugin, hook) that failed this cycle

    def called(self, plugin: str, hook: str) -> None:
        """``plugin``'s ``hook`` was called this cycle (a clean cycle ends its episodes)."""
        self._called.add((plugin, hook))

    def failed(self, plugin: str, hook: str, error: BaseException, now: datetime) -> None:
        """``plugin``'s ``hook`` raised ``error`` (or returned a bad result) at ``now``."""
        self._called.add((plugin, hook))
        self._failed.add((plugin, hook))
        key = (plugin, hook, _kind(error))
        episode = self.episodes.get(key)
        if episode is None:
            self.episodes[key] = Episode(plugin, hook, key[2], now, now, _text(hook, error))
            traceback = None if isinstance(error, BadResult) else error
            self.alert(
                Severity.ERROR,
                plugin,
                "plugin_error",
                _text(hook, error) + " (repeats are counted, not logged each time)",
                now,
                exc_info=traceback,
            )
            return
        episode.count += 1
        episode.unreported += 1
        episode.last = now
        episode.last_error = _text(hook, error)

    def end_cycle(self, now: datetime) -> None:
        """Close the episodes of hooks that had a clean cycle; remind of those going on."""
        clean = self._called - self._failed
        for key, episode in list(self.episodes.items()):
            if (episode.plugin, episode.hook) in clean:
                del self.episodes[key]
                self._recovered(episode, now)
            elif episode.unreported and now - (episode.reported or episode.first) >= (
                self.remind_every
            ):
                self._still_failing(episode, now, "")
        self._called.clear()
        self._failed.clear()

    def close(self, now: datetime) -> None:
        """The session ends: report every failure not reported yet."""
        for episode in self.episodes.values():
            if episode.unreported:
                self._still_failing(episode, now, " by the end of the session")

    def _still_failing(self, episode: Episode, now: datetime, when: str) -> None:
        since = episode.reported or episode.first
        self.alert(
            Severity.ERROR,
            episode.plugin,
            "plugin_still_failing",
            f"{episode.hook} failed {_times(episode.unreported, 'more ')} since {_at(since)}"
            f"{when} ({episode.count} since {_at(episode.first)}); last: {episode.last_error}",
            now,
        )
        episode.unreported = 0
        episode.reported = now

    def _recovered(self, episode: Episode, now: datetime) -> None:
        self.alert(
            Severity.INFO,
            episode.plugin,
            "plugin_recovered",
            f"{episode.hook} works again after failing {_times(episode.count)} "
            f"({episode.kind}) from {_at(episode.first)} to {_at(episode.last)}",
            now,
        )
