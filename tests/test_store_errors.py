"""A store that is missing, not a store, damaged, read-only or full is reported in one line.

Readers (``v6 explain``, ``v6 breaker``) refuse a path that holds no store (exit status 2);
a damaged table is named and never read as empty nor replaced (exit status 6), by readers
and by ``v6 run`` alike; a store that cannot be written is refused before delta-rs tries,
whose failed writes print a Rust panic (exit status 1). The commands run as real
processes: what is asserted is what a user sees on the terminal.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sessions import run, sim_config

from v6.cli import main
from v6.store import disk
from v6.store.delta_store import DeltaStore, StoreError
from v6.store.integrity import DamagedTableError
from v6.store.writer_lock import LOCK_FILE

V6 = str(Path(sys.executable).with_name("v6"))
# The embedded defaults with no bad data in the simulated feed (sim.bad_data all 0).
CLEAN_FEED = (
    "sim:\n  bad_data: {stale_underlying: 0, missing_strike: 0, crossed_quote: 0, "
    "wide_quote: 0, zero_iv: 0, nan_greeks: 0}\n"
)
# Set on purpose: delta-rs then appends a Rust backtrace to its error messages, and a
# panic prints one; neither may reach the user.
ENV = {**os.environ, "RUST_BACKTRACE": "1"}


def v6(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [V6, *args], capture_output=True, text=True, env=ENV, cwd=cwd, timeout=120
    )


def assert_one_line(result: subprocess.CompletedProcess[str], status: int, *fragments: str):
    """Exit ``status`` and one ``v6:`` line on stderr holding every fragment."""
    err = result.stderr
    assert "Traceback" not in err and "panicked" not in err, err
    assert result.returncode == status, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("v6: "), err
    for fragment in fragments:
        assert fragment in lines[0], err
    return lines[0]


@pytest.fixture(scope="module")
def base_store(tmp_path_factory) -> Path:
    """A real store: 30 simulated cycles, and a breaker reset (so breaker_events exists)."""
    path = tmp_path_factory.mktemp("base") / "data"
    run(sim_config(path, days=1), cycles=30)
    assert main(["breaker", "reset", "daily_loss", "--store", str(path)]) == 0
    return path


@pytest.fixture
def store(base_store, tmp_path) -> Path:
    """A private copy of the base store, to damage."""
    copy = tmp_path / "data"
    shutil.copytree(base_store, copy)
    return copy


def a_position(store: Path) -> str:
    return DeltaStore(store).read("positions", columns=["position_id"])["position_id"].iloc[0]


def commit_files(table: Path) -> list[Path]:
    return sorted((table / "_delta_log").glob("*.json"))


def data_files(table: Path) -> list[Path]:
    return sorted(p for p in table.rglob("*.parquet") if "_delta_log" not in p.parts)


def truncate(path: Path) -> bytes:
    """Cut a file in half; returns what is left."""
    data = path.read_bytes()[: path.stat().st_size // 2]
    path.write_bytes(data)
    return data


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` and its content (the writer lock's holder aside)."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != LOCK_FILE
    }


# -- damaged tables --------------------------------------------------------------------


def test_explain_with_a_missing_data_file_names_the_table_in_one_line(store):
    position = a_position(store)
    missing = data_files(store / "decisions")[0]
    missing.unlink()
    # Reading through delta-rs's Python file system, a failed read left Arrow threads
    # that aborted the exiting process now and then (status 134): ask three times.
    for _ in range(3):
        line = assert_one_line(v6("explain", position, "--store", str(store)), 6)
        assert "table 'decisions'" in line and missing.name in line
        assert "restore" in line and "move it aside" in line


def test_explain_with_a_garbled_data_file_names_the_table_in_one_line(store):
    position = a_position(store)
    # Every file: a filtered read skips files whose statistics rule the position out.
    garbled = data_files(store / "positions")
    for path in garbled:
        path.write_bytes(b"not parquet" * 100)
    assert_one_line(v6("explain", position, "--store", str(store)), 6, "table 'positions'")
    assert all(path.read_bytes() == b"not parquet" * 100 for path in garbled)


def test_breaker_status_with_a_truncated_commit_names_the_table_in_one_line(store):
    left = truncate(commit_files(store / "breaker_events")[-1])
    result = v6("breaker", "status", "--store", str(store))
    assert_one_line(result, 6, "table 'breaker_events'", "damaged")
    assert result.stdout == ""  # never a list of breakers that all look ok
    assert commit_files(store / "breaker_events")[-1].read_bytes() == left


def newest_commit_read(store: Path, table: str) -> Path:
    """The table's newest commit, with the checkpoints that would let Delta skip reading
    it removed: a checkpoint is an optional summary of the log before it, and a damaged
    commit under one is never read (nor needed). Which commit a run's last flush lands
    on depends on the market, so the test must not."""
    log = store / table / "_delta_log"
    for summary in [*log.glob("*.checkpoint*.parquet"), log / "_last_checkpoint"]:
        summary.unlink(missing_ok=True)
    return commit_files(store / table)[-1]


def test_run_with_a_truncated_commit_refuses_to_start_and_writes_nothing(store):
    truncate(newest_commit_read(store, "positions"))
    before = snapshot(store)
    result = v6("run", "--store", str(store), "--cycles", "1")
    assert_one_line(result, 6, "table 'positions'", "damaged")
    assert snapshot(store) == before


@pytest.mark.parametrize("log", ["removed", "emptied"])
def test_run_on_a_table_without_its_log_refuses_and_never_starts_a_fresh_one(store, log):
    orders = store / "orders"
    shutil.rmtree(orders / "_delta_log")
    if log == "emptied":
        (orders / "_delta_log").mkdir()
    before = snapshot(store)
    result = v6("run", "--store", str(store), "--cycles", "1")
    line = assert_one_line(result, 6, "table 'orders'", "data file(s)", "_delta_log")
    assert str(orders) in line
    assert snapshot(store) == before
    assert not commit_files(orders)


def test_a_table_replaced_by_a_file_is_damaged_for_readers_and_run(store):
    events = store / "breaker_events"
    shutil.rmtree(events)
    events.write_text("not a table")
    assert_one_line(v6("breaker", "status", "--store", str(store)), 6, "is a file")
    assert_one_line(v6("breaker", "reset", "daily_loss", "--store", str(store)), 6)
    assert_one_line(v6("run", "--store", str(store), "--cycles", "1"), 6, "breaker_events")
    assert events.read_text() == "not a table"


def test_breaker_reset_never_appends_to_a_damaged_table(store):
    truncate(data_files(store / "breaker_events")[-1])
    before = snapshot(store)
    result = v6("breaker", "reset", "daily_loss", "--store", str(store))
    assert_one_line(result, 6, "table 'breaker_events'", "bytes, the log says")
    assert snapshot(store) == before


def test_a_table_with_data_but_no_log_is_never_read_as_empty(store):
    shutil.rmtree(store / "fills" / "_delta_log")
    with pytest.raises(DamagedTableError) as damaged:
        DeltaStore(store).read("fills")
    assert damaged.value.exit_status == 6
    assert damaged.value.table == "fills"


# -- how tables are made ---------------------------------------------------------------


def test_a_table_is_created_by_an_empty_commit_before_any_data_is_written(tmp_path):
    """So data files without a commit always mean a lost log, never a first write that
    was killed before it committed (which would otherwise look the same)."""
    store = DeltaStore(tmp_path)
    store.append("runs", [run_row()])
    store.flush()
    first = (tmp_path / "runs" / "_delta_log" / f"{0:020d}.json").read_text()
    assert '"add"' not in first and '"metaData"' in first
    assert len(store.read("runs")) == 1


def test_a_creation_killed_before_its_commit_leaves_a_table_that_reads_empty(tmp_path):
    log = tmp_path / "runs" / "_delta_log"
    log.mkdir(parents=True)
    (log / "_commit_torn.json.tmp").write_text("{")
    store = DeltaStore(tmp_path)
    assert store.read("runs").empty
    store.append("runs", [run_row()])
    store.flush()
    assert len(store.read("runs")) == 1


def run_row() -> dict:
    from datetime import UTC, datetime

    return {
        "time": datetime(2026, 1, 5, 15, tzinfo=UTC),
        "run_id": "r1",
        "mode": "sim",
        "config": "",
        "seed": 1,
        "event": "start",
        "message": "",
    }


# -- paths that hold no store ----------------------------------------------------------


def test_breaker_reset_on_a_path_that_does_not_exist_creates_nothing(tmp_path):
    typo = tmp_path / "typo"
    result = v6("breaker", "reset", "daily_loss", "--store", str(typo))
    assert_one_line(result, 2, f"store {typo} does not exist", "--store")
    assert not typo.exists()


@pytest.mark.parametrize("kind", ["missing", "file", "empty directory", "other directory"])
@pytest.mark.parametrize("command", [["breaker", "status"], ["explain", "some-position"]])
def test_readers_refuse_a_path_that_holds_no_store(tmp_path, kind, command, capsys):
    path = tmp_path / "store"
    if kind == "file":
        path.write_text("a file")
    elif kind == "empty directory":
        path.mkdir()
    elif kind == "other directory":
        path.mkdir()
        (path / "notes.txt").write_text("not a store")
    assert main([*command, "--store", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith((f"v6: store {path} ", f"v6: {path} is not a V6 store")), lines


def test_run_refuses_a_store_path_that_is_a_file(tmp_path, capsys):
    path = tmp_path / "data"
    path.write_text("a file")
    assert main(["run", "--store", str(path), "--cycles", "1"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"v6: store {path} is a file, not a directory; give --store (or store.path) a "
        "directory, or a path that does not exist yet for a new store"
    )
    assert path.read_text() == "a file"


# -- stores that cannot be written -----------------------------------------------------


def _as_root() -> bool:
    return os.geteuid() == 0


def _unshare_works() -> bool:
    if not _as_root() or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "true"], capture_output=True
    )
    return probe.returncode == 0


def _in_private_mount(setup: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``v6 args`` in a mount namespace of its own after the shell ``setup``.

    The mounts vanish with the process: nothing to clean up, nothing seen outside.
    """
    script = f'{setup} && exec "$@"'
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", V6, *args],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
    )


def test_breaker_reset_on_a_read_only_store_is_one_line_without_a_rust_panic(store):
    before = snapshot(store)
    args = ("breaker", "reset", "daily_loss", "--store", str(store))
    if _as_root():
        if not _unshare_works():
            pytest.skip("as root, a read-only store needs a read-only mount (unshare)")
        s = str(store)
        result = _in_private_mount(f"mount --bind {s} {s} && mount -o remount,bind,ro {s}", *args)
        fragment = "read-only file system"
    else:
        for path in [store, *store.rglob("*")]:
            if path.is_dir():
                path.chmod(0o555)
        try:
            result = v6(*args)
        finally:
            for path in [store, *store.rglob("*")]:
                if path.is_dir():
                    path.chmod(0o755)
        fragment = "no permission to write"
    assert_one_line(result, 1, "table 'breaker_events'", fragment)
    assert snapshot(store) == before


def test_run_on_a_full_disk_is_one_line_without_a_rust_panic(tmp_path):
    if not _unshare_works():
        pytest.skip("needs root and unshare to mount a small tmpfs")
    store = tmp_path / "tiny"
    store.mkdir()
    # A clean simulated feed (the gate's warnings about bad quotes would be lines too), and
    # the disk_space breaker disarmed: it would trip at once here (an alert line of its own,
    # entries stopped: tests/test_disk_space.py); this is the store's own refusal alone.
    config = tmp_path / "clean.yaml"
    config.write_text(CLEAN_FEED + "breakers:\n  min_free_disk_mb: 0\n")
    # 2 MiB: room for the lock and the first small tables, not for a flush of chains.
    result = _in_private_mount(
        f"mount -t tmpfs -o size=2m tmpfs {store}",
        *("run", "--config", str(config), "--store", str(store), "--cycles", "60"),
    )
    line = assert_one_line(result, 1, "not enough space left on the device", "free some space")
    assert f"{store}" in line


def test_a_flush_that_would_not_fit_is_refused_and_its_rows_stay_pending(tmp_path, monkeypatch):
    store = DeltaStore(tmp_path)
    store.append("runs", [run_row()])
    real = os.statvfs

    class Full:
        def __init__(self, stats: os.statvfs_result) -> None:
            self.f_flag = stats.f_flag
            self.f_frsize = stats.f_frsize
            self.f_bavail = 10  # blocks: tens of KiB

    monkeypatch.setattr(disk.os, "statvfs", lambda path: Full(real(path)))
    with pytest.raises(StoreError, match="not enough space left on the device of"):
        store.flush()
    assert store.pending("runs") == 1
    assert not (tmp_path / "runs").exists()
    monkeypatch.undo()
    assert store.flush() == {"runs": 1}


@pytest.mark.parametrize(
    ("error", "problem"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), "no space left on the device"),
        (
            Exception(
                "Generic LocalFileSystem error: Unable to copy data to file: "
                "No space left on device (os error 28)"
            ),
            "no space left on the device",
        ),
        (Exception("Unable to open file x: Permission denied (os error 13)"), "permission"),
        (Exception("Read-only file system (os error 30)"), "the file system is read-only"),
        (Exception("Kernel error: Json error: Truncated record"), None),
    ],
)
def test_the_errors_of_a_full_or_read_only_disk_are_recognised_through_delta_rs(error, problem):
    found = disk.os_problem(error)
    assert found == problem or (problem is not None and found is not None and problem in found)
