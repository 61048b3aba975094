"""A crash at any commit of an order event leaves no orphan row.

``orders``, ``fills`` and ``positions`` are separate Delta commits. V6 writes a new order
ahead (its position's row, then its own) and what the broker reports facts first (fills,
then order states, then positions), so whichever commit a SIGKILL interrupts, every row
still finds the rows it names. These tests kill real ``v6 run`` processes (sim) just
before and just after successive order-table commits, covering entries, closes, partial
fills and unwinds, and audit the store each time.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from kill_harness import SIM_CONFIG, run_killed

from v6.store.delta_store import DeltaStore
from v6.testing.store_audit import audit

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("config") / "sim.yaml"
    path.write_text(SIM_CONFIG, encoding="utf-8")
    return path


# The first commits are an entry written ahead (positions, orders), its submitted state,
# then the cycle's fills, states and positions; later ones reach closes and partial fills.
@pytest.mark.parametrize("at", [1, 2, 3, 4, 5, 6, 9, 14, 23, 37])
@pytest.mark.parametrize("when", ["before", "after"])
def test_a_kill_at_an_order_table_commit_leaves_no_orphan_row(tmp_path, config, at, when):
    store = tmp_path / "store"
    status = run_killed(store, config, at, when, seed=2)
    assert status == -signal.SIGKILL
    assert audit(DeltaStore(store)) == []


def test_the_audit_finds_an_order_whose_position_row_is_missing(tmp_path, config):
    """The audit is not blind: drop the positions table of a finished run and it reports
    every order and fill that named a position."""
    import shutil

    store = tmp_path / "store"
    status = run_killed(store, config, 10_000, "after", seed=2)  # never reached: runs out
    assert status == 0
    assert audit(DeltaStore(store)) == []
    shutil.rmtree(store / "positions")
    problems = audit(DeltaStore(store))
    assert problems and all("no row for its position" in p for p in problems)


def test_a_new_sim_run_closes_what_a_killed_sim_run_left_live(tmp_path, config):
    """A killed sim run's simulated broker is gone with it: the next sim run on the store
    stores its live positions closed as abandoned, at their fills' cash, and its working
    orders cancelled, so no later reading counts them as open."""
    from v6.store.rows import in_write_order, orders_from_frame

    store = tmp_path / "store"
    assert run_killed(store, config, 14, "after", seed=2) == -signal.SIGKILL
    tables = DeltaStore(store)
    before = in_write_order(tables.read("positions")).drop_duplicates("position_id", keep="last")
    killed_run = set(before["run_id"])
    left_live = set(before.loc[before["status"] != "closed", "position_id"])
    assert left_live, "the kill left positions live"
    assert run_killed(store, config, 10_000, "after", seed=3) == 0  # a whole second run
    after = in_write_order(tables.read("positions")).drop_duplicates("position_id", keep="last")
    old = after[after["position_id"].isin(left_live)]
    assert set(old["status"]) == {"closed"} and set(old["exit_rule"]) == {"abandoned"}
    assert (old["quantity"] == 0).all()
    old_orders = [
        o for o in orders_from_frame(tables.read("orders")) if o.order.position_id in left_live
    ]
    assert all(o.state.status.is_done for o in old_orders)
    assert audit(tables) == []  # realised P&L equals the fills' cash, to the cent
    alerts = tables.read("alerts")
    assert "sim_positions_abandoned" in set(alerts["code"])
    live_now = after[after["status"] != "closed"]
    assert not set(live_now["run_id"]) & killed_run


@pytest.mark.parametrize(
    "when",
    ["after:unwind:pending", "after:unwind:filled", "after:open:partial", "after:close:pending"],
)
def test_a_kill_inside_an_unwind_a_partial_fill_or_a_close_leaves_no_orphan_row(
    tmp_path, config, when
):
    """Killed right at the commit that stores an unwind, a partial entry or a close."""
    store = tmp_path / "store"
    assert run_killed(store, config, 0, when, seed=2) == -signal.SIGKILL
    tables = DeltaStore(store)
    intent = when.split(":")[1]
    assert tables.read("orders")["order_ref"].str.contains(f":{intent}").any()
    assert audit(tables) == []
