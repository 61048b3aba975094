"""Circuit breakers: conditions under which V6 stops opening positions until a rule or a
human says it may go on.

Each breaker watches one thing a trader would pull the plug for: the day's loss, a run of
losing trades, the broker rejecting orders, market data going bad, the broker connection
dropping, or simply a person who wants no new positions for now (``manual_halt``). A
tripped breaker blocks every new entry, and the engine cancels the entry orders still
working when it trips (:func:`v6.engine.orders.cancel_blocked_entries`); breakers named in
``BreakerSettings.close_positions`` also make the ``circuit_breaker`` exit rule close
every position. Each breaker resets only by its own rule (documented on
:class:`~v6.config.BreakerSettings`) or by ``v6 breaker reset NAME``.

The board is a plain state machine fed one :class:`CycleObservation` per cycle, so it is
tested without an engine and replays deterministically. Every trip and reset comes back
as a :class:`BreakerEvent` for the store; :meth:`CircuitBreakers.restore` rebuilds the
state from those events after a restart.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from attrs import define, field, frozen

from v6.config import BREAKER_NAMES, BreakerSettings
from v6.domain.risk import BreakerStatus
from v6.errors import V6Error

NEW_YORK = ZoneInfo("America/New_York")


class UnknownBreakerError(V6Error):
    """A breaker name that does not exist (exit status 2: the user can fix the command)."""

    exit_status = 2


@frozen(slots=True)
class CycleObservation:
    """What the breakers look at once per cycle.

    ``rejections`` counts orders the broker rejected since the previous observation;
    ``closed_pnls`` the realised P&L of positions closed since then, in closing order.
    """

    time: datetime
    net_liquidation: float
    broker_connected: bool = True
    unusable_underlyings: tuple[str, ...] = ()
    rejections: int = 0
    closed_pnls: tuple[float, ...] = ()
    free_disk_bytes: float | None = None  # on the store's disk; None if it could not be read


@frozen(slots=True)
class BreakerEvent:
    """A trip or reset, as stored in the ``breaker_events`` table."""

    time: datetime
    breaker: str
    event: str  # "trip", "reset", "reset_request"; "already_tripped"/"not_tripped": no-op
    reason: str
    source: str = "engine"  # "engine" (its own rule) or "manual"


@define
class _Breaker:
    name: str
    tripped: bool = False
    reason: str = ""
    tripped_at: datetime | None = None
    inputs: dict[str, float] = field(factory=dict)


def check_breaker_name(name: str) -> str:
    """``name`` if it is a breaker, else an error listing the breakers."""
    if name not in BREAKER_NAMES:
        raise UnknownBreakerError(
            f"no circuit breaker named {name!r}; breakers are: {', '.join(BREAKER_NAMES)}"
        )
    return name


class CircuitBreakers:
    """The breakers of one engine, and the counters their rules need."""

    def __init__(self, settings: BreakerSettings) -> None:
        self.settings = settings
        self._breakers = {name: _Breaker(name) for name in BREAKER_NAMES}
        self._day: date | None = None
        self._day_start_net_liq: float | None = None
        self._losing_streak = 0
        self._rejections: deque[tuple[datetime, int]] = deque()
        self._bad_data_cycles = 0
        self._good_data_cycles = 0
        self._disconnected_cycles = 0
        self._connected_cycles = 0
        self._roomy_cycles = 0

    # -- what the engine asks -------------------------------------------------------------

    @property
    def entries_allowed(self) -> bool:
        """False while any breaker is tripped."""
        return not any(b.tripped for b in self._breakers.values())

    def tripped(self) -> list[str]:
        """Names of the tripped breakers."""
        return [b.name for b in self._breakers.values() if b.tripped]

    def statuses(self) -> tuple[BreakerStatus, ...]:
        """Every breaker's state, in a fixed order."""
        return tuple(
            BreakerStatus(
                name=b.name,
                tripped=b.tripped,
                reason=b.reason,
                tripped_at=b.tripped_at,
                close_positions=b.name in self.settings.close_positions,
                inputs=dict(b.inputs),
            )
            for b in self._breakers.values()
        )

    # -- the rules ------------------------------------------------------------------------

    def observe(self, obs: CycleObservation) -> list[BreakerEvent]:
        """Feed one cycle; returns the trips and resets it caused."""
        if not self.settings.enabled:
            return []
        events: list[BreakerEvent] = []
        events += self._daily_loss(obs)
        events += self._consecutive_losses(obs)
        events += self._order_rejections(obs)
        events += self._stale_data(obs)
        events += self._broker_disconnect(obs)
        events += self._disk_space(obs)
        return events

    def _daily_loss(self, obs: CycleObservation) -> list[BreakerEvent]:
        s = self.settings
        day = obs.time.astimezone(NEW_YORK).date()
        events: list[BreakerEvent] = []
        if day != self._day:
            self._day = day
            self._day_start_net_liq = None
            if self._breakers["daily_loss"].tripped:
                events.append(self._reset("daily_loss", obs.time, f"new trading day {day}"))
        if not math.isfinite(obs.net_liquidation):
            return events  # no account value this cycle (the broker has not sent it yet)
        if self._day_start_net_liq is None:  # the day's first value, or restored mid-day
            self._day_start_net_liq = obs.net_liquidation
        start = self._day_start_net_liq
        loss = start - obs.net_liquidation
        inputs = {"day_start": start, "net_liquidation": obs.net_liquidation, "loss": loss}
        if loss >= s.max_daily_loss:
            events += self._trip(
                "daily_loss",
                obs.time,
                f"down {loss:,.2f} today (limit {s.max_daily_loss:,.2f})",
                inputs,
            )
        return events

    def _consecutive_losses(self, obs: CycleObservation) -> list[BreakerEvent]:
        limit = self.settings.max_consecutive_losses
        for pnl in obs.closed_pnls:
            self._losing_streak = self._losing_streak + 1 if pnl < 0 else 0
        if self._losing_streak >= limit:
            return self._trip(
                "consecutive_losses",
                obs.time,
                f"{self._losing_streak} losing closes in a row (limit {limit}); reset by hand",
                {"streak": float(self._losing_streak)},
            )
        return []

    def _order_rejections(self, obs: CycleObservation) -> list[BreakerEvent]:
        s = self.settings
        if obs.rejections:
            self._rejections.append((obs.time, obs.rejections))
        horizon = obs.time - timedelta(minutes=s.rejection_window_minutes)
        while self._rejections and self._rejections[0][0] <= horizon:
            self._rejections.popleft()
        count = sum(n for _, n in self._rejections)
        inputs = {"rejections": float(count)}
        if count >= s.max_order_rejections:
            return self._trip(
                "order_rejections",
                obs.time,
                f"{count} orders rejected in {s.rejection_window_minutes:g} minutes "
                f"(limit {s.max_order_rejections})",
                inputs,
            )
        if self._breakers["order_rejections"].tripped:
            return [self._reset("order_rejections", obs.time, f"{count} rejections in window")]
        return []

    def _stale_data(self, obs: CycleObservation) -> list[BreakerEvent]:
        s = self.settings
        if obs.unusable_underlyings:
            self._bad_data_cycles += 1
            self._good_data_cycles = 0
        else:
            self._good_data_cycles += 1
            self._bad_data_cycles = 0
        if self._bad_data_cycles >= s.stale_data_cycles:
            return self._trip(
                "stale_data",
                obs.time,
                f"no usable data for {', '.join(obs.unusable_underlyings)} for "
                f"{self._bad_data_cycles} cycles",
                {"bad_cycles": float(self._bad_data_cycles)},
            )
        if self._breakers["stale_data"].tripped and self._good_data_cycles >= s.recover_cycles:
            return [self._reset("stale_data", obs.time, f"{self._good_data_cycles} good cycles")]
        return []

    def _broker_disconnect(self, obs: CycleObservation) -> list[BreakerEvent]:
        s = self.settings
        if obs.broker_connected:
            self._connected_cycles += 1
            self._disconnected_cycles = 0
        else:
            self._disconnected_cycles += 1
            self._connected_cycles = 0
            return self._trip("broker_disconnect", obs.time, "broker connection lost", {})
        if self._breakers["broker_disconnect"].tripped and self._connected_cycles >= (
            s.recover_cycles
        ):
            return [
                self._reset(
                    "broker_disconnect", obs.time, f"connected for {self._connected_cycles} cycles"
                )
            ]
        return []

    def _disk_space(self, obs: CycleObservation) -> list[BreakerEvent]:
        s = self.settings
        free = obs.free_disk_bytes
        if free is None or not math.isfinite(free) or s.min_free_disk_mb <= 0:
            return []
        floor = s.min_free_disk_mb * 1e6
        inputs = {"free_mb": free / 1e6, "min_free_mb": s.min_free_disk_mb}
        if free < floor:
            self._roomy_cycles = 0
            return self._trip(
                "disk_space",
                obs.time,
                f"{free / 1e6:,.0f} MB free on the store's disk "
                f"(entries stop below {s.min_free_disk_mb:,.0f} MB; free some space)",
                inputs,
            )
        self._roomy_cycles += 1
        self._breakers["disk_space"].inputs = inputs
        if self._breakers["disk_space"].tripped and self._roomy_cycles >= s.recover_cycles:
            return [
                self._reset(
                    "disk_space",
                    obs.time,
                    f"{free / 1e6:,.0f} MB free for {self._roomy_cycles} cycles",
                )
            ]
        return []

    # -- trips and resets -----------------------------------------------------------------

    def _trip(
        self, name: str, time: datetime, reason: str, inputs: dict[str, float]
    ) -> list[BreakerEvent]:
        breaker = self._breakers[name]
        breaker.inputs = inputs
        if breaker.tripped:
            return []
        breaker.tripped = True
        breaker.reason = reason
        breaker.tripped_at = time
        return [BreakerEvent(time, name, "trip", reason)]

    def _reset(
        self, name: str, time: datetime, reason: str, source: str = "engine"
    ) -> BreakerEvent:
        breaker = self._breakers[name]
        breaker.tripped = False
        breaker.reason = ""
        breaker.tripped_at = None
        return BreakerEvent(time, name, "reset", reason, source)

    def halt(self, time: datetime, reason: str) -> BreakerEvent | None:
        """Trip ``manual_halt`` by hand (the dashboard's "halt entries"); None if it
        already was. Works with ``enabled: false`` too: a person asked for it."""
        breaker = self._breakers["manual_halt"]
        if breaker.tripped:
            return None
        breaker.tripped = True
        breaker.reason = reason
        breaker.tripped_at = time
        return BreakerEvent(time, "manual_halt", "trip", reason, "manual")

    def reset(
        self, name: str, time: datetime, *, net_liquidation: float | None = None
    ) -> BreakerEvent | None:
        """Reset ``name`` by hand (``v6 breaker reset``); None if it was not tripped.

        A manual reset also clears what the breaker counted, or it would trip again at
        once: the losing streak, the rejection window, the bad-data count; for the daily
        loss, the day's baseline becomes ``net_liquidation`` (the trader accepts today's
        loss so far and allows another ``max_daily_loss``).
        """
        check_breaker_name(name)
        if name == "daily_loss" and net_liquidation is not None:
            self._day_start_net_liq = net_liquidation
        elif name == "consecutive_losses":
            self._losing_streak = 0
        elif name == "order_rejections":
            self._rejections.clear()
        elif name == "stale_data":
            self._bad_data_cycles = 0
        elif name == "broker_disconnect":
            self._disconnected_cycles = 0
        elif name == "disk_space":
            self._roomy_cycles = 0
        if not self._breakers[name].tripped:
            return None
        return self._reset(name, time, "reset by hand", source="manual")

    def restore(
        self,
        events: Iterable[BreakerEvent],
        *,
        day: date | None = None,
        day_start_net_liquidation: float | None = None,
        losing_streak: int = 0,
    ) -> None:
        """Rebuild the state after a restart: tripped/reset from stored events (oldest
        first), and the counters a restart must not forget: today's starting net
        liquidation (so a restart does not grant a fresh daily-loss allowance) and the
        current losing streak."""
        self._losing_streak = losing_streak
        if (
            day is not None
            and day_start_net_liquidation is not None
            and math.isfinite(day_start_net_liquidation)
        ):
            self._day = day
            self._day_start_net_liq = day_start_net_liquidation
        for event in events:
            if event.breaker not in self._breakers:
                continue
            breaker = self._breakers[event.breaker]
            if event.event == "trip":
                breaker.tripped = True
                breaker.reason = event.reason
                breaker.tripped_at = event.time
                if event.breaker == "daily_loss" and self._day is None:
                    # A same-day restart keeps it tripped; a new day resets it.
                    self._day = event.time.astimezone(NEW_YORK).date()
            elif event.event in ("reset", "reset_request"):
                breaker.tripped = False
                breaker.reason = ""
                breaker.tripped_at = None
