"""``v6 backup`` while ``v6 run`` writes in another process, ``v6 restore`` and its refusals,
and ``v6 store info | optimize | vacuum``: real processes, real tables on disk."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from v6_process import slow_config, start_run, v6

from v6.store.delta_store import DeltaStore
from v6.store.schemas import TABLES


@pytest.fixture(scope="module")
def taken(tmp_path_factory) -> dict:
    """A backup taken mid-run; the run's store afterwards; a restore refused while it ran."""
    base = tmp_path_factory.mktemp("backup")
    live = base / "live"
    run = start_run(live, "--config", slow_config(base), "--cycles", "400")
    try:
        run.wait_for_cycles(25)  # past the first flushes (every 20 cycles)
        done = v6("backup", "--store", str(live), str(base / "b1"), cwd=base)
        assert done.returncode == 0, done.stderr
        refused = v6("restore", str(base / "b1"), "--store", str(live), "--force", cwd=base)
        run.wait_for_cycles(60)  # the engine kept writing after the backup
    finally:
        run.send_signal(2)
        run.finish()
    assert run.returncode == 0
    return {"base": base, "live": live, "backup": base / "b1", "refused": refused}


def manifest(backup: Path) -> dict:
    return json.loads((backup / "manifest.json").read_text())


def test_a_backup_taken_during_a_run_is_every_table_at_a_pinned_version(taken):
    tables = manifest(taken["backup"])["tables"]
    assert {"orders", "positions", "chain_snapshots", "runs", "heartbeat"} <= set(tables)
    live = DeltaStore(taken["live"])
    moved_on = 0
    for name, entry in tables.items():
        copy = DeltaStore(taken["backup"])
        assert copy.version(name) == entry["version"]  # no commit after the pinned one
        assert len(copy.read(name)) == entry["rows"]
        assert live.version(name) >= entry["version"]
        moved_on += live.version(name) > entry["version"]
        for relative, facts in entry["files"].items():
            assert len(facts["sha256"]) == 64 and facts["bytes"] > 0, relative
    assert moved_on > 0  # the run committed after the backup: the copy is of one moment


def test_restore_refuses_a_store_a_running_engine_holds_even_with_force(taken):
    refused = taken["refused"]
    assert refused.returncode == 5
    assert "in use by another V6 session" in refused.stderr


def test_restore_verifies_then_every_table_reads_back(taken, tmp_path):
    target = tmp_path / "new-server" / "store"
    done = v6("restore", str(taken["backup"]), "--store", str(target), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "every checksum matches" in done.stdout
    restored = DeltaStore(target)
    for name, entry in manifest(taken["backup"])["tables"].items():
        frame = restored.read(name)
        assert len(frame) == entry["rows"], name
        assert list(frame.columns) == TABLES[name].schema.names
    # The restored store is a store: a new session continues on it.
    again = v6("run", "--store", str(target), "--cycles", "2", cwd=tmp_path)
    assert again.returncode == 0, again.stderr


def test_restore_refuses_an_existing_store_without_force_and_keeps_it_with_force(taken, tmp_path):
    target = tmp_path / "store"
    first = v6("restore", str(taken["backup"]), "--store", str(target), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    again = v6("restore", str(taken["backup"]), "--store", str(target), cwd=tmp_path)
    assert again.returncode == 2
    assert "already holds a V6 store" in again.stderr and "--force" in again.stderr
    forced = v6("restore", str(taken["backup"]), "--store", str(target), "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("store.before-restore-")]
    assert len(kept) == 1 and (kept[0] / "orders").is_dir()


def test_a_damaged_backup_is_refused_before_the_target_is_touched(taken, tmp_path):
    damaged = tmp_path / "damaged"
    shutil.copytree(taken["backup"], damaged)
    entry = manifest(damaged)["tables"]["orders"]
    victim = next(r for r in entry["files"] if r.endswith(".parquet"))
    path = damaged / "orders" / victim
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    target = tmp_path / "store"
    done = v6("restore", str(damaged), "--store", str(target), cwd=tmp_path)
    assert done.returncode == 6
    assert "does not match its checksum" in done.stderr and victim in done.stderr
    assert not target.exists()


def test_a_backup_never_overwrites(taken):
    done = v6("backup", "--store", str(taken["live"]), str(taken["backup"]), cwd=taken["base"])
    assert done.returncode == 2
    assert "exists and is not empty" in done.stderr


def test_store_info_optimize_and_vacuum(taken, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(taken["live"], store)
    before = json.loads(v6("store", "info", "--json", "--store", str(store), cwd=tmp_path).stdout)
    by_name = {t["table"]: t for t in before}
    reader = DeltaStore(store)
    for name, facts in by_name.items():
        assert facts["rows"] == len(reader.read(name)), name
        assert facts["version"] == reader.version(name)
        assert facts["files"] == reader.files(name) and facts["bytes"] > 0
    optimized = v6("store", "optimize", "--store", str(store), cwd=tmp_path)
    assert optimized.returncode == 0, optimized.stderr
    assert "positions: z-ordered by position_id" in optimized.stdout
    after = {
        t["table"]: t
        for t in json.loads(
            v6("store", "info", "--json", "--store", str(store), cwd=tmp_path).stdout
        )
    }
    for name, facts in after.items():
        assert facts["rows"] == by_name[name]["rows"]
        assert facts["files"] <= by_name[name]["files"]
    assert after["orders"]["files"] < by_name["orders"]["files"]
    text = v6("store", "info", "--store", str(store), cwd=tmp_path)
    assert text.stdout.splitlines()[0].split() == [
        "TABLE",
        "VERSION",
        "FILES",
        "ROWS",
        "SIZE",
        "ON",
        "DISK",
    ]
    unsafe = v6("store", "vacuum", "--retain", "0", "--store", str(store), cwd=tmp_path)
    assert unsafe.returncode == 2 and "--retain 0: must be 1 to 8760 hours" in unsafe.stderr
    safe = v6("store", "vacuum", "--retain", "1", "--store", str(store), cwd=tmp_path)
    assert safe.returncode == 0, safe.stderr
    assert "kept 1 h of history" in safe.stdout
