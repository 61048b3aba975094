"""Trailing stop with whipsaw protection, replayed over price paths cycle by cycle.

A condor sold for 1.00 (max profit 100) is marked at a sequence of closing prices; the
rule sees the track the engine would build and we record the first cycle it closes.
"""

from __future__ import annotations

from datetime import timedelta

from builders import NOW
from test_decision_engine import condor
from v6_plugins.exit_rules import trailing_stop

from v6.domain.positions import PositionMark
from v6.engine.tracks import MarkTracker

STEP = timedelta(minutes=15)


def replay(
    path: list[float],
    spreads: list[float] | None = None,
    valid: list[bool] | None = None,
    **settings,
) -> int | None:
    """Index of the cycle at which the stop closes, or None if it never does.

    ``path`` holds profit as a share of max profit each cycle; ``spreads`` the half-spread
    per share of the close (default 0.05, well inside 25% of the 1.00 credit).
    """
    held = condor()
    tracker = MarkTracker()
    rule = trailing_stop.Settings(**settings)
    for i, fraction in enumerate(path):
        close_mid = 1.00 - fraction  # captured share of the 1.00 credit
        half = spreads[i] if spreads else 0.05
        ok = valid[i] if valid else True
        m = PositionMark(
            position=held,
            time=NOW + i * STEP,
            spot=100.0,
            close_mid=close_mid,
            close_natural=close_mid + half,
            unrealized_pnl=fraction * 100,
            pnl_fraction_of_max_profit=fraction,
            dte=20,
            quotes_valid=ok,
        )
        track = tracker.record([m])[held.position_id]
        if trailing_stop.v6_evaluate_exit(mark=m, track=track, settings=rule) is not None:
            return i
    return None


RISE = [0.10, 0.25, 0.40, 0.60]  # activates at 30%; peak 60% -> trail level 30%


def test_a_true_reversal_exits_once_the_breach_has_held_for_three_cycles():
    path = [*RISE, 0.45, 0.28, 0.25, 0.2, 0.15, 0.1]
    assert replay(path) == 7  # breaches at 5, 6, 7: confirmed on the third


def test_a_whipsaw_that_recovers_before_confirmation_never_exits():
    path = [*RISE, 0.25, 0.2, 0.45, 0.55, 0.28, 0.5, 0.62, 0.58]
    assert replay(path) is None


def test_a_breach_printed_on_a_wide_spread_is_ignored():
    path = [*RISE, 0.1, 0.05, 0.02, 0.5, 0.55]
    wide = [0.05] * 4 + [0.40, 0.40, 0.40, 0.05, 0.05]  # 0.40 > 25% of the 1.00 credit
    assert replay(path, spreads=wide) is None
    assert replay(path) == 6  # the same prices on a tight market do exit


def test_a_peak_set_on_a_wide_spread_does_not_activate_the_stop():
    path = [0.10, 0.20, 0.70, 0.20, 0.15, 0.12, 0.10]
    wide = [0.05, 0.05, 0.50, 0.05, 0.05, 0.05, 0.05]
    assert replay(path, spreads=wide) is None


def test_marks_on_bad_quotes_neither_count_nor_break_a_run_of_breaches():
    path = [*RISE, 0.25, 0.25, 0.25, 0.25]
    valid = [True] * 5 + [False, True, True]
    # Breaches at 4, (5 bad), 6, 7: the third trusted breach is at 7.
    assert replay(path, valid=valid) == 7


def test_the_stop_only_activates_after_the_profit_threshold():
    path = [0.10, 0.20, 0.28, 0.05, 0.00, -0.10, -0.20]
    assert replay(path) is None  # a stop loss's job, not the trailing stop's
    assert replay(path, activation_fraction=0.25) == 5


def test_a_minimum_breach_time_can_trigger_before_the_cycle_count():
    path = [*RISE, 0.2, 0.2, 0.2, 0.2]
    assert replay(path, confirm_cycles=10, min_breach_minutes=30) == 6  # 4 -> 6 is 30 minutes
    assert replay(path, confirm_cycles=10) is None


def test_the_trail_share_sets_how_much_profit_may_be_given_back():
    path = [*RISE, 0.40, 0.40, 0.40, 0.40]  # 40% of max: two thirds of the 60% peak
    assert replay(path, trail_fraction=0.5) is None  # level 30%
    assert replay(path, trail_fraction=0.25) == 6  # level 45%


def test_a_restart_rebuilds_every_track_from_the_decisions_table(tmp_path):
    """The trailing stop's peak must survive a restart: the marks the rules saw are stored
    with each decision and read back into the tracker exactly."""
    import numpy as np
    from sessions import engine_for, sim_config

    from v6.domain.positions import PositionStatus
    from v6.engine.recovery import restore_tracks

    cfg = sim_config(tmp_path / "store", days=2)
    engine, clock = engine_for(cfg)
    while (now := clock.next_cycle()) is not None:
        engine.run_cycle(now)
    engine.close()
    live = [p.position_id for p in engine.book.positions([PositionStatus.OPEN])]
    assert live

    restarted, _ = engine_for(cfg)
    restore_tracks(restarted, restarted.recorder.store, live)
    assert max(len(engine.tracks.track(pid)) for pid in live) > 3
    for pid in live:
        before, after = engine.tracks.track(pid), restarted.tracks.track(pid)
        assert len(after) == len(before)
        np.testing.assert_array_equal(after.times, before.times)
        for name in ("pnl", "pnl_fraction", "half_spread", "spot"):
            np.testing.assert_allclose(getattr(after, name), getattr(before, name), equal_nan=True)
