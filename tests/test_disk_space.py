"""The disk_space breaker: entries stop while the store's disk is nearly full, with an alert.

"Nearly full" is simulated at the boundary by setting ``breakers.min_free_disk_mb`` just
above (or below) the free space the disk really has: the probe itself is the real one.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta

import attrs
from sessions import engine_for, sim_config, table

from v6.config import BreakerSettings
from v6.risk.circuit_breakers import CircuitBreakers, CycleObservation

MONDAY = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)


def with_floor(cfg, megabytes: float):
    return attrs.evolve(cfg, breakers=attrs.evolve(cfg.breakers, min_free_disk_mb=megabytes))


def free_mb(path) -> float:
    return shutil.disk_usage(path).free / 1e6


def test_entries_stop_with_an_alert_when_free_space_is_below_the_floor(tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    # 500 MB above what is free now: nothing another process writes meanwhile can reach it.
    cfg = with_floor(sim_config(store, days=2), free_mb(store) + 500)
    engine, clock = engine_for(cfg)
    for _ in range(3):
        engine.run_cycle(clock.next_cycle())
    assert engine.breakers.tripped() == ["disk_space"]
    assert engine.book.positions() == []
    engine.close()
    alerts = table(cfg, "alerts")
    trip = alerts[(alerts.source == "breakers") & (alerts.code == "breaker_trip")]
    assert len(trip) == 1 and "disk_space" in trip.iloc[0]["message"]
    assert trip.iloc[0]["severity"] == "critical"
    events = table(cfg, "breaker_events")
    assert list(events.breaker) == ["disk_space"] and list(events.event) == ["trip"]
    entries = table(cfg, "entries")
    assert entries.reason.str.contains("disk_space").any()


def test_entries_go_on_with_free_space_just_above_the_floor(tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    cfg = with_floor(sim_config(store, days=2), max(1.0, free_mb(store) - 500))
    engine, clock = engine_for(cfg)
    engine.run_cycle(clock.next_cycle())
    assert engine.breakers.tripped() == []
    assert len(engine.book.positions()) > 0
    engine.close()


def test_the_breaker_resets_after_recover_cycles_with_room_and_zero_disarms_it():
    board = CircuitBreakers(BreakerSettings(min_free_disk_mb=1000, recover_cycles=2))

    def seen(i: int, free_mb: float):
        return board.observe(
            CycleObservation(MONDAY + timedelta(minutes=15 * i), 1e5, free_disk_bytes=free_mb * 1e6)
        )

    assert [(e.breaker, e.event) for e in seen(0, 999)] == [("disk_space", "trip")]
    assert seen(1, 1001) == []  # one roomy cycle is not enough
    assert [(e.breaker, e.event) for e in seen(2, 1001)] == [("disk_space", "reset")]
    disarmed = CircuitBreakers(BreakerSettings(min_free_disk_mb=0))
    assert disarmed.observe(CycleObservation(MONDAY, 1e5, free_disk_bytes=1.0)) == []
    unknown = CircuitBreakers(BreakerSettings(min_free_disk_mb=1000))
    assert unknown.observe(CycleObservation(MONDAY, 1e5, free_disk_bytes=None)) == []
