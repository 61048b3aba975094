"""Is the engine healthy? One evaluation for every place that asks.

The dashboard's Health page, its ``GET /health`` endpoint (200 when healthy, 503 when not)
and any command-line check all call :func:`evaluate`, so they can never disagree. It reads
only the store: the engine's ``heartbeat`` (one row per cycle, v6.engine.heartbeat) and the
``runs`` table (start and stop records).

Healthy means every check passes:

* ``heartbeat``: the engine finished a cycle recently: its last heartbeat is younger than
  ``dashboard.stale_heartbeat_cycles`` cycle intervals (at least the heartbeat's commit
  cadence) plus ``dashboard.heartbeat_grace_seconds``, by the wall clock;
* ``engine``: the run that wrote it has not stopped or crashed since;
* ``broker``: the broker was connected at the last cycle;
* ``market_data``: every underlying had usable data at the last cycle;
* ``plugins``: no plugin was failing at the last cycle;
* ``store``: the tables these checks read could be read;
* ``disk``: the store's directory can be written and its disk has more than
  :data:`DISK_FLOOR_BYTES` free (below that, the next flushes may fail).

Tripped circuit breakers are reported but are not a failure: a breaker doing its job is
the system working. :attr:`Health.level` grades the answer for ``v6 health`` and
monitors: ``down`` (exit status 2) when the engine is not working for the trader (no
fresh heartbeat, stopped, a store that cannot be read or written), ``degraded`` (1) when
it runs but something needs a look (broker disconnected, an underlying without usable
data, a failing plugin, a tripped breaker, ``disk_space`` included), ``healthy`` (0).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from attrs import frozen

from v6.config import DashboardSettings
from v6.engine.heartbeat import FLUSH_EVERY_SECONDS
from v6.errors import V6Error
from v6.store.delta_store import DeltaStore
from v6.store.disk import free_bytes, write_problem

DISK_FLOOR_BYTES = 64 * 1024 * 1024
"""Free bytes below which the store counts as down: a flush of a busy cycle needs MBs."""

DOWN_CHECKS = ("heartbeat", "engine", "store", "disk")
"""Checks whose failure means the engine is not working at all (level ``down``)."""

LEVEL_EXIT_STATUS = {"healthy": 0, "degraded": 1, "down": 2}

HEARTBEAT_COLUMNS = (
    "time",
    "written_at",
    "cycle",
    "cycle_seconds",
    "interval_seconds",
    "broker_connected",
    "mode",
    "pid",
    "open_positions",
    "tripped_breakers",
    "unusable_underlyings",
    "rejected_quotes",
    "failing_plugins",
    "run_id",
)


@frozen(slots=True)
class Check:
    """One health check: its name, whether it passed, and what it saw."""

    name: str
    ok: bool
    detail: str


@frozen(slots=True)
class Health:
    """The result of :func:`evaluate`; :meth:`to_json` is what ``GET /health`` returns."""

    checked_at: datetime
    store: str
    checks: tuple[Check, ...]
    run_id: str | None = None
    mode: str | None = None
    pid: int | None = None
    running: bool = False
    last_cycle_time: datetime | None = None
    last_heartbeat: datetime | None = None
    heartbeat_age_seconds: float | None = None
    heartbeat_limit_seconds: float | None = None
    cycle: int | None = None
    cycle_seconds: float | None = None
    open_positions: int | None = None
    breakers_tripped: tuple[str, ...] = ()

    @property
    def healthy(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def status(self) -> str:
        return "ok" if self.healthy else "unhealthy"

    @property
    def level(self) -> str:
        """``healthy``, ``degraded`` or ``down`` (see the module docstring)."""
        failed = {c.name for c in self.checks if not c.ok}
        if failed & set(DOWN_CHECKS):
            return "down"
        if failed or self.breakers_tripped:
            return "degraded"
        return "healthy"

    @property
    def exit_status(self) -> int:
        """``v6 health``'s exit status: 0 healthy, 1 degraded, 2 down."""
        return LEVEL_EXIT_STATUS[self.level]

    @property
    def http_status(self) -> int:
        """200 when healthy, 503 when not (what monitors key on)."""
        return 200 if self.healthy else 503

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (times in ISO 8601 UTC)."""

        def iso(t: datetime | None) -> str | None:
            return None if t is None else t.astimezone(UTC).isoformat()

        return {
            "status": self.status,
            "level": self.level,
            "checked_at": iso(self.checked_at),
            "store": self.store,
            "engine": {
                "run_id": self.run_id,
                "mode": self.mode,
                "pid": self.pid,
                "running": self.running,
                "cycle": self.cycle,
                "last_cycle_time": iso(self.last_cycle_time),
                "last_heartbeat": iso(self.last_heartbeat),
                "heartbeat_age_seconds": self.heartbeat_age_seconds,
                "heartbeat_limit_seconds": self.heartbeat_limit_seconds,
                "cycle_seconds": self.cycle_seconds,
                "open_positions": self.open_positions,
            },
            "breakers_tripped": list(self.breakers_tripped),
            "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in self.checks],
        }


def heartbeat_limit(interval_seconds: float, settings: DashboardSettings) -> float:
    """Wall seconds a heartbeat may be old before the engine counts as stalled."""
    cadence = max(float(interval_seconds), FLUSH_EVERY_SECONDS)
    return settings.stale_heartbeat_cycles * cadence + settings.heartbeat_grace_seconds


def disk_check(root: str | Path) -> Check:
    """Whether the store under ``root`` can be written, with room to spare."""
    problem = write_problem([Path(root)], DISK_FLOOR_BYTES)
    if problem is not None:
        return Check("disk", False, problem)
    free = free_bytes(root)
    room = "unknown free space" if free is None else f"{free / 1e6:,.0f} MB free"
    return Check("disk", True, f"writable, {room}")


def _utc(value: Any) -> datetime:
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return stamp.to_pydatetime()


def _names(text: Any) -> tuple[str, ...]:
    return tuple(n for n in str(text or "").split(",") if n)


def last_heartbeat(heartbeats: pd.DataFrame) -> pd.Series | None:
    """The heartbeat written last (by wall clock), None if there is none."""
    if heartbeats.empty:
        return None
    return heartbeats.sort_values("written_at", kind="stable").iloc[-1]


def run_state(runs: pd.DataFrame, run_id: str) -> tuple[str, str]:
    """(last event, its message) of ``run_id`` in ``runs`` ("" if it has none)."""
    mine = runs[runs["run_id"] == run_id]
    if mine.empty:
        return "", ""
    last = mine.sort_values("time", kind="stable").iloc[-1]
    return str(last["event"]), str(last["message"])


def evaluate(
    store: DeltaStore,
    settings: DashboardSettings,
    now: datetime | None = None,
    *,
    heartbeats: pd.DataFrame | None = None,
    runs: pd.DataFrame | None = None,
) -> Health:
    """Evaluate every check on ``store`` at wall time ``now`` (default: now).

    ``heartbeats`` and ``runs`` may be passed already read (the dashboard's cache); else
    they are read here. Never raises for a store that cannot be read: that is a failed
    ``store`` check.
    """
    now = now or datetime.now(UTC)
    root = str(store.root)
    try:
        if heartbeats is None:
            heartbeats = store.read("heartbeat", columns=list(HEARTBEAT_COLUMNS))
        if runs is None:
            runs = store.read("runs", columns=["time", "run_id", "event", "message", "mode"])
    except V6Error as exc:
        return Health(now, root, (Check("store", False, str(exc)), disk_check(root)))
    beat = last_heartbeat(heartbeats)
    store_ok = Check("store", True, "the heartbeat and runs tables read")
    if beat is None:
        started = runs[runs["event"] == "start"]
        detail = (
            "no heartbeat: no engine has finished a cycle on this store yet"
            if started.empty
            else "no heartbeat: runs are recorded but none finished a cycle "
            "(written by a V6 without heartbeats, or still starting)"
        )
        return Health(now, root, (Check("heartbeat", False, detail), store_ok, disk_check(root)))

    written = _utc(beat["written_at"])
    age = max(0.0, (now - written).total_seconds())
    limit = heartbeat_limit(float(beat["interval_seconds"]), settings)
    run_id = str(beat["run_id"])
    # A newer run that has not finished a cycle yet is the one to judge.
    if not runs.empty:
        latest = runs.sort_values("time", kind="stable").iloc[-1]
        if str(latest["run_id"]) != run_id and _utc(latest["time"]) > written:
            run_id = str(latest["run_id"])
    event, message = run_state(runs, run_id)
    running = event == "start"
    checks = [
        Check(
            "heartbeat",
            age <= limit,
            f"last cycle ended {age:,.0f} s ago (limit {limit:,.0f} s)",
        ),
        Check(
            "engine",
            running,
            f"run {run_id} running (pid {int(beat['pid'])}, {beat['mode']})"
            if running
            else f"run {run_id} {'ended' if event else 'has no start record'}"
            + (f": {event} ({message})" if event else ""),
        ),
        Check(
            "broker",
            bool(beat["broker_connected"]),
            "connected" if beat["broker_connected"] else "disconnected at the last cycle",
        ),
    ]
    unusable = _names(beat["unusable_underlyings"])
    checks.append(
        Check(
            "market_data",
            not unusable,
            "every underlying usable"
            if not unusable
            else f"no usable data for {', '.join(unusable)} at the last cycle",
        )
    )
    failing = _names(beat["failing_plugins"])
    checks.append(
        Check(
            "plugins",
            not failing,
            "no plugin failing" if not failing else f"failing: {', '.join(failing)}",
        )
    )
    checks.append(store_ok)
    checks.append(disk_check(root))
    return Health(
        checked_at=now,
        store=root,
        checks=tuple(checks),
        run_id=run_id,
        mode=str(beat["mode"]),
        pid=int(beat["pid"]),
        running=running and age <= limit,
        last_cycle_time=_utc(beat["time"]),
        last_heartbeat=written,
        heartbeat_age_seconds=round(age, 3),
        heartbeat_limit_seconds=round(limit, 3),
        cycle=int(beat["cycle"]),
        cycle_seconds=float(beat["cycle_seconds"]),
        open_positions=int(beat["open_positions"]),
        breakers_tripped=_names(beat["tripped_breakers"]),
    )


def percentiles(values: Sequence[float] | pd.Series, points: Sequence[int] = (50, 90, 99)) -> dict:
    """``{"p50": ..., "p90": ..., "p99": ..., "max": ...}`` of ``values`` (empty: {})."""
    series = pd.Series(values, dtype="float64").dropna()
    if series.empty:
        return {}
    out = {f"p{p}": float(series.quantile(p / 100)) for p in points}
    out["max"] = float(series.max())
    return out
