"""Alerts that need a human, sent to a phone or an inbox through apprise.

The engine records every alert in the ``alerts`` table; this module listens to what the
recorder writes (v6.engine.recorder.Recorder.listeners) and sends:

* each alert of ``notify.min_severity`` and up, once per ``notify.dedupe_minutes`` for the
  same source, code and message, at most ``notify.max_per_hour`` messages an hour (the ones
  held back are counted in the next message that goes out);
* with ``notify.daily_summary``, one message per trading day (New York) when the next day
  begins or the session ends: the day's P&L (net liquidation, first to last cycle), the
  fills and the breaker trips and resets.

Sending happens on a thread of its own through a bounded queue: the engine only puts a
message on the queue and goes on, so a notifier that is slow, failing or unreachable never
delays a cycle. A full queue drops the message (logged). The URLs come from
``V6_NOTIFY_URLS`` in the environment (v6.ops.secrets), never from the config file.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from attrs import define, field

from v6.config import NotifySettings

log = logging.getLogger(__name__)

NEW_YORK = ZoneInfo("America/New_York")
SEVERITY_ORDER = {"info": 0, "warning": 1, "error": 2, "critical": 3}
QUEUE_SIZE = 1000
CLOSE_SECONDS = 10.0
"""How long a closing session waits for the queue to drain (then the rest are dropped)."""

Sender = Callable[[str, str, str], bool]
"""send(title, body, severity) -> delivered."""


def apprise_sender(urls: Sequence[str]) -> Sender:
    """A sender to every URL in ``urls`` through apprise (imported only when used)."""
    import apprise

    targets = apprise.Apprise()
    for url in urls:
        if not targets.add(url):
            # The URL itself may hold a token: name its scheme only.
            log.warning(
                "notify: V6_NOTIFY_URLS has an URL apprise cannot use (%s://...)",
                url.split("://", 1)[0],
            )
    kinds = {
        "info": apprise.NotifyType.INFO,
        "warning": apprise.NotifyType.WARNING,
        "error": apprise.NotifyType.FAILURE,
        "critical": apprise.NotifyType.FAILURE,
    }

    def send(title: str, body: str, severity: str) -> bool:
        return bool(targets.notify(title=title, body=body, notify_type=kinds[severity]))

    return send


@define
class _Day:
    day: date
    first_net_liq: float | None = None
    last_net_liq: float | None = None
    fills: int = 0
    breaker_events: list[str] = field(factory=list)


class AlertNotifier:
    """Filters, deduplicates and rate-limits alerts and sends them on a background thread.

    ``clock`` (monotonic seconds) is injectable so tests can step through an hour.
    """

    def __init__(
        self,
        settings: NotifySettings,
        send: Sender,
        *,
        label: str = "V6",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.label = label
        self._send = send
        self._clock = clock
        self._last_sent: dict[tuple[str, str, str], float] = {}
        self._window: deque[float] = deque()
        self.held_back = 0  # alerts not sent for the rate limit since the last message
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self._day: _Day | None = None
        self._queue: queue.Queue[tuple[str, str, str] | None] = queue.Queue(QUEUE_SIZE)
        self._thread = threading.Thread(target=self._work, name="v6-notify", daemon=True)
        self._thread.start()

    # -- what the recorder tells us ------------------------------------------------------

    def on_row(self, table: str, row: Mapping[str, Any]) -> None:
        """A row the engine recorded (a Recorder listener): alerts, fills, account, breakers."""
        if table == "alerts":
            self.alert(
                str(row["severity"]), str(row["source"]), str(row["code"]), str(row["message"])
            )
        elif table == "account_snapshots":
            day = self._roll(row["time"])
            net_liq = float(row["net_liquidation"])
            if net_liq == net_liq:  # NaN is no value
                if day.first_net_liq is None:
                    day.first_net_liq = net_liq
                day.last_net_liq = net_liq
        elif table == "fills":
            self._roll(row["time"]).fills += 1
        elif table == "breaker_events" and row["event"] in ("trip", "reset"):
            self._roll(row["time"]).breaker_events.append(f"{row['breaker']} {row['event']}")

    def alert(self, severity: str, source: str, code: str, message: str) -> bool:
        """Queue one alert if it passes the filters; True if it was queued."""
        if SEVERITY_ORDER.get(severity, 0) < SEVERITY_ORDER[self.settings.min_severity]:
            return False
        now = self._clock()
        key = (source, code, message)
        last = self._last_sent.get(key)
        if last is not None and now - last < self.settings.dedupe_minutes * 60:
            return False
        while self._window and now - self._window[0] >= 3600:
            self._window.popleft()
        if len(self._window) >= self.settings.max_per_hour:
            self.held_back += 1
            return False
        self._window.append(now)
        self._last_sent[key] = now
        body = f"[{source}] {code}: {message}"
        if self.held_back:
            body += f"\n({self.held_back} more alerts held back by notify.max_per_hour)"
            self.held_back = 0
        return self._put(f"{self.label} {severity.upper()}: {code}", body, severity)

    def _roll(self, when: Any) -> _Day:
        """The trading day of engine time ``when``; a new day first sends the last one's summary."""
        day = _ny_day(when)
        if self._day is not None and day != self._day.day:
            self.summary()
        if self._day is None:
            self._day = _Day(day)
        return self._day

    def summary(self) -> bool:
        """Queue the summary of the day so far (``daily_summary``); starts no new day."""
        current, self._day = self._day, None
        if not self.settings.daily_summary or current is None:
            return False
        pnl = (
            "unknown"
            if current.first_net_liq is None or current.last_net_liq is None
            else f"{current.last_net_liq - current.first_net_liq:+,.2f}"
        )
        breakers = ", ".join(current.breaker_events) or "none"
        body = (
            f"P&L {pnl} (net liquidation {current.last_net_liq or 0:,.2f})\n"
            f"trades (fills): {current.fills}\nbreaker events: {breakers}"
        )
        return self._put(f"{self.label} daily summary {current.day.isoformat()}", body, "info")

    # -- the sending thread -------------------------------------------------------------

    def _put(self, title: str, body: str, severity: str) -> bool:
        try:
            self._queue.put_nowait((title, body, severity))
        except queue.Full:
            self.dropped += 1
            log.warning("notify: %d messages waiting; dropped: %s", QUEUE_SIZE, title)
            return False
        return True

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            title, body, severity = item
            try:
                delivered = self._send(title, body, severity)
            except Exception:  # a notifier's bug must not end the thread
                log.warning("notify: sending %r failed", title, exc_info=True)
                delivered = False
            if delivered:
                self.sent += 1
            else:
                self.failed += 1
                log.warning("notify: %r was not delivered", title)
            self._queue.task_done()
        self._queue.task_done()

    def close(self, timeout: float = CLOSE_SECONDS) -> bool:
        """Queue the day's summary, let the queue drain for ``timeout`` s; True if it did."""
        self.summary()
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            return False
        self._thread.join(timeout)
        return not self._thread.is_alive()


def _ny_day(when: Any) -> date:
    if isinstance(when, datetime):
        return when.astimezone(NEW_YORK).date() if when.tzinfo else when.date()
    return datetime.fromisoformat(str(when)).astimezone(NEW_YORK).date()


def attach(
    engine: Any, settings: NotifySettings, urls: Sequence[str], label: str
) -> AlertNotifier | None:
    """Send ``engine``'s alerts to ``urls`` (None when there are none); closes with the engine."""
    if not urls:
        return None
    notifier = AlertNotifier(settings, apprise_sender(urls), label=label)
    engine.recorder.listeners.append(notifier.on_row)
    engine.on_close(notifier.close)
    return notifier
