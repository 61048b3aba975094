"""The engine's heartbeat: one row per cycle saying it is alive and how it is doing.

The dashboard's Health page and ``GET /health`` (:mod:`v6.health`) judge a running engine
by it: when it last finished a cycle (wall clock), how long cycles take, whether the
broker is connected, which breakers are tripped, which underlyings have unusable data,
which plugins are failing. A row is buffered every cycle and the table is committed
whenever :data:`FLUSH_EVERY_SECONDS` of wall time have passed since its last commit: every
cycle in paper and live (cycles are minutes apart), every few seconds in a fast sim, where
a commit per cycle (tens of milliseconds) would slow the simulation down.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from v6.config import Mode
from v6.domain.market import MarketView

if TYPE_CHECKING:
    from v6.engine.cycle import Engine

TABLE = "heartbeat"
FLUSH_EVERY_SECONDS = 5.0
"""Wall seconds between two commits of the heartbeat table, at most."""


def interval_seconds(engine: Engine) -> float:
    """Wall seconds from one cycle to the next (0: a sim running as fast as it can)."""
    interval = float(engine.config.cycle.interval_seconds)
    if engine.config.mode is not Mode.SIM:
        return interval
    speed = engine.config.sim.speed
    return interval / speed if speed > 0 else 0.0


WAITING_BEAT_SECONDS = 60.0
"""Wall seconds between two heartbeats while the engine waits for its next cycle."""


def waiting(engine: Engine) -> None:
    """While the engine waits for its next cycle, say every minute that it is alive.

    Outside market hours a paper or live engine waits for hours (overnight, a weekend)
    without a cycle. Without these rows its last heartbeat ages past ``GET /health``'s
    limit every night and monitors learn to ignore the alarm. A waiting row repeats the
    last cycle's (its cycle number, market time and duration, so cycle statistics count
    that cycle once) with the wall time of now and the broker connection as it is now: a
    gateway lost overnight shows at once. Nothing is written before the first cycle.
    """
    last = engine.last_heartbeat
    wall = time.monotonic()
    if last is None or wall - engine.heartbeat_flushed < WAITING_BEAT_SECONDS:
        return
    row = {
        **last,
        "written_at": datetime.now(UTC),
        "broker_connected": bool(getattr(engine.broker, "connected", True)),
    }
    engine.recorder.heartbeat(row)
    engine.recorder.store.flush([TABLE])
    engine.heartbeat_flushed = wall


def beat(engine: Engine, view: MarketView) -> None:
    """Buffer this cycle's heartbeat; commit the table when it is due."""
    wall = time.monotonic()
    failing = sorted({e.plugin for e in engine.plugin_failures.episodes.values()})
    engine.last_heartbeat = row = {
        "time": view.time,
        "written_at": datetime.now(UTC),
        "cycle": engine.cycle,
        "cycle_seconds": max(0.0, wall - engine.cycle_started),
        "interval_seconds": interval_seconds(engine),
        "broker_connected": bool(getattr(engine.broker, "connected", True)),
        "mode": engine.config.mode.value,
        "pid": os.getpid(),
        "open_positions": engine.report.open_positions,
        "tripped_breakers": ",".join(engine.breakers.tripped()),
        "unusable_underlyings": ",".join(engine.unusable),
        "rejected_quotes": engine.report.rejected_quotes,
        "failing_plugins": ",".join(failing),
    }
    engine.recorder.heartbeat(row)
    if wall - engine.heartbeat_flushed >= FLUSH_EVERY_SECONDS:
        engine.recorder.store.flush([TABLE])
        engine.heartbeat_flushed = wall
