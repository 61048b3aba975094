"""V6 in paper mode killed between the commits of an order event, then restarted against
the same gateway: the book equals the broker, no order is sent twice, no row is orphaned
and realised P&L is the fills' cash.

The case the issue names: killed right after the ``orders`` commit that records a new
condor as filled. The restart used to store the position closed ("unfilled"), book its
four leg fills onto that closed position (a phantom gain, no exit rule watching) and
open a second condor in its slot, so the account held twice the intended contracts.
"""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pytest
from ib_harness import advance, placed_refs, running_gateway, write_config
from kill_harness import gateway_config, killed, restart, restart_problems

from v6.store.delta_store import DeltaStore
from v6.store.rows import positions_from_frame

pytestmark = pytest.mark.slow


def killed_run(config: Path, at: int, when: str) -> int:
    return killed(["run", "--config", str(config), "--cycles", "6"], at, when)


def reached(store: Path, kind: str) -> bool:
    """True when the killed run stored an order of ``kind`` (the kill came where meant)."""
    orders = DeltaStore(store).read("orders", columns=["order_ref"])
    return bool(orders["order_ref"].str.contains(kind).any())


def scenario(tmp_path: Path, kind: str, at: int, when: str, script=None) -> tuple[Path, list]:
    """Kill a paper run of ``kind`` at (``at``, ``when``), restart it, check the broker."""
    with running_gateway() as gateway:
        if script is not None:
            script(gateway)
        store = tmp_path / "store"
        config = write_config(gateway_config(kind, store, gateway.port), tmp_path / "p.yaml")
        assert killed_run(config, at, when) == -signal.SIGKILL
        before = placed_refs(gateway)
        advance(gateway)
        restart(config)
        assert restart_problems(gateway, store, before) == []
        return store, before


@pytest.mark.parametrize(
    ("at", "when"),
    [(0, "after:open:filled"), (1, "before"), (2, "after"), (3, "after"), (4, "before")],
)
def test_killed_at_an_entry_commit_the_restart_matches_the_broker(tmp_path, at, when):
    store, _ = scenario(tmp_path, "entry", at, when)
    positions = positions_from_frame(DeltaStore(store).read("positions"))
    live = Counter(p.slot for p in positions if p.status.value != "closed")
    assert all(n == 1 for n in live.values()), live  # never two positions in one slot
    assert not [p for p in positions if p.exit_rule == "unfilled" and p.commissions]


@pytest.mark.parametrize(
    "when", ["before:close:pending", "after:close:pending", "after:close:filled"]
)
def test_killed_while_closing_the_restart_matches_the_broker(tmp_path, when):
    store, _ = scenario(tmp_path, "close", 0, when)
    assert reached(store, ":close:")


@pytest.mark.parametrize("when", ["after:open:partial", "after:open:cancelled"])
def test_killed_with_a_partially_filled_entry_the_restart_matches_the_broker(tmp_path, when):
    scenario(tmp_path, "partial", 0, when, lambda g: g.fill_next("partial", units=1))


@pytest.mark.parametrize("when", ["after:unwind:pending", "after:unwind:filled"])
def test_killed_while_unwinding_a_legged_entry_the_restart_leaves_no_naked_leg(tmp_path, when):
    # Only the long put and the short put execute: the entry is legged and unwound.
    store, _ = scenario(tmp_path, "legs", 0, when, lambda g: g.fill_next("legs", indices=[0, 1]))
    assert reached(store, ":unwind:")
