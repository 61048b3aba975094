"""Engine benchmarks: marking a book of positions, and one whole cycle in steady state."""

from __future__ import annotations

import sys
from pathlib import Path

import attrs

from v6.config import PluginsConfig
from v6.domain.contracts import Leg
from v6.domain.positions import Position, PositionStatus
from v6.engine.marks import mark_positions

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))

from sessions import engine_for, sim_config


def condors(view, count: int) -> list[Position]:
    """``count`` open iron condors spread over the three underlyings and a few strikes."""
    positions = []
    for n in range(count):
        symbol = ("SPY", "QQQ", "IWM")[n % 3]
        chain = view.chains[symbol]
        expiry = chain.expiries()[3]
        rows = chain.expiry == expiry
        strikes = chain.strike[rows & ~chain.is_call]
        k = strikes[len(strikes) // 2 - 10 + n % 5 : len(strikes) // 2 - 10 + n % 5 + 1][0]
        legs = []
        for strike, right, ratio in (
            (k - 5, False, 1),
            (k, False, -1),
            (k + 20, True, -1),
            (k + 25, True, 1),
        ):
            i = int(((chain.strike == strike) & (chain.is_call == right) & rows).argmax())
            legs.append(Leg(chain.contract(i), ratio))
        positions.append(
            Position(
                f"p{n}",
                "iron_condor",
                symbol,
                "iron_condor",
                tuple(legs),
                1,
                -1.0,
                view.time,
                PositionStatus.OPEN,
                100.0,
                400.0,
            )
        )
    return positions


def test_mark_200_iron_condors(benchmark, tmp_path):
    """Vectorised marks of 200 four-leg positions spread over three underlyings."""
    engine, clock = engine_for(sim_config(tmp_path / "data", days=1))
    view = engine.market.snapshot(clock.next_cycle())
    positions = condors(view, 200)
    marks = benchmark(mark_positions, positions, view)
    assert len(marks) == 200
    assert all(m.quotes_valid for m in marks)


def test_one_engine_cycle_steady_state(benchmark, tmp_path):
    """A full cycle (market, gate, sync, regime, exits, entries, persist) for 3 underlyings."""
    cfg = sim_config(tmp_path / "data", days=5)
    cfg = attrs.evolve(cfg, store=attrs.evolve(cfg.store, flush_every_cycles=26))
    engine, clock = engine_for(cfg)
    for _ in range(26):  # a day of trading first, so positions are open
        engine.run_cycle(clock.next_cycle())

    def one_cycle():
        engine.run_cycle(clock.next_cycle())

    benchmark.pedantic(one_cycle, rounds=60, iterations=1)
    engine.close()
    assert engine.book.positions()


def test_decision_pass_over_200_open_positions(benchmark, tmp_path):
    """One full decision pass: portfolio risk (Greeks and 36 stress scenarios), marks,
    tracks, and all twelve exit rules over 200 open iron condors. Target: under 20 ms."""
    cfg = sim_config(tmp_path / "data", days=1)
    cfg = attrs.evolve(
        cfg, plugins=attrs.evolve(cfg.plugins, exit_rules=PluginsConfig().exit_rules)
    )
    engine, clock = engine_for(cfg)
    now = clock.next_cycle()
    engine.run_cycle(now)  # regimes, history, account and breakers as in a real cycle
    view = engine.market.snapshot(now)
    positions = condors(view, 200)
    assert len(engine.decisions.rules) == 12

    def decision_pass():
        engine.risk = engine.risk_calculator.compute(positions, view)
        return engine.decide_all(positions, view)

    results = benchmark(decision_pass)
    assert len(results) == 200
    assert all(len(verdicts) == 12 for _, _, verdicts in results)
    engine.close()
