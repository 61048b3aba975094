"""Strategy slots: ownership of every position, limits per strategy and underlying,
cool-down after a stop-out, and the map rebuilt from the positions table after a restart."""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest
from builders import NOW
from sessions import engine_for, sim_config, table
from test_decision_engine import condor

from v6.config import SlotsConfig, SlotSettings
from v6.domain.positions import PositionStatus
from v6.entry.strategy_registry import StrategyRegistry
from v6.store.rows import positions_from_frame


def closed(position_id: str, rule: str, pnl: float, at=NOW):
    return attrs.evolve(
        condor(position_id=position_id),
        status=PositionStatus.CLOSED,
        exit_rule=rule,
        realized_pnl=pnl,
        closed_at=at,
    )


def test_positions_take_the_lowest_free_slot_up_to_the_strategys_limit():
    registry = StrategyRegistry(SlotsConfig(default=SlotSettings(max_concurrent=2)))
    assert registry.assign("iron_condor", "SPY", "a") == "iron_condor/SPY/0"
    registry.begin_cycle()
    assert registry.assign("iron_condor", "SPY", "b") == "iron_condor/SPY/1"
    registry.begin_cycle()
    assert "holds 2 of 2 slots" in registry.refusal("iron_condor", "SPY", NOW)
    assert registry.refusal("iron_condor", "QQQ", NOW) is None  # per underlying
    assert registry.refusal("bull_put_spread", "SPY", NOW) is None  # per strategy
    registry.release(closed("a", "dynamic_take_profit", 50.0), NOW)
    assert registry.refusal("iron_condor", "SPY", NOW) is None
    assert registry.assign("iron_condor", "SPY", "c") == "iron_condor/SPY/0"
    assert registry.occupied() == {"iron_condor/SPY/0": "c", "iron_condor/SPY/1": "b"}


def test_one_entry_per_strategy_and_underlying_per_cycle():
    registry = StrategyRegistry(SlotsConfig(default=SlotSettings(max_concurrent=5)))
    registry.assign("iron_condor", "SPY", "a")
    assert "already entered SPY this cycle" in registry.refusal("iron_condor", "SPY", NOW)
    registry.begin_cycle()
    assert registry.refusal("iron_condor", "SPY", NOW) is None


def test_a_stop_out_at_a_loss_starts_a_cool_down_and_a_profitable_exit_does_not():
    config = SlotsConfig(
        default=SlotSettings(cooldown_minutes_after_stop=60),
        strategies={"iron_condor": SlotSettings(cooldown_minutes_after_stop=120)},
    )
    registry = StrategyRegistry(config)
    registry.assign("iron_condor", "SPY", "a")
    registry.release(closed("a", "stop_loss", -180.0), NOW)
    refusal = registry.refusal("iron_condor", "SPY", NOW + timedelta(minutes=119))
    assert "cool-down after stop-out (stop_loss)" in refusal
    registry.begin_cycle()
    assert registry.refusal("iron_condor", "SPY", NOW + timedelta(minutes=120)) is None

    registry.begin_cycle()
    registry.assign("iron_condor", "SPY", "b")
    later = NOW + timedelta(minutes=150)
    registry.release(closed("b", "trailing_stop", 35.0, at=later), later)  # locked in profit
    registry.begin_cycle()
    assert registry.refusal("iron_condor", "SPY", later) is None


def test_restore_rebuilds_slots_and_cool_downs_from_stored_positions():
    registry = StrategyRegistry(SlotsConfig())
    live = attrs.evolve(condor(position_id="x"), slot="iron_condor/SPY/1")
    legacy = condor(position_id="y")  # a row written before slots existed
    stopped = closed("z", "catastrophe", -300.0, at=NOW - timedelta(minutes=30))
    registry.restore([live, legacy, stopped])
    assert registry.occupied() == {"iron_condor/SPY/0": "y", "iron_condor/SPY/1": "x"}
    assert "cool-down" in registry.refusal("iron_condor", "SPY", NOW)


@pytest.mark.slow
def test_slots_survive_a_restart_through_the_positions_table(tmp_path):
    cfg = sim_config(tmp_path / "store", days=2)
    engine, clock = engine_for(cfg)
    while (now := clock.next_cycle()) is not None:
        engine.run_cycle(now)
    engine.close()
    before = engine.registry.occupied()
    assert before, "the session should end holding positions"
    # Every live position owns exactly one slot, named after its own strategy.
    live = {
        p.position_id: p for p in engine.book.positions() if p.status is not PositionStatus.CLOSED
    }
    assert sorted(before.values()) == sorted(live)
    for slot, pid in before.items():
        assert slot.startswith(f"{live[pid].strategy}/{live[pid].underlying}/")

    restarted = StrategyRegistry(cfg.slots)
    restarted.restore(positions_from_frame(table(cfg, "positions")))
    assert restarted.occupied() == before
