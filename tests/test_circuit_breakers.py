"""Circuit breakers: each trips on its condition, resets only by its rule or by hand,
survives a restart, and a tripped breaker stops entries in a real engine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sessions import engine_for, sim_config, table

from v6.cli import main
from v6.config import BreakerSettings
from v6.risk.breaker_log import stored_events
from v6.risk.circuit_breakers import CircuitBreakers, CycleObservation, UnknownBreakerError
from v6.store.delta_store import DeltaStore

MONDAY = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)  # 10:00 New York
STEP = timedelta(minutes=15)


def obs(i: int = 0, day: int = 0, **kwargs) -> CycleObservation:
    kwargs.setdefault("net_liquidation", 100_000.0)
    return CycleObservation(time=MONDAY + timedelta(days=day) + i * STEP, **kwargs)


def names(events) -> list[tuple[str, str]]:
    return [(e.breaker, e.event) for e in events]


def test_daily_loss_trips_at_the_limit_and_resets_on_the_next_trading_day():
    board = CircuitBreakers(BreakerSettings(max_daily_loss=1000.0))
    assert board.observe(obs(0, net_liquidation=100_000.0)) == []
    assert board.observe(obs(1, net_liquidation=99_100.0)) == []
    assert names(board.observe(obs(2, net_liquidation=98_950.0))) == [("daily_loss", "trip")]
    assert not board.entries_allowed
    assert board.observe(obs(3, net_liquidation=100_500.0)) == []  # a bounce does not reset it
    assert board.tripped() == ["daily_loss"]
    next_day = board.observe(obs(0, day=1, net_liquidation=100_500.0))
    assert names(next_day) == [("daily_loss", "reset")]
    assert board.entries_allowed


def test_consecutive_losses_need_a_manual_reset_and_a_win_breaks_the_streak():
    board = CircuitBreakers(BreakerSettings(max_consecutive_losses=3))
    assert board.observe(obs(0, closed_pnls=(-10.0, -20.0, 5.0, -1.0))) == []
    events = board.observe(obs(1, closed_pnls=(-3.0, -4.0)))
    assert names(events) == [("consecutive_losses", "trip")]
    assert board.observe(obs(2, day=3)) == []  # time alone never resets it
    assert board.tripped() == ["consecutive_losses"]
    reset = board.reset("consecutive_losses", obs(3, day=3).time)
    assert (reset.event, reset.source) == ("reset", "manual")
    assert board.observe(obs(4, day=3, closed_pnls=(-1.0,))) == []  # the streak starts again


def test_order_rejections_trip_within_the_window_and_reset_when_it_clears():
    board = CircuitBreakers(BreakerSettings(max_order_rejections=3, rejection_window_minutes=40))
    board.observe(obs(0, rejections=2))
    assert names(board.observe(obs(1, rejections=1))) == [("order_rejections", "trip")]
    assert board.observe(obs(2)) == []  # the first two are still inside 40 minutes
    assert names(board.observe(obs(3))) == [("order_rejections", "reset")]


def test_stale_data_trips_after_n_bad_cycles_and_resets_after_good_ones():
    board = CircuitBreakers(BreakerSettings(stale_data_cycles=2, recover_cycles=2))
    assert board.observe(obs(0, unusable_underlyings=("SPY",))) == []
    assert board.observe(obs(1)) == []  # a good cycle in between restarts the count
    board.observe(obs(2, unusable_underlyings=("SPY",)))
    assert names(board.observe(obs(3, unusable_underlyings=("QQQ",)))) == [("stale_data", "trip")]
    assert board.observe(obs(4)) == []
    assert names(board.observe(obs(5))) == [("stale_data", "reset")]


def test_a_disconnect_trips_at_once_and_resets_after_reconnecting_for_a_while():
    board = CircuitBreakers(BreakerSettings(recover_cycles=2))
    assert names(board.observe(obs(0, broker_connected=False))) == [("broker_disconnect", "trip")]
    assert board.observe(obs(1)) == []
    assert names(board.observe(obs(2))) == [("broker_disconnect", "reset")]


def test_closing_breakers_are_flagged_for_the_exit_rule():
    board = CircuitBreakers(BreakerSettings(max_daily_loss=100.0, close_positions=["daily_loss"]))
    board.observe(obs(0))
    board.observe(obs(1, net_liquidation=99_800.0))
    status = {s.name: s for s in board.statuses()}
    assert status["daily_loss"].tripped and status["daily_loss"].close_positions
    assert not status["stale_data"].close_positions


def test_disabled_breakers_never_trip():
    board = CircuitBreakers(BreakerSettings(enabled=False, max_daily_loss=1.0))
    board.observe(obs(0))
    assert board.observe(obs(1, net_liquidation=0.0, broker_connected=False)) == []
    assert board.entries_allowed


def test_a_trip_survives_a_same_day_restart_but_not_a_new_day():
    board = CircuitBreakers(BreakerSettings(max_daily_loss=100.0))
    board.observe(obs(0))
    events = board.observe(obs(1, net_liquidation=99_850.0))
    restarted = CircuitBreakers(BreakerSettings(max_daily_loss=100.0))
    restarted.restore(events)
    assert restarted.tripped() == ["daily_loss"]
    assert restarted.observe(obs(2, net_liquidation=99_850.0)) == []
    assert restarted.tripped() == ["daily_loss"]
    assert names(restarted.observe(obs(0, day=1))) == [("daily_loss", "reset")]


def test_an_unknown_breaker_name_is_a_usage_error():
    with pytest.raises(UnknownBreakerError, match="breakers are: daily_loss"):
        CircuitBreakers(BreakerSettings()).reset("daily_los", MONDAY)


# -- in a real engine ---------------------------------------------------------------------


@pytest.mark.slow
def test_a_tripped_breaker_stops_entries_until_v6_breaker_reset(tmp_path, capsys):
    cfg = sim_config(tmp_path / "store", days=2)
    engine, clock = engine_for(cfg)
    times = [clock.next_cycle() for _ in range(8)]
    engine.run_cycle(times[0])
    opened = len(engine.book.positions())
    assert opened > 0
    engine.broker.faults.disconnect()
    engine.run_cycle(times[1])
    engine.broker.faults.reconnect()
    assert engine.breakers.tripped() == ["broker_disconnect"]
    assert len(engine.book.positions()) == opened  # nothing new while tripped

    # A breaker that only a human may reset: trip it and reset it from the command line.
    engine.breakers.observe(
        CycleObservation(time=times[1], net_liquidation=1e5, closed_pnls=(-1.0,) * 4)
    )
    assert "consecutive_losses" in engine.breakers.tripped()
    engine.run_cycle(times[2])
    engine.run_cycle(times[3])  # broker_disconnect resets by its rule after 2 good cycles
    assert engine.breakers.tripped() == ["consecutive_losses"]
    assert len(engine.book.positions()) == opened

    store = str(cfg.store.path)
    assert main(["breaker", "status", "--store", store]) == 0
    status = capsys.readouterr().out
    assert "broker_disconnect" in status and "ok" in status
    assert main(["breaker", "reset", "consecutive_losses", "--store", store]) == 0
    engine.run_cycle(times[4])
    assert engine.breakers.tripped() == []
    engine.run_cycle(times[5])
    assert len(engine.book.positions()) > opened  # entries resumed
    engine.close()

    alerts = table(cfg, "alerts")
    codes = alerts[alerts.source == "breakers"].code.tolist()
    assert codes.count("breaker_trip") == 1  # consecutive_losses was tripped by hand above
    assert codes.count("breaker_reset") == 2
    events = stored_events(DeltaStore(store))
    # (The request carries wall-clock time, the engine's rows simulated time: compare sets.)
    assert {(e.breaker, e.event, e.source) for e in events} == {
        ("broker_disconnect", "trip", "engine"),
        ("broker_disconnect", "reset", "engine"),
        ("consecutive_losses", "reset_request", "manual"),
        ("consecutive_losses", "reset", "manual"),
    }
    rejected = table(cfg, "entries")
    assert rejected.reason.str.contains("circuit breaker tripped: broker_disconnect").any()
