"""``v6 explain POSITION_ID`` reads a real run's tables and tells why a position was held
or closed, with every rule's verdict in its last cycle."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sessions import run, sim_config, table

from v6.cli import main
from v6.store.rows import in_write_order

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    cfg = sim_config(tmp_path_factory.mktemp("explain") / "store", days=2)
    run(cfg)
    return cfg


def test_explain_prints_the_history_and_every_rules_verdict_of_a_closed_position(
    finished_run, capsys
):
    positions = in_write_order(table(finished_run, "positions"))
    latest = positions.drop_duplicates("position_id", keep="last")
    # A position whose entry never filled ("unfilled") has no decisions to explain.
    decided = (latest.exit_rule != "") & (latest.exit_rule != "unfilled")
    closed = latest[(latest.status == "closed") & decided].iloc[0]
    store = str(finished_run.store.path)
    assert main(["explain", closed.position_id, "--store", store]) == 0
    out = capsys.readouterr().out
    assert f"position {closed.position_id}" in out
    assert f"status closed by {closed.exit_rule}" in out
    decisions = table(finished_run, "decisions")
    mine = decisions[decisions.position_id == closed.position_id].sort_values("time")
    assert f"decision history ({len(mine)} cycles" in out
    last = mine.iloc[-1]
    assert f"{last.rule}: {last['reason']}" in out
    verdict_lines = out.split("every rule's verdict at", 1)[1].splitlines()[1:]
    rules = [line.split()[1] for line in verdict_lines if line.strip()]
    assert rules == ["days_to_expiry", "stop_loss", "take_profit"]  # by priority 40, 50, 80
    assert "<= decided" in out


def test_explain_of_an_unknown_position_exits_2_and_lists_recent_ones(finished_run):
    result = subprocess.run(
        [sys.executable, "-m", "v6.cli", "explain", "no-such-position", "--store",
         str(finished_run.store.path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "no decisions stored for position 'no-such-position'" in result.stderr
    assert "most recent positions:" in result.stderr
    assert "Traceback" not in result.stderr


def test_explain_never_mixes_runs_that_shared_an_id_in_an_old_store(tmp_path, capsys):
    """Stores written before ids were unique per store hold one id from several runs:
    explain shows one run's history, says so, and never adds the other's cycles."""
    import pyarrow as pa

    from v6.store.delta_store import DeltaStore

    first = sim_config(tmp_path / "a", days=1)
    second = sim_config(tmp_path / "b", days=1)
    run(first, cycles=8)
    run(second, cycles=8)  # same seed and dates, a fresh store: the same ids
    store = DeltaStore(first.store.path)
    for name in ("positions", "decisions"):
        store.append(name, pa.Table.from_pandas(table(second, name), preserve_index=False))
    store.flush()
    decisions = store.read("decisions")
    shared = decisions.groupby("position_id")["run_id"].nunique()
    position_id = shared[shared == 2].index[0]
    assert main(["explain", position_id, "--store", first.store.path]) == 0
    out = capsys.readouterr().out
    assert "2 runs of this store used this id" in out
    one_run = decisions[decisions.position_id == position_id].groupby("run_id").size()
    assert f"decision history ({one_run.iloc[0]} cycles" in out
