"""A spread that fills leg by leg and then stops is unwound: no naked short is left."""

from __future__ import annotations

from collections import defaultdict

import attrs
import pytest
from sessions import engine_for, sim_config, table

pytestmark = pytest.mark.slow


def uncovered_shorts(positions) -> dict[tuple[str, str], int]:
    """(underlying expiry, right) groups where short contracts outnumber long ones."""
    net: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for p in positions:
        underlying, expiry, strike_right = p.contract_key.split(" ")
        group = net[(f"{underlying} {expiry}", strike_right[-1])]
        group[0 if p.quantity > 0 else 1] += abs(p.quantity)
    return {k: short - long for k, (long, short) in net.items() if short > long}


def test_legged_entry_is_unwound_and_the_broker_is_left_covered(tmp_path):
    # A seed whose market lets most first-cycle entries fill once released (an entry
    # whose mid ran away from its limit is cancelled unfilled, which is no legging).
    cfg = sim_config(tmp_path / "data", days=2, seed=2)
    # The seed was chosen on the path without the futures' lead (the ETFs not delayed).
    cfg = attrs.evolve(
        cfg, sim=attrs.evolve(cfg.sim, futures=attrs.evolve(cfg.sim.futures, lead_cycles=0))
    )
    # About unwinding a legged fill, not fill timing: released orders fill at once.
    broker_settings = attrs.evolve(cfg.sim.broker, fill_model="immediate_mid")
    cfg = attrs.evolve(cfg, sim=attrs.evolve(cfg.sim, broker=broker_settings))
    engine, clock = engine_for(cfg)
    broker = engine.broker
    broker.faults.hold_fills()
    engine.run_cycle(clock.next_cycle())
    working = [s for s in broker.open_orders()]
    assert working, "the first cycle should send entry orders"
    for state in working:
        order = engine.book.order(state.order_ref)
        shorts = [i for i, leg in enumerate(order.legs) if leg.is_short]
        broker.faults.leg_next(state.order_ref, shorts)  # only the short legs fill
    broker.faults.release_fills()
    for _ in range(4):
        engine.run_cycle(clock.next_cycle())
    engine.close()

    orders = table(cfg, "orders")
    legged_rows = orders[orders["message"].str.startswith("legged fill")]
    legged = dict(zip(legged_rows["order_ref"], legged_rows["position_id"], strict=True))
    assert legged, "at least one entry must have filled leg by leg"
    assert uncovered_shorts(broker.positions()) == {}
    alerts = table(cfg, "alerts")
    assert (alerts["code"] == "legged_position").sum() == len(legged)
    unwinds = orders[orders["intent"] == "unwind"]
    assert set(unwinds["position_id"]) == set(legged.values())
    assert set(unwinds[unwinds["status"] == "filled"]["position_id"]) == set(legged.values())
    # Every fill is in the table and the book agrees with the broker, contract by contract.
    ours = engine.book.net_contracts()
    theirs = {p.contract_key: p.quantity for p in broker.positions() if p.quantity}
    assert ours == theirs
    fills = table(cfg, "fills")
    for pid in legged.values():
        per_contract = fills[fills["position_id"] == pid].groupby("contract_key")["quantity"]
        assert (per_contract.sum() == 0).all(), f"{pid} must be flat after the unwind"
