"""Store maintenance: every table compacted in the background, nothing a reader needs deleted.

Real Delta tables in ``tmp_path`` throughout; concurrency is real threads appending while
another compacts, never a mock. No test asserts on elapsed time: "the engine does not
wait" is proved by a maintenance pass that is held open on an event while cycles run.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import attrs
import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake
from sessions import engine_for, sim_config

from v6.config import StoreSettings
from v6.config_loader import load_config
from v6.engine.recorder import Recorder
from v6.errors import ConfigError
from v6.store.delta_store import (
    CHECKPOINT_INTERVAL,
    MAINTENANCE_LOCK,
    DeltaStore,
    Maintenance,
    StoreError,
)
from v6.store.maintenance import StoreMaintenance
from v6.store.schemas import ENGINE_TABLES, OPERATOR_TABLES, TABLES, TableSpec

NOW = datetime(2026, 1, 6, 15, 0, tzinfo=UTC)
HOUR = 3600
GUARD = 60  # seconds: a guard against a hung thread, never an assertion on speed


def sample_rows(spec: TableSpec, n: int, start: int = 0, **fixed: object) -> pa.Table:
    """``n`` valid rows for any table, numbered from ``start`` (``fixed`` pins columns)."""
    columns = {}
    for field in spec.schema:
        kind = field.type
        if field.name in fixed:
            values = [fixed[field.name]] * n
        elif pa.types.is_timestamp(kind):
            values = [NOW + timedelta(seconds=start + i) for i in range(n)]
        elif pa.types.is_date(kind):
            values = [date(2026, 1, 30)] * n
        elif pa.types.is_boolean(kind):
            values = [(start + i) % 2 == 0 for i in range(n)]
        elif pa.types.is_integer(kind):
            values = list(range(start, start + n))
        elif pa.types.is_floating(kind):
            values = [float(start + i) / 2 for i in range(n)]
        else:
            values = [f"{field.name}-{start + i}" for i in range(n)]
        columns[field.name] = pa.array(values, type=kind)
    return pa.table(columns, schema=spec.schema)


def append(store: DeltaStore, table: str, flushes: int, rows: int = 3, **fixed: object) -> None:
    """``flushes`` commits of ``rows`` rows each (one data file per partition each)."""
    for f in range(flushes):
        store.append(table, sample_rows(TABLES[table], rows, start=f * rows, **fixed))
        store.flush([table])


def chain_partitions(store: DeltaStore, flushes: int) -> None:
    """Chain snapshots in two partitions (SPY and QQQ on one day)."""
    for f in range(flushes):
        for symbol in ("SPY", "QQQ"):
            rows = sample_rows(TABLES["chain_snapshots"], 3, start=f * 3, underlying=symbol)
            store.append("chain_snapshots", rows.set_column(2, "date", pa.repeat("2026-01-06", 3)))
        store.flush(["chain_snapshots"])


def content(store: DeltaStore, table: str):
    frame = store.read(table)
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


def data_files(table_root: Path) -> set[Path]:
    return {p for p in table_root.rglob("*.parquet") if "_delta_log" not in p.parts}


def age(path: Path, seconds: float) -> None:
    """Make ``path`` look last modified ``seconds`` ago."""
    then = time.time() - seconds
    os.utime(path, (then, then))


class GatedStore(DeltaStore):
    """A real store whose ``maintain`` waits for ``release`` (to hold a pass open)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.entered = threading.Event()
        self.release = threading.Event()
        self.maintained: list[str] = []

    def maintain(self, table: str) -> Maintenance:
        self.maintained.append(table)
        self.entered.set()
        assert self.release.wait(GUARD), "the test never released the pass"
        return super().maintain(table)


# -- what a pass does -------------------------------------------------------------------


def test_a_pass_compacts_every_table_partitioned_ones_per_partition_and_keeps_every_row(
    tmp_path,
):
    store = DeltaStore(tmp_path)
    for name in TABLES:
        if name == "chain_snapshots":
            chain_partitions(store, 3)
        elif name == "futures_snapshots":  # one partition: one future on one day
            append(store, name, 3, symbol="ES", date="2026-01-06")
        else:
            append(store, name, 3)
    before = {name: content(store, name) for name in TABLES}
    assert store.files("chain_snapshots") == 6 and store.files("orders") == 3

    maintenance = StoreMaintenance(store)
    done = {m.table: m for m in maintenance.run()}

    assert maintenance.errors == []
    # Every table the engine writes, not a chosen few; the dashboard's own tables (which the
    # engine only reads) are never touched by the engine, so a click never races a commit.
    assert set(done) == set(ENGINE_TABLES)
    for name in OPERATOR_TABLES:
        assert store.files(name) == 3 and content(store, name).equals(before[name]), name
    for name in ENGINE_TABLES:
        one_file_per_partition = 2 if name == "chain_snapshots" else 1
        assert done[name].files_after == one_file_per_partition, name
        assert store.files(name) == one_file_per_partition, name
        assert done[name].checkpointed, name
        assert content(store, name).equals(before[name]), name
    partitions = {
        p.parent.relative_to(store.path("chain_snapshots")).as_posix()
        for p in data_files(store.path("chain_snapshots"))
    }
    assert partitions == {"underlying=SPY/date=2026-01-06", "underlying=QQQ/date=2026-01-06"}


def test_tables_checkpoint_their_log_every_few_commits_without_maintenance(tmp_path):
    store = DeltaStore(tmp_path, retention_hours=3)
    append(store, "orders", CHECKPOINT_INTERVAL + 1)
    log = store.path("orders") / "_delta_log"
    assert len(list(log.glob("*.checkpoint.parquet"))) == 1  # Delta's default: none before 100
    configuration = DeltaTable(str(store.path("orders"))).metadata().configuration
    assert configuration["delta.deletedFileRetentionDuration"] == "interval 3 hours"
    assert configuration["delta.logRetentionDuration"] == "interval 3 hours"


def test_the_recorder_gives_a_table_written_before_maintenance_existed_its_properties(tmp_path):
    spec = TABLES["alerts"]
    write_deltalake(str(tmp_path / "alerts"), sample_rows(spec, 2), mode="append")
    assert "delta.checkpointInterval" not in (
        DeltaTable(str(tmp_path / "alerts")).metadata().configuration
    )

    Recorder(DeltaStore(tmp_path), StoreSettings(path=str(tmp_path), retention_hours=5), "r")

    configuration = DeltaTable(str(tmp_path / "alerts")).metadata().configuration
    assert configuration["delta.checkpointInterval"] == str(CHECKPOINT_INTERVAL)
    assert configuration["delta.deletedFileRetentionDuration"] == "interval 5 hours"
    assert len(DeltaStore(tmp_path).read("alerts")) == 2


# -- nothing a reader needs is deleted -----------------------------------------------------


def test_a_reader_of_the_version_before_a_compaction_can_still_read_it_after_the_vacuum(
    tmp_path,
):
    store = DeltaStore(tmp_path)
    append(store, "alerts", 4)
    reader = DeltaTable(str(store.path("alerts")))  # opened before maintenance, as a dashboard
    replaced = data_files(store.path("alerts"))

    result = store.maintain("alerts")

    assert (result.files_before, result.files_after, result.files_deleted) == (4, 1, 0)
    assert replaced <= data_files(store.path("alerts"))  # within the retention window: kept
    assert len(reader.to_pandas(columns=["code"])) == 12  # the old version reads in full
    assert len(store.read("alerts")) == 12


def test_vacuum_deletes_stray_files_older_than_the_retention_and_keeps_fresh_ones(tmp_path):
    store = DeltaStore(tmp_path, retention_hours=1)
    append(store, "alerts", 2)
    chain_partitions(store, 1)
    flat = store.path("alerts")
    partition = store.path("chain_snapshots") / "underlying=SPY" / "date=2026-01-06"
    strays = {
        "old": flat / "part-00000-killed-old.parquet",
        "old in a partition": partition / "part-00000-killed-old.parquet",
        "fresh": flat / "part-00000-being-written.parquet",
    }
    for path in strays.values():
        path.write_bytes(b"PAR1 torn write")
    age(strays["old"], 2 * HOUR)
    age(strays["old in a partition"], 2 * HOUR)
    age(strays["fresh"], 0.5 * HOUR)  # e.g. an append writing right now: inside the window

    deleted = store.vacuum("alerts") + store.vacuum("chain_snapshots")

    assert deleted == 2
    assert not strays["old"].exists() and not strays["old in a partition"].exists()
    assert strays["fresh"].exists()
    assert len(store.read("alerts")) == 6 and len(store.read("chain_snapshots")) == 6


def test_log_files_past_the_retention_go_once_a_checkpoint_covers_them(tmp_path):
    store = DeltaStore(tmp_path, retention_hours=1)
    append(store, "fills", 25)
    log = store.path("fills") / "_delta_log"
    for path in log.iterdir():
        age(path, 2 * HOUR)
    latest = store.version("fills")

    result = store.maintain("fills")

    assert result.checkpointed and result.log_files_deleted > 0
    kept = sorted(int(p.name[:20]) for p in log.glob("*.json"))
    assert kept[0] >= latest  # everything before the new checkpoint went
    assert store.version("fills") == latest + 1  # the compaction's commit
    assert len(store.read("fills")) == 75


# -- off the critical path ---------------------------------------------------------------


def overlapped(store: DeltaStore, table: str, last: int | None = None) -> bool:
    """True once a compaction and an append of ``table`` truly ran at the same time.

    A compaction that read version v and committed later than v + 1 had appends commit
    while it worked; an append with retries lost the race for a version to one. ``last``
    limits the look to the latest commits.
    """
    for commit in DeltaTable(str(store.path(table))).history(last):
        if commit["operation"] == "OPTIMIZE" and commit["version"] > commit["readVersion"] + 1:
            return True
        if commit["operation"] == "WRITE" and commit["operationMetrics"].get("num_retries"):
            return True
    return False


def test_compaction_beside_real_concurrent_appends_loses_no_row_and_fails_nothing(tmp_path):
    store = DeltaStore(tmp_path)
    tables = ("orders", "chain_snapshots")
    append(store, "orders", 2)
    chain_partitions(store, 2)
    stop = threading.Event()
    errors: list[BaseException] = []

    def maintain_until_stopped() -> None:
        while not stop.is_set():
            for table in tables:
                try:
                    store.maintain(table)
                except BaseException as exc:  # reported by the assertion below
                    errors.append(exc)

    worker = threading.Thread(target=maintain_until_stopped)
    worker.start()
    flushes = 2
    seen: set[str] = set()
    try:
        # The engine thread appends as it always does, until a compaction of each table
        # demonstrably overlapped an append (a bound keeps a broken build from spinning).
        while flushes < 300 and seen != set(tables):
            store.append("orders", sample_rows(TABLES["orders"], 3, start=flushes * 3))
            chain_partitions(store, 1)
            store.flush(["orders"])
            flushes += 1
            if flushes % 5 == 0:
                seen |= {t for t in tables if t not in seen and overlapped(store, t, 20)}
    finally:
        stop.set()
        worker.join(GUARD)

    assert errors == []
    assert overlapped(store, "orders") and overlapped(store, "chain_snapshots")
    orders = store.read("orders")
    assert sorted(orders["quantity"]) == list(range(3 * flushes))  # every row exactly once
    assert len(store.read("chain_snapshots")) == 6 * flushes
    assert store.maintain("orders").files_after == 1


def test_two_maintenances_racing_on_one_table_never_store_a_row_twice(tmp_path):
    """delta-rs 1.6 commits two simultaneous compactions of one table, each rewriting
    every row; the store's per-table lock lets only one of them run."""
    stores = [DeltaStore(tmp_path), DeltaStore(tmp_path)]  # e.g. an engine and `maintain`

    def race(store: DeltaStore, start: threading.Barrier, results: list[Maintenance]) -> None:
        start.wait(GUARD)
        results.append(store.maintain("orders"))

    for round_ in range(1, 4):
        append(stores[0], "orders", 10, rows=100)  # quantities 0..999 once more
        start = threading.Barrier(2)
        results: list[Maintenance] = []
        racers = [threading.Thread(target=race, args=(s, start, results)) for s in stores]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join(GUARD)

        assert len(results) == 2
        counts = stores[1].read("orders")["quantity"].value_counts()
        assert len(counts) == 1000 and (counts == round_).all(), f"round {round_}"
        assert stores[0].files("orders") == 1


def test_maintenance_leaves_a_table_alone_while_another_process_holds_its_lock(tmp_path):
    store = DeltaStore(tmp_path)
    append(store, "orders", 3)
    with open(store.path("orders") / MAINTENANCE_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # as another process's maintenance would

        assert store.maintain("orders").skipped
        with pytest.raises(StoreError, match="another maintenance holds"):
            store.compact("orders")
        assert store.files("orders") == 3

    assert not store.maintain("orders").skipped  # a dead holder's lock is gone with it
    assert store.files("orders") == 1


def test_an_engine_cycle_never_waits_for_a_maintenance_pass(tmp_path):
    cfg = sim_config(tmp_path / "data", days=1)
    cfg = attrs.evolve(
        cfg, store=attrs.evolve(cfg.store, flush_every_cycles=1, compact_every_flushes=1)
    )
    engine, clock = engine_for(cfg)
    gated = GatedStore(Path(cfg.store.path))
    engine.recorder = Recorder(gated, cfg.store, "gated-run")
    maintenance = engine.recorder.maintenance

    engine.run_cycle(clock.next_cycle())  # its flush starts a pass, which blocks in table 1
    assert gated.entered.wait(GUARD)
    for _ in range(3):
        engine.run_cycle(clock.next_cycle())  # each flush asks for a pass and returns
        assert maintenance.running and not gated.release.is_set()

    assert gated.maintained == ["chain_snapshots"]  # one pass, still on its first table
    assert maintenance.passes == 0
    assert len(gated.read("account_snapshots")) == 4  # the cycles wrote while it ran
    gated.release.set()
    assert engine.recorder.close(GUARD)
    assert maintenance.passes == 1 and not maintenance.running


def test_close_stops_a_running_pass_after_the_table_it_is_on(tmp_path):
    gated = GatedStore(tmp_path)
    append(gated, "orders", 3)
    maintenance = StoreMaintenance(gated)
    assert maintenance.start()
    assert gated.entered.wait(GUARD)
    assert not maintenance.start()  # one pass at a time

    assert not maintenance.close(timeout=0)  # asked to stop; still on its table
    gated.release.set()
    assert maintenance.wait(GUARD)

    assert gated.maintained == ["chain_snapshots"]  # no table after the one it was on
    assert not maintenance.start()  # closed for good
    assert gated.files("orders") == 3  # untouched, readable
    assert len(gated.read("orders")) == 9


def test_an_exiting_process_finishes_the_running_pass_first(tmp_path):
    """Nobody calls close: the interpreter still waits, so no pass is cut off at exit."""
    append(DeltaStore(tmp_path), "alerts", 5)
    script = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from v6.store.delta_store import DeltaStore
        from v6.store.maintenance import StoreMaintenance

        class SlowStore(DeltaStore):
            def maintain(self, table):
                time.sleep(0.5)  # still running when the main thread ends
                result = super().maintain(table)
                Path({str(tmp_path / "done")!r}).write_text(str(result.files_after))
                return result

        StoreMaintenance(SlowStore({str(tmp_path)!r}), tables=["alerts"]).start()
        """
    )
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=GUARD)

    assert child.returncode == 0, child.stderr.decode()
    assert (tmp_path / "done").read_text() == "1"
    assert DeltaStore(tmp_path).files("alerts") == 1


def kill_mid_compaction(root: Path) -> bool:
    """Compact ``alerts`` in a child process and SIGKILL it while it writes the new file.

    Returns True when the kill landed before the compaction committed.
    """
    table = root / "alerts"
    before = data_files(table)
    script = (
        f"from v6.store.delta_store import DeltaStore; DeltaStore({str(root)!r}).compact('alerts')"
    )
    child = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + GUARD
        while time.monotonic() < deadline and child.poll() is None:
            if data_files(table) - before:  # the compacted file is being written
                child.send_signal(signal.SIGKILL)
                break
            time.sleep(0.0005)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL, "the compaction finished before the kill"
    return DeltaStore(root).files("alerts") == len(before)


def test_a_process_killed_mid_compaction_leaves_the_table_readable_and_whole(tmp_path):
    for attempt in range(3):  # the commit can win the race with the kill; try again
        root = tmp_path / f"attempt{attempt}"
        store = DeltaStore(root)
        for f in range(20):
            store.append("alerts", sample_rows(TABLES["alerts"], 20_000, start=f * 20_000))
            store.flush()
        if kill_mid_compaction(root):
            break
    else:
        pytest.fail("never killed the compaction between writing its file and committing")

    store = DeltaStore(root)
    assert store.files("alerts") == 20  # the version before the compaction, intact
    assert sorted(store.read("alerts", columns=["code"])["code"]) == sorted(
        f"code-{i}" for i in range(400_000)
    )
    torn = data_files(store.path("alerts")) - {
        store.path("alerts") / Path(uri).name
        for uri in DeltaTable(str(store.path("alerts"))).file_uris()
    }
    assert torn  # the half-written output, which no commit refers to
    for path in torn:
        age(path, 2 * HOUR)
    assert store.maintain("alerts").files_after == 1  # the next pass redoes the work
    assert not any(path.exists() for path in torn)
    assert len(store.read("alerts", columns=["code"])) == 400_000


# -- settings ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "1.5", "-2"])
def test_a_retention_below_one_whole_hour_is_a_config_error(tmp_path, value):
    path = tmp_path / "v6.yaml"
    path.write_text(f"store:\n  retention_hours: {value}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_config(path, environ={})
    assert error.value.path == "store.retention_hours"


# -- readers beside a log clean-up -----------------------------------------------------

_CLEANING_WRITER = textwrap.dedent(
    """
    import os, sys, time
    import pyarrow as pa
    sys.path.insert(0, sys.argv[2])
    from test_store_maintenance import append, age
    from v6.store.delta_store import DeltaStore

    store = DeltaStore(sys.argv[1], retention_hours=1)
    deleted = 0
    for _ in range(int(sys.argv[3])):
        append(store, "fills", 1)
        log = store.path("fills") / "_delta_log"
        for path in list(log.iterdir()):
            try:
                age(path, 2 * 3600)  # as if written hours ago: every clean-up deletes
            except FileNotFoundError:
                pass
        deleted += store.checkpoint("fills")[1]
        time.sleep(0.02)  # a clean-up per commit is already far more than any real table
    print(deleted)
    """
)


def test_a_reader_beside_a_log_clean_up_never_takes_the_table_for_damaged(tmp_path):
    # A checkpoint's clean-up deletes the previous checkpoint and the commits before it;
    # a reader that listed the log a moment earlier opens a file that is gone. That is an
    # old snapshot, not damage: the reader looks again (it used to exit 6, "move it aside").
    store = DeltaStore(tmp_path, retention_hours=1)
    append(store, "fills", 3)
    writer = subprocess.Popen(
        [sys.executable, "-c", _CLEANING_WRITER, str(tmp_path), str(Path(__file__).parent), "150"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    reads = 0
    while writer.poll() is None:
        assert len(store.read("fills")) >= 9
        store.verify("fills")
        reads += 1
    out, err = writer.communicate(timeout=GUARD)
    assert writer.returncode == 0, err
    assert int(out) > 0 and reads > 0  # the clean-ups really ran beside the reads
