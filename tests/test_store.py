"""The Delta store keeps every fact the engine records, exactly, and survives a crash."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import attrs
import numpy as np
import pyarrow as pa
import pytest
from builders import EXPIRY, NOW, chain, contract, iron_condor
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import DeltaError

from v6.domain.account import AccountSnapshot
from v6.domain.alerts import Alert, Severity
from v6.domain.decisions import DecisionRecord, ExitAction, Regime, RegimeReading
from v6.domain.orders import ComboOrder, Fill, OrderIntent, OrderState, OrderStatus
from v6.domain.positions import Position, PositionStatus
from v6.errors import V6Error
from v6.store import rows
from v6.store.delta_store import DeltaStore
from v6.store.schemas import ENTRIES, TABLES

RUN = "run-1"
LATER = NOW + timedelta(minutes=15)


def stamped(*records: dict) -> list[dict]:
    """Rows as the recorder appends them: with the run id."""
    return [{**r, "run_id": RUN} for r in records]


def records(frame) -> list[dict]:
    """A read frame back as plain Python values (None for nulls, aware datetimes)."""
    return pa.Table.from_pandas(frame, preserve_index=False).to_pylist()


def commits(store: DeltaStore, table: str) -> int:
    """Commits that appended rows: every commit after the empty one that created the table."""
    log = store.path(table) / "_delta_log"
    return max(0, len(list(log.glob("*.json"))) - 1) if log.exists() else 0


def data_files_on_disk(path: Path) -> int:
    return sum(1 for p in path.rglob("*.parquet") if "_delta_log" not in p.parts)


# -- real domain records -------------------------------------------------------------


def condor_order() -> ComboOrder:
    return ComboOrder(
        order_ref="ic-1:open",
        position_id="ic-1",
        strategy="iron_condor",
        underlying="SPY",
        intent=OrderIntent.OPEN,
        legs=iron_condor(),
        quantity=2,
        limit_price=-1.40,
        created_at=NOW,
    )


def order_states() -> list[OrderState]:
    return [
        OrderState("ic-1:open", OrderStatus.SUBMITTED, 0, 2, None, NOW, "B17", -1.40),
        OrderState("ic-1:open", OrderStatus.FILLED, 2, 0, -1.42, LATER, "B17", None, "done"),
    ]


def condor_fills() -> list[Fill]:
    prices = (0.50, 1.20, 1.10, 0.40)
    return [
        Fill(f"x{i}", "ic-1:open", leg.contract, leg.ratio * 2, p, 1.30, LATER)
        for i, (leg, p) in enumerate(zip(iron_condor(), prices, strict=True))
    ]


def condor(status: PositionStatus, **changes) -> Position:
    values = dict(
        position_id="ic-1",
        strategy="iron_condor",
        underlying="SPY",
        structure="iron_condor",
        legs=iron_condor(),
        quantity=2,
        entry_price=-1.40,
        opened_at=NOW,
        status=status,
        max_profit=280.0,
        max_loss=720.0,
    )
    return Position(**(values | changes))


def test_every_table_round_trips_real_domain_records(tmp_path):
    store = DeltaStore(tmp_path)
    order = condor_order()
    fills = condor_fills()
    open_condor = condor(PositionStatus.OPEN, commissions=5.2)
    closed = condor(
        PositionStatus.CLOSED,
        quantity=0,
        closed_at=LATER,
        exit_price=0.35,
        realized_pnl=205.8,
        commissions=10.4,
    )
    decision = DecisionRecord(
        LATER,
        "ic-1",
        "take_profit",
        3,
        ExitAction.CLOSE,
        "75% of max profit",
        {"pnl_fraction": 0.75, "dte": 24},
    )
    account = AccountSnapshot(LATER, 100_205.8, 100_210.0, 95_000.0, 720.0, 205.8, 4.2, 10.4)
    alert = Alert(LATER, Severity.WARNING, "stop_loss", "plugin_error", "boom")
    reading = RegimeReading("SPY", Regime.HIGH_VOL, "vix above 25", {"vix": 27.5})
    expected = {
        "orders": stamped(*(rows.order_row(order, s) for s in order_states())),
        "fills": stamped(*(rows.fill_row(f, "ic-1", "iron_condor") for f in fills)),
        "positions": stamped(rows.position_row(open_condor, NOW), rows.position_row(closed, LATER)),
        "decisions": stamped(rows.decision_row(decision)),
        "account_snapshots": stamped(rows.account_row(account)),
        "alerts": stamped(rows.alert_row(alert)),
        "regimes": stamped(rows.regime_row(LATER, reading, "volatility_regime")),
        "data_quality": stamped(
            {
                "time": NOW,
                "underlying": "SPY",
                "reason": "crossed",
                "count": 3,
                "sample": "SPY 20260130 95P",
            }
        ),
        "entries": stamped(
            {
                "time": NOW,
                "strategy": "iron_condor",
                "underlying": "SPY",
                "structure": "iron_condor",
                "outcome": "accepted",
                "reason": "",
                "order_ref": "ic-1:open",
                "net_price": -1.40,
                "max_loss": 720.0,
            },
            {
                "time": NOW,
                "strategy": "bull_put_spread",
                "underlying": "SPY",
                "structure": "bull_put_spread",
                "outcome": "rejected",
                "reason": "max loss",
                "order_ref": None,
                "net_price": None,
                "max_loss": None,
            },
        ),
        "runs": stamped(
            {
                "time": NOW,
                "mode": "sim",
                "config": "mode: sim\n",
                "seed": 7,
                "event": "start",
                "message": "",
            }
        ),
    }
    for table, table_rows in expected.items():
        store.append(table, table_rows)
    store.close()

    for table, table_rows in expected.items():
        frame = store.read(table)
        assert list(frame.columns) == TABLES[table].schema.names
        assert records(frame.sort_values("time", kind="stable")) == table_rows, table

    # Nested values come back as the domain values they were.
    orders = store.read("orders")
    assert {rows.legs_from_json(s) for s in orders["legs"]} == {order.legs}
    assert json.loads(store.read("decisions")["inputs"][0]) == dict(decision.inputs)
    assert json.loads(store.read("regimes")["inputs"][0]) == {"vix": 27.5}
    assert rows.positions_from_frame(store.read("positions")) == [closed]
    assert store.read("fills")["cash_flow"].sum() == pytest.approx(sum(f.cash_flow for f in fills))
    assert set(store.read("alerts")["severity"]) == {"warning"}


def test_chain_snapshot_keeps_every_option_including_rejected_nan_quotes(tmp_path):
    c = chain()
    iv = c.iv.copy()
    iv[3] = np.nan  # a NaN Greek as IB sends it, rejected by the quality gate
    valid = np.ones(len(c), bool)
    valid[3] = False
    c = attrs.evolve(c, iv=iv, valid=valid)
    store = DeltaStore(tmp_path)
    table = rows.chain_table(c)
    store.append("chain_snapshots", table.append_column("run_id", pa.repeat(RUN, len(c))))
    store.flush()

    frame = store.read("chain_snapshots")
    order = np.lexsort((c.strike, ~c.is_call))
    got = frame.sort_values(["right", "strike"])  # calls first, as the lexsort orders
    assert len(frame) == len(c)
    np.testing.assert_array_equal(got["strike"], c.strike[order])
    np.testing.assert_array_equal(got["bid"], c.bid[order])
    np.testing.assert_array_equal(got["delta"], c.delta[order])
    np.testing.assert_array_equal(got["iv"], c.iv[order])  # NaN stays NaN, not null
    np.testing.assert_array_equal(got["valid"], c.valid[order])
    assert list(got["right"]) == ["C" if x else "P" for x in c.is_call[order]]
    assert set(frame["expiry"]) == {EXPIRY}
    assert set(frame["time"]) == {NOW}
    assert set(frame["date"]) == {"2026-01-06"}
    assert set(frame["spot"]) == {c.spot}


def test_chain_snapshot_files_are_compressed_with_the_greeks_kept_plain(tmp_path):
    """The bulk table is written with Snappy on every column, as delta-rs writes the
    others by default; only the Greeks skip the Parquet dictionary."""
    import pyarrow.parquet as pq

    c = chain()
    store = DeltaStore(tmp_path)
    table = rows.chain_table(c)
    store.append("chain_snapshots", table.append_column("run_id", pa.repeat(RUN, len(c))))
    store.flush()
    files = list((tmp_path / "chain_snapshots").rglob("*.parquet"))
    assert files
    for path in files:
        group = pq.ParquetFile(path).metadata.row_group(0)
        columns = {
            group.column(i).path_in_schema: group.column(i) for i in range(group.num_columns)
        }
        assert {col.compression for col in columns.values()} == {"SNAPPY"}, path
        for greek in ("delta", "gamma", "vega", "theta"):
            assert "PLAIN_DICTIONARY" not in columns[greek].encodings
            assert "RLE_DICTIONARY" not in columns[greek].encodings
        assert {"RLE_DICTIONARY", "PLAIN_DICTIONARY"} & set(columns["bid"].encodings)


# -- validation ----------------------------------------------------------------------


def alert_row(**changes) -> dict:
    row = {
        "time": NOW,
        "severity": "info",
        "source": "engine",
        "code": "c",
        "message": "m",
        "run_id": RUN,
    }
    return row | changes


@pytest.mark.parametrize(
    ("table", "bad_rows", "names"),
    [
        ("tradez", [alert_row()], ["tradez", "unknown table"]),
        (
            "alerts",
            [{k: v for k, v in alert_row().items() if k != "code"}],
            ["alerts", "'code'", "missing"],
        ),
        ("alerts", [alert_row(colour="red")], ["alerts", "'colour'", "not in the"]),
        ("alerts", [alert_row(), alert_row(extra=1)], ["alerts", "'extra'"]),
        ("alerts", [alert_row(time="yesterday")], ["alerts", "'time'"]),
        ("alerts", [alert_row(time=datetime(2026, 1, 6, 15))], ["'time'", "time zone"]),
        ("alerts", [alert_row(message=None)], ["'message'", "null"]),
        (
            "fills",
            stamped({**rows.fill_row(condor_fills()[0], "p", "s"), "quantity": "two"}),
            ["fills", "'quantity'"],
        ),
    ],
)
def test_a_row_that_does_not_fit_its_table_is_refused_naming_table_and_column(
    tmp_path, table, bad_rows, names
):
    store = DeltaStore(tmp_path)
    with pytest.raises(V6Error) as error:
        store.append(table, bad_rows)
    for name in names:
        assert name in str(error.value)
    assert not any(store.pending(t) for t in TABLES)


def test_an_arrow_batch_missing_a_column_or_with_a_wrong_type_is_refused(tmp_path):
    store = DeltaStore(tmp_path)
    chain_rows = rows.chain_table(chain())
    with pytest.raises(V6Error, match=r"chain_snapshots.*'run_id'.*missing"):
        store.append("chain_snapshots", chain_rows)
    wrong = chain_rows.append_column("run_id", pa.repeat(RUN, chain_rows.num_rows))
    wrong = wrong.set_column(
        wrong.schema.get_field_index("strike"), "strike", pa.repeat("wide", wrong.num_rows)
    )
    with pytest.raises(V6Error, match=r"chain_snapshots.*'strike'"):
        store.append("chain_snapshots", wrong)
    assert store.pending("chain_snapshots") == 0


def test_reading_an_unknown_column_names_it(tmp_path):
    with pytest.raises(V6Error, match=r"fills.*'colour'"):
        DeltaStore(tmp_path).read("fills", columns=["time", "colour"])


# -- buffering -----------------------------------------------------------------------


def test_rows_stay_in_memory_until_flush_and_each_flush_is_one_commit_per_table(tmp_path):
    store = DeltaStore(tmp_path)
    for i in range(3):
        store.append("alerts", [alert_row(code=f"a{i}"), alert_row(code=f"b{i}")])
        store.append(
            "account_snapshots",
            stamped(
                rows.account_row(
                    AccountSnapshot(NOW + timedelta(minutes=i), 1e5, 1e5, 9e4, 0, 0, 0, 0)
                )
            ),
        )
    assert store.pending("alerts") == 6 and store.pending("account_snapshots") == 3
    assert not any(tmp_path.iterdir())
    assert len(store.read("alerts")) == 0

    assert store.flush() == {"alerts": 6, "account_snapshots": 3}
    assert commits(store, "alerts") == 1 and commits(store, "account_snapshots") == 1
    assert store.pending("alerts") == 0
    assert len(store.read("alerts")) == 6

    store.append("alerts", [alert_row(code="c")])
    store.append(
        "account_snapshots",
        stamped(rows.account_row(AccountSnapshot(LATER, 1e5, 1e5, 9e4, 0, 0, 0, 0))),
    )
    assert store.flush(["alerts"]) == {"alerts": 1}
    assert store.flush([]) == {}
    assert store.flush() == {"account_snapshots": 1}
    assert store.flush() == {}
    assert commits(store, "alerts") == 2 and commits(store, "account_snapshots") == 2
    assert sorted(store.read("alerts")["code"]) == ["a0", "a1", "a2", "b0", "b1", "b2", "c"]


def test_appends_between_other_writers_commits_land_on_the_latest_table(tmp_path):
    """The engine's store keeps the table its last append left; every commit another
    writer makes in between (another store, a compaction, the table deleted and created
    again at the same version) must still be under the engine's next append."""
    engine, other = DeltaStore(tmp_path), DeltaStore(tmp_path)
    expected = []

    def append(store: DeltaStore, code: str) -> None:
        store.append("alerts", [alert_row(code=code)])
        store.flush()
        expected.append(code)

    for i in range(4):
        append(engine, f"e{i}")
        append(other, f"o{i}")
        append(engine, f"f{i}")
        engine.compact("alerts")
        append(engine, f"g{i}")
    assert sorted(engine.read("alerts")["code"]) == sorted(expected)
    assert engine.version("alerts") == 20

    # The table replaced by one with as many commits: same version, other files.
    shutil.rmtree(engine.path("alerts"))
    expected.clear()
    replacement = DeltaStore(tmp_path)
    for i in range(20):
        append(replacement, f"r{i}")
    assert replacement.version("alerts") == 20
    append(engine, "late")
    assert sorted(engine.read("alerts")["code"]) == sorted(expected)


def test_an_append_after_the_log_was_cleaned_up_under_it_is_not_lost(tmp_path):
    """Log cleanup deletes old commit files; an append made from the snapshot the last
    append left would point at a version whose log is gone."""
    engine, other = DeltaStore(tmp_path), DeltaStore(tmp_path)
    engine.append("alerts", [alert_row(code="first")])
    engine.flush()
    for i in range(25):
        other.append("alerts", [alert_row(code=f"o{i}")])
        other.flush()
    log = engine.path("alerts") / "_delta_log"
    old = time.time() - 2 * 3600
    for f in log.iterdir():
        os.utime(f, (old, old))
    DeltaTable(str(engine.path("alerts"))).cleanup_metadata()
    assert not (log / f"{1:020d}.json").exists()

    engine.append("alerts", [alert_row(code="late")])
    engine.flush()
    codes = set(engine.read("alerts")["code"])
    assert {"first", "late"} <= codes and len(codes) == 27


def test_a_table_never_flushed_reads_as_an_empty_frame_with_its_columns_and_dtypes(tmp_path):
    written = DeltaStore(tmp_path / "full")
    written.append("fills", stamped(*(rows.fill_row(f, "ic-1", "ic") for f in condor_fills())))
    written.flush()

    empty = DeltaStore(tmp_path / "fresh").read("fills")

    assert len(empty) == 0
    assert list(empty.columns) == TABLES["fills"].schema.names
    assert dict(empty.dtypes) == dict(written.read("fills").dtypes)
    assert str(empty["time"].dtype) == "datetime64[us, UTC]"


def test_a_failed_flush_keeps_its_rows_pending_for_a_retry(tmp_path):
    store = DeltaStore(tmp_path)
    store.append("alerts", [alert_row(), alert_row(code="d")])
    store.path("alerts").write_text("not a table")  # the table's directory is a file
    with pytest.raises(V6Error, match="alerts"):
        store.flush()
    assert store.pending("alerts") == 2
    store.path("alerts").unlink()
    assert store.flush() == {"alerts": 2}
    assert len(store.read("alerts")) == 2


@pytest.mark.parametrize("table", ["alerts", "fills"])
def test_an_error_after_the_commit_landed_never_writes_the_rows_twice(tmp_path, table, monkeypatch):
    """delta-rs runs its checkpoint and log clean-up after the commit, and their errors
    reach the caller: the rows are in the table then, and must not stay pending for a
    retry that would write them again (a fill booked twice doubles its cash)."""
    import v6.store.delta_store as delta_store

    real = delta_store.write_deltalake
    failures = iter([True, False, True])

    def commits_then_fails(table_or_path, data, **kwargs):
        real(table_or_path, data, **kwargs)
        if next(failures, False):
            raise DeltaError("Generic error: checkpoint 00000000000000000010.checkpoint.parquet")

    monkeypatch.setattr(delta_store, "write_deltalake", commits_then_fails)
    store = DeltaStore(tmp_path)
    made = (
        [alert_row(code=f"c{i}") for i in range(3)]
        if table == "alerts"
        else stamped(*(rows.fill_row(f, "ic-1", "ic") for f in condor_fills()))
    )
    for _ in range(3):
        store.append(table, made)
        assert store.flush() == {table: len(made)}
        assert store.pending(table) == 0
    assert store.flush() == {}
    assert len(DeltaStore(tmp_path).read(table)) == 3 * len(made)


def test_an_error_before_the_commit_keeps_the_rows_for_a_retry_that_writes_them_once(
    tmp_path, monkeypatch
):
    import v6.store.delta_store as delta_store

    real = delta_store.write_deltalake
    refuse = [True]

    def fails_first(table_or_path, data, **kwargs):
        if refuse.pop() if refuse else False:
            raise DeltaError("Generic error: the commit could not be written")
        real(table_or_path, data, **kwargs)

    monkeypatch.setattr(delta_store, "write_deltalake", fails_first)
    store = DeltaStore(tmp_path)
    store.append("alerts", [alert_row(code="a"), alert_row(code="b")])
    with pytest.raises(V6Error, match="alerts"):
        store.flush()
    assert store.pending("alerts") == 2
    assert store.flush() == {"alerts": 2}
    assert sorted(DeltaStore(tmp_path).read("alerts")["code"]) == ["a", "b"]


def test_a_table_written_before_a_nullable_column_was_added_takes_new_rows(tmp_path):
    store = DeltaStore(tmp_path)
    old = ENTRIES.remove(ENTRIES.get_field_index("max_loss"))
    write_deltalake(
        store.path("entries"),
        pa.Table.from_pylist(
            [
                {
                    "time": NOW,
                    "strategy": "s",
                    "underlying": "SPY",
                    "structure": "iron_condor",
                    "outcome": "rejected",
                    "reason": "r",
                    "order_ref": None,
                    "net_price": None,
                    "run_id": "old",
                }
            ],
            schema=old,
        ),
    )
    store.append(
        "entries",
        stamped(
            {
                "time": LATER,
                "strategy": "s",
                "underlying": "SPY",
                "structure": "iron_condor",
                "outcome": "accepted",
                "reason": "",
                "order_ref": "o",
                "net_price": -1.0,
                "max_loss": 400.0,
            }
        ),
    )
    store.flush()
    frame = store.read("entries").sort_values("time")
    assert list(frame["run_id"]) == ["old", RUN]
    assert frame["max_loss"].isna().tolist() == [True, False]


def test_a_table_written_before_a_nullable_column_was_added_reads_it_as_nulls(tmp_path):
    # A store from before `regimes` had its `detector` column, never appended to since: the
    # column reads as nulls (as it will once an append merges it in), never as damage.
    store = DeltaStore(tmp_path)
    old = TABLES["regimes"].schema
    old = old.remove(old.get_field_index("detector"))
    row = {"time": NOW, "underlying": "SPY", "regime": "normal", "reason": "r", "inputs": "{}"}
    write_deltalake(store.path("regimes"), pa.Table.from_pylist(stamped(row), schema=old))
    store.verify_all()
    frame = store.read("regimes")
    assert list(frame.columns) == TABLES["regimes"].schema.names
    assert frame["detector"].isna().tolist() == [True]
    assert store.read("regimes", columns=["detector", "regime"])["regime"].tolist() == ["normal"]
    store.append("regimes", stamped({**row, "time": LATER, "detector": "volatility_regime"}))
    store.flush()
    detectors = store.read("regimes").sort_values("time")["detector"]
    assert detectors.isna().tolist() == [True, False]
    assert detectors.iloc[-1] == "volatility_regime"


# -- partitions and compaction -------------------------------------------------------


def test_chain_snapshots_are_partitioned_and_read_one_underlying_by_filter(tmp_path):
    store = DeltaStore(tmp_path)
    days = [NOW, NOW + timedelta(days=1)]
    for day in days:
        for symbol, spot in (("SPY", 100.0), ("QQQ", 50.0)):
            t = rows.chain_table(chain(symbol, spot, strikes=(spot - 5, spot, spot + 5), now=day))
            store.append("chain_snapshots", t.append_column("run_id", pa.repeat(RUN, 6)))
    assert store.flush() == {"chain_snapshots": 24}
    assert commits(store, "chain_snapshots") == 1
    parts = {
        p.relative_to(store.path("chain_snapshots")).as_posix()
        for p in store.path("chain_snapshots").glob("underlying=*/date=*")
    }
    assert parts == {
        f"underlying={u}/date={d}" for u in ("SPY", "QQQ") for d in ("2026-01-06", "2026-01-07")
    }

    qqq = store.read("chain_snapshots", filters=[("underlying", "=", "QQQ")])
    assert len(qqq) == 12 and set(qqq["underlying"]) == {"QQQ"} and set(qqq["spot"]) == {50.0}
    one_day = store.read(
        "chain_snapshots",
        columns=["time", "strike"],
        filters=[("underlying", "=", "SPY"), ("date", "=", "2026-01-07")],
    )
    assert list(one_day.columns) == ["time", "strike"]
    assert len(one_day) == 6 and set(one_day["time"]) == {days[1]}


def test_compaction_merges_small_files_and_keeps_every_row(tmp_path):
    store = DeltaStore(tmp_path)
    for i in range(6):
        store.append("alerts", [alert_row(code=f"c{i}", message=str(j)) for j in range(5)])
        store.flush()
    before = store.read("alerts").sort_values(["code", "message"]).reset_index(drop=True)
    on_disk = data_files_on_disk(store.path("alerts"))
    assert store.files("alerts") == 6 and on_disk == 6

    result = store.compact("alerts")

    assert (result.files_before, result.files_after) == (6, 1)
    assert store.files("alerts") == 1
    after = store.read("alerts").sort_values(["code", "message"]).reset_index(drop=True)
    assert after.equals(before)
    # The replaced files stay for readers of the older version until vacuum, after the
    # retention window (tests/test_store_maintenance.py).
    assert data_files_on_disk(store.path("alerts")) == 7
    assert store.vacuum("alerts") == 0
    assert store.compact("orders").files_after == 0  # a table not written yet is a no-op


# -- rebuilding the book -------------------------------------------------------------


def test_positions_from_frame_rebuilds_the_latest_state_of_every_position(tmp_path):
    store = DeltaStore(tmp_path)
    spread = (iron_condor()[0], iron_condor()[1])
    opening = condor(PositionStatus.OPENING)
    opened = condor(PositionStatus.OPEN, commissions=5.2)
    closed = condor(
        PositionStatus.CLOSED,
        quantity=0,
        closed_at=LATER + timedelta(hours=1),
        exit_price=0.35,
        realized_pnl=205.8,
        commissions=10.4,
    )
    put_spread = condor(
        PositionStatus.OPEN,
        position_id="bps-1",
        structure="bull_put_spread",
        strategy="bull_put_spread",
        legs=spread,
        quantity=1,
        entry_price=-0.8,
        opened_at=LATER,
        max_profit=80.0,
        max_loss=420.0,
    )
    # Written out of time order: the latest *time*, not the last append, is the state.
    store.append("positions", stamped(rows.position_row(closed, LATER + timedelta(hours=1))))
    store.append(
        "positions",
        stamped(
            rows.position_row(opening, NOW),
            rows.position_row(put_spread, LATER),
            rows.position_row(opened, LATER),
        ),
    )
    store.flush()

    book = rows.positions_from_frame(store.read("positions"))

    assert book == [closed, put_spread]
    assert book[0].closed_at.tzinfo is not None and book[1].closed_at is None
    assert book[1].exit_price is None
    assert rows.positions_from_frame(DeltaStore(tmp_path / "fresh").read("positions")) == []


def test_legs_json_is_flat_and_readable_without_v6():
    legs = (iron_condor()[1],)
    assert json.loads(rows.legs_json(legs)) == [
        {
            "key": "SPY 20260130 95P",
            "underlying": "SPY",
            "expiry": "2026-01-30",
            "strike": 95.0,
            "right": "P",
            "multiplier": 100,
            "ratio": -1,
        }
    ]
    assert rows.legs_from_json(rows.legs_json(legs))[0].contract == contract(95, "P")


# -- crash safety --------------------------------------------------------------------

BATCH = 20_000


def kill_mid_flush(root: Path) -> bool:
    """Run the crash writer, SIGKILL it while a data file is written but not committed.

    Returns True when the kill did land mid-flush (an uncommitted data file is left).
    """
    table = root / "alerts"
    log = table / "_delta_log"
    writer = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("crash_writer.py")), str(root), str(BATCH)]
    )
    try:
        deadline = time.monotonic() + 60  # a guard against a hung writer, not an assertion
        while time.monotonic() < deadline and writer.poll() is None:
            # Commit 0 creates the table and holds no file; each later commit holds one.
            done = max(0, len(list(log.glob("*.json"))) - 1) if log.exists() else 0
            written = data_files_on_disk(table) if table.exists() else 0
            if done >= 3 and written > done:
                writer.send_signal(signal.SIGKILL)
                break
            time.sleep(0.0005)
    finally:
        if writer.poll() is None:
            writer.kill()
        writer.wait()
    assert writer.returncode == -signal.SIGKILL, "the writer died on its own"
    return data_files_on_disk(table) > DeltaStore(root).files("alerts")


def test_a_writer_killed_mid_flush_leaves_whole_batches_and_a_stray_file_vacuum_deletes(tmp_path):
    for attempt in range(5):  # the commit can win the race with the kill; try again
        root = tmp_path / f"attempt{attempt}"
        if kill_mid_flush(root):
            break
    else:
        pytest.fail("never killed the writer between writing a file and committing it")

    store = DeltaStore(root)
    frame = store.read("alerts")
    assert len(frame) >= 3 * BATCH
    assert len(frame) % BATCH == 0
    sizes = frame.groupby("code")["message"].agg(["count", "nunique"])
    assert (sizes["count"] == BATCH).all() and (sizes["nunique"] == BATCH).all()
    assert sorted(sizes.index) == sorted(f"batch-{i}" for i in range(len(sizes)))

    # The killed write left a file no commit refers to; maintenance deletes it once it is
    # older than the retention window (an hour here, so the test ages it by two).
    table = store.path("alerts")
    live = {Path(uri).name for uri in DeltaTable(str(table)).file_uris()}
    strays = [p for p in table.glob("*.parquet") if p.name not in live]
    assert strays
    for stray in strays:
        then = time.time() - 2 * 3600
        os.utime(stray, (then, then))
    assert store.vacuum("alerts") == len(strays)
    assert not any(stray.exists() for stray in strays)
    assert (
        store.read("alerts")
        .sort_values(["code", "message"])
        .reset_index(drop=True)
        .equals(frame.sort_values(["code", "message"]).reset_index(drop=True))
    )
