"""The simulated broker's liquidity fill model: a resting combo limit fills with a chance
that rises from mid to natural and falls when the market panics; fills take cycles; the
draw is seeded, so a run is reproducible and a second poll at one time is no second try.
"""

from __future__ import annotations

from datetime import timedelta

import attrs
import pandas as pd
import pytest
from test_sim_broker import NOW, order, view

from v6.brokers.sim import SimBroker, fill_draw, liquidity
from v6.config import SimBrokerSettings
from v6.domain.orders import OrderStatus

# The iron condor of test_sim_broker: net mid -1.20, natural -1.00 (half-spread 0.20).
MID, NATURAL = -1.20, -1.00


def fill_share(limit: float, vix: float = 16.0, orders: int = 400, **settings) -> float:
    """Share of ``orders`` fresh orders at ``limit`` that fill at their first snapshot."""
    b = SimBroker(SimBrokerSettings(**settings), 1_000_000.0, seed=5)
    for i in range(orders):  # closing orders: no buying-power check, many at once
        b.place(order(f"o{i}", limit=limit, intent="close"))
    update = b.poll(attrs.evolve(view(), vix=vix))
    return len({f.order_ref for f in update.fills}) / orders


def test_fill_chance_rises_from_mid_to_natural():
    at_mid = fill_share(MID)
    halfway = fill_share(-1.10)
    assert 0.2 < at_mid < 0.4  # fill_probability_at_mid 0.3
    assert 0.55 < halfway < 0.75  # 0.3 + 0.7 * 0.5
    assert fill_share(NATURAL) == 1.0
    assert fill_share(-0.90) == 1.0  # through natural: marketable, fills at natural
    assert fill_share(-1.21) == 0.0  # below mid: never


def test_a_panicking_market_fills_less():
    calm = fill_share(MID, vix=16.0)
    panic = fill_share(MID, vix=50.0)
    assert panic < 0.6 * calm
    settings = SimBrokerSettings()
    assert liquidity(20.0, settings) == 1.0 and liquidity(40.0, settings) == 0.5
    assert liquidity(float("nan"), settings) == 1.0


def test_immediate_mid_fills_every_limit_at_mid_at_once():
    assert fill_share(MID, fill_model="immediate_mid") == 1.0


def test_an_order_at_mid_waits_some_cycles_and_fills_at_its_limit():
    waits = []
    for i in range(60):
        b = SimBroker(SimBrokerSettings(), 100_000.0, seed=i)
        b.place(order(f"w{i}", limit=MID))
        for cycle in range(40):
            update = b.poll(view(now=NOW + timedelta(minutes=15 * cycle)))
            if update.fills:
                assert sum(f.price * f.quantity for f in update.fills) == pytest.approx(MID)
                waits.append(cycle)
                break
    assert len(waits) == 60
    assert 0 in waits and max(waits) >= 3  # some fill at once, some wait several cycles


def test_the_draw_is_fixed_by_seed_order_and_time_so_a_second_poll_is_no_second_try():
    assert fill_draw(1, "a", NOW) == fill_draw(1, "a", NOW)
    assert fill_draw(1, "a", NOW) != fill_draw(2, "a", NOW)
    assert fill_draw(1, "a", NOW) != fill_draw(1, "b", NOW)
    unfilled = next(
        i for i in range(100) if fill_draw(3, f"r{i}", NOW) >= 0.3
    )  # an order whose draw at NOW misses at mid
    b = SimBroker(SimBrokerSettings(), 100_000.0, seed=3)
    b.place(order(f"r{unfilled}", limit=MID))
    for _ in range(5):
        assert b.poll(view()).fills == ()
    assert [s.status for s in b.open_orders()] == [OrderStatus.SUBMITTED]


def test_stepping_toward_natural_makes_the_same_snapshot_fill():
    # The executor's improvement path: an order that missed at mid is moved to natural
    # within the same cycle and fills at that snapshot.
    ref = next(f"s{i}" for i in range(100) if fill_draw(3, f"s{i}", NOW) >= 0.3)
    b = SimBroker(SimBrokerSettings(), 100_000.0, seed=3)
    b.place(order(ref, limit=MID))
    assert b.poll(view()).fills == ()
    b.modify(ref, NATURAL)
    assert b.poll(view()).fills


@pytest.mark.slow
def test_a_default_session_waits_improves_prices_and_pays_part_of_the_spread(tmp_path):
    from sessions import run, sim_config, table

    cfg = sim_config(tmp_path / "store", days=2)
    run(cfg)
    orders = table(cfg, "orders")
    fills = table(cfg, "fills")
    fills = fills[fills.kind == "trade"]
    # The executor's price-improvement path: some orders were stepped toward natural.
    assert (orders.groupby("order_ref").limit_price.nunique() > 1).any()
    # Some fills came cycles after the order was sent.
    sent = orders.groupby("order_ref").time.min()
    first_fill = fills.groupby("order_ref").time.min()
    waited = first_fill - sent.reindex(first_fill.index)
    assert (waited > pd.Timedelta(0)).any() and (waited == pd.Timedelta(0)).any()
    # The cost of the spread: what the fills paid over the mid of each leg at that time.
    chains = table(cfg, "chain_snapshots")
    chains = chains.assign(mid=(chains.bid + chains.ask) / 2)
    keys = ["time", "underlying", "expiry", "strike", "right"]
    priced = fills.merge(chains[[*keys, "mid"]], on=keys, how="left")
    assert priced["mid"].notna().all()
    paid = float(((priced.price - priced["mid"]) * priced.quantity * 100).sum())
    assert paid > 0
