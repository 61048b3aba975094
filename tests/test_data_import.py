"""`v6 data import`: vendor files into chain_snapshots, dirty data counted, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import attrs
import numpy as np
import pytest

from v6.config_loader import load_config
from v6.data_import.importer import ImportConflictError, import_files
from v6.data_import.vendor_csv import LayoutError
from v6.errors import ConfigError
from v6.pricing.bsm import bsm_greeks
from v6.store.delta_store import DeltaStore
from v6.testing.vendor_files import CBOE_HEADER, HOD_HEADER

CONFIG = load_config(None)


def cboe_row(**fields: object) -> list[str]:
    """A CBOE row: SPY put, 2016-01-04, expiring 2016-01-15, unless ``fields`` say else."""
    row = dict.fromkeys(CBOE_HEADER, "0")
    row.update(
        underlying_symbol="SPY",
        quote_date="2016-01-04",
        root="SPY",
        expiration="2016-01-15",
        strike="98",
        option_type="p",
        bid_1545="0.60",
        ask_1545="0.70",
        underlying_bid_1545="99.99",
        underlying_ask_1545="100.01",
        active_underlying_price_1545="100.00",
        implied_volatility_1545="0.15",
        delta_1545="-0.2",
        gamma_1545="0.1",
        theta_1545="-0.05",
        vega_1545="0.04",
    )
    row.update({k: str(v) for k, v in fields.items()})
    return [row[h] for h in CBOE_HEADER]


def write_csv(path: Path, header: list[str], rows: list[list[str]], *, bom: str = "") -> Path:
    text = bom + ",".join(header) + "\n" + "".join(",".join(r) + "\n" for r in rows)
    path.write_text(text, encoding="utf-8")
    return path


def chains(store: Path):
    frame = DeltaStore(store).read("chain_snapshots")
    return frame.sort_values(["underlying", "time", "expiry", "strike", "right"]).reset_index(
        drop=True
    )


def test_cboe_rows_become_one_snapshot_per_quote_date_at_1545_new_york(tmp_path):
    rows = [
        cboe_row(),
        cboe_row(strike="96", bid_1545="0.20", ask_1545="0.30"),
        cboe_row(quote_date="2016-01-05", strike="98"),
    ]
    report = import_files(
        [write_csv(tmp_path / "a.csv", CBOE_HEADER, rows)], "cboe", tmp_path / "s", CONFIG
    )
    assert (report.rows_read, report.rows_imported, report.snapshots) == (3, 3, 2)
    frame = chains(tmp_path / "s")
    # 15:45 New York in January is 20:45 UTC.
    assert set(frame["time"]) == {
        datetime(2016, 1, 4, 20, 45, tzinfo=UTC),
        datetime(2016, 1, 5, 20, 45, tzinfo=UTC),
    }
    assert (frame["quote_time"] == frame["time"]).all()
    assert frame["spot"].tolist() == [100.0, 100.0, 100.0]  # the mid of the underlying's quote
    assert set(frame["multiplier"]) == {100}
    assert set(frame["exercise_style"]) == {"american"}
    assert set(frame["settlement"]) == {"physical"}


def test_index_roots_are_european_cash_settled_am_or_pm_and_spxw_wins_a_shared_friday(tmp_path):
    rows = [
        cboe_row(
            underlying_symbol="^SPX",
            root="SPX",
            strike="2000",
            bid_1545="10",
            ask_1545="11",
            underlying_bid_1545="2010",
            underlying_ask_1545="2012",
        ),
        cboe_row(
            underlying_symbol="^SPX",
            root="SPXW",
            strike="2000",
            bid_1545="10.5",
            ask_1545="11.5",
            underlying_bid_1545="2010",
            underlying_ask_1545="2012",
        ),
        cboe_row(
            underlying_symbol="^SPX",
            root="SPXW",
            expiration="2016-01-08",
            strike="2000",
            bid_1545="5",
            ask_1545="6",
            underlying_bid_1545="2010",
            underlying_ask_1545="2012",
        ),
    ]
    report = import_files(
        [write_csv(tmp_path / "spx.csv", CBOE_HEADER, rows)], "cboe", tmp_path / "s", CONFIG
    )
    frame = chains(tmp_path / "s")
    assert set(frame["underlying"]) == {"SPX"}
    assert set(frame["exercise_style"]) == {"european"}
    # The monthly SPX (AM) and the weekly SPXW (PM) both list 2016-01-15 2000P: one row
    # per contract is kept (the PM weekly) and the other is counted, not silently lost.
    assert frame["settlement"].tolist() == ["cash_pm", "cash_pm"]
    assert frame["bid"].tolist() == [5.0, 10.5]
    assert report.bad.counts == {"duplicate_contract": 1}
    assert "SPX" in report.bad.samples["duplicate_contract"][0]


def test_historicaloptiondata_timestamps_roots_and_close_snapshot(tmp_path):
    header = HOD_HEADER
    base = dict.fromkeys(header, "")
    base.update(
        underlying="SPX",
        underlying_last="2012.5",
        exchange="*",
        type="put",
        expiration="1/15/2016 0:00:00",
        quotedate="1/4/2016 0:00:00",
        strike="2000",
        bid="10",
        ask="11",
        impliedvol="0.2",
        delta="-0.3",
        gamma="0.001",
        theta="-1.2",
        vega="1.1",
    )
    rows = [
        [dict(base, optionroot="SPXW160115P02000000")[h] for h in header],
        [dict(base, optionroot="SPX160115P01990000", strike="1990")[h] for h in header],
    ]
    import_files(
        [write_csv(tmp_path / "h.csv", header, rows)],
        "historicaloptiondata",
        tmp_path / "s",
        CONFIG,
    )
    frame = chains(tmp_path / "s")
    assert frame["time"].unique().tolist() == [datetime(2016, 1, 4, 21, 0, tzinfo=UTC)]  # 16:00 ET
    assert frame["root"].tolist() == ["SPX", "SPXW"]
    assert frame["settlement"].tolist() == ["cash_am", "cash_pm"]
    assert frame["expiry"].tolist() == [date(2016, 1, 15)] * 2
    assert frame["spot"].tolist() == [2012.5, 2012.5]


def test_dirty_file_bom_spaced_headers_us_dates_zero_greeks_and_bad_rows_are_counted(tmp_path):
    header = [f" {h.upper()} " if i % 3 == 0 else h for i, h in enumerate(CBOE_HEADER)]
    zero = {f"{g}_1545": "0" for g in ("implied_volatility", "delta", "gamma", "theta", "vega")}
    rows = [
        cboe_row(quote_date="01/04/2016", expiration="1/15/2016 0:00:00", **zero),
        cboe_row(quote_date="1/4/2016", strike="96", bid_1545="0", ask_1545="0.30"),  # zero bid
        cboe_row(quote_date="13/45/2016", strike="97"),  # no such date
        cboe_row(strike="abc"),
        cboe_row(option_type="x", strike="99"),
        cboe_row(expiration="2015-12-31", strike="95"),  # expired before the quote date
        cboe_row(
            strike="94",
            underlying_bid_1545="0",
            underlying_ask_1545="0",
            active_underlying_price_1545="",
        ),
        cboe_row(strike="93", implied_volatility_1545="n/a?"),  # kept, IV solved
    ]
    path = write_csv(tmp_path / "dirty.csv", header, rows, bom="\ufeff")
    with path.open("a") as f:
        f.write("SPY,2016-01-04,too,few,fields\n")
    report = import_files([path], "cboe", tmp_path / "s", CONFIG)

    assert report.rows_read == 9
    assert report.rows_imported == 3
    assert report.bad.counts == {
        "bad_quote_date": 1,
        "bad_strike": 1,
        "bad_option_type": 1,
        "expired_before_quote_date": 1,
        "bad_underlying_price": 1,
        "malformed_line": 1,
    }
    assert all(report.bad.samples[reason] for reason in report.bad.counts)
    assert "13/45/2016" in report.bad.samples["bad_quote_date"][0]
    assert "too,few,fields" in report.bad.samples["malformed_line"][0]
    assert report.repaired["text_in_implied_volatility_treated_as_missing"] == 1
    assert report.repaired["implied_volatility_solved_from_the_mid"] == 2
    text = report.text()
    assert "bad_quote_date: 1" in text and "e.g. dirty.csv" in text

    frame = chains(tmp_path / "s")
    assert frame["strike"].tolist() == [93.0, 96.0, 98.0]
    zero_bid = frame[frame["strike"] == 96.0].iloc[0]
    assert zero_bid["bid"] == 0.0  # kept as sent: the quality gate judges it at replay
    solved = frame[frame["strike"] == 98.0].iloc[0]
    # Zero IV and Greeks: V6 solved the IV from the 0.65 mid and priced the Greeks at it.
    t = (datetime(2016, 1, 15, 21) - datetime(2016, 1, 4, 20, 45)).total_seconds() / (365 * 86400)
    assert 0.05 < solved["iv"] < 1.0
    expected = bsm_greeks(100.0, 98.0, t, CONFIG.risk.risk_free_rate, 0.0, solved["iv"], False)
    assert solved["delta"] == pytest.approx(float(expected.delta), rel=1e-6)
    assert solved["gamma"] > 0 and solved["vega"] > 0
    price = float(
        bsm_greeks(100.0, 98.0, t, CONFIG.risk.risk_free_rate, 0.0, solved["iv"], False).price
    )
    assert price == pytest.approx(0.65, abs=1e-4)
    assert np.isfinite(frame["gamma"]).all()


def test_a_file_of_another_layout_is_refused_whole_and_nothing_is_written(tmp_path):
    good = write_csv(tmp_path / "good.csv", CBOE_HEADER, [cboe_row()])
    other = write_csv(tmp_path / "other.csv", HOD_HEADER, [["x"] * len(HOD_HEADER)])
    store = tmp_path / "s"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "v6.cli",
            "data",
            "import",
            str(good),
            str(other),
            "--format",
            "cboe",
            "--store",
            str(store),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "other.csv is not a cboe file" in lines[0]
    assert "Traceback" not in result.stderr
    assert not DeltaStore(store).exists("chain_snapshots")


def test_cli_imports_and_reports_json_then_refuses_the_same_snapshots_again(tmp_path):
    path = write_csv(tmp_path / "a.csv", CBOE_HEADER, [cboe_row(), cboe_row(strike="abc")])
    cmd = [
        sys.executable,
        "-m",
        "v6.cli",
        "data",
        "import",
        str(path),
        "--format",
        "cboe",
        "--store",
        str(tmp_path / "s"),
        "--json",
    ]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["rows_imported"] == 1 and report["bad_rows"] == {"bad_strike": 1}
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert again.returncode == 2
    assert "already holds chain snapshots of SPY on 2016-01-04" in again.stderr
    assert len(DeltaStore(tmp_path / "s").read("chain_snapshots")) == 1


def test_mapped_layout_reads_any_vendor_through_the_config(tmp_path):
    header = ["Sym", "Date", "Exp", "K", "CP", "B", "A", "Px"]
    rows = [["SPY", "20160104", "20160115", "98", "P", "0.6", "0.7", "100"]]
    path = write_csv(tmp_path / "v.csv", header, rows)
    mapping = {
        "underlying": "Sym",
        "quote_date": "Date",
        "expiration": "Exp",
        "strike": "K",
        "option_type": "CP",
        "bid": "B",
        "ask": "A",
        "underlying_price": "Px",
    }
    config = attrs.evolve(
        CONFIG, backtest=attrs.evolve(CONFIG.backtest, columns=mapping, snapshot_time="15:30")
    )
    import_files([path], "mapped", tmp_path / "s", config)
    frame = chains(tmp_path / "s")
    assert frame["time"].tolist() == [datetime(2016, 1, 4, 20, 30, tzinfo=UTC)]
    assert frame["iv"].iloc[0] > 0  # solved from the mid: the file has no IV
    incomplete = attrs.evolve(CONFIG.backtest, columns={"underlying": "Sym"})
    with pytest.raises(ConfigError, match=r"backtest\.columns.*quote_date"):
        import_files([path], "mapped", tmp_path / "t", attrs.evolve(CONFIG, backtest=incomplete))


def test_importing_snapshots_the_store_holds_is_refused(tmp_path):
    path = write_csv(tmp_path / "a.csv", CBOE_HEADER, [cboe_row()])
    import_files([path], "cboe", tmp_path / "s", CONFIG)
    with pytest.raises(ImportConflictError):
        import_files([path], "cboe", tmp_path / "s", CONFIG)
    with pytest.raises(LayoutError, match="no such file"):
        import_files([tmp_path / "missing.csv"], "cboe", tmp_path / "s", CONFIG)


MAPPING = {
    "underlying": "Sym",
    "quote_date": "Date",
    "expiration": "Exp",
    "strike": "K",
    "option_type": "CP",
    "bid": "B",
    "ask": "A",
    "underlying_price": "Px",
}


def test_index_rows_without_a_root_settle_am_on_the_third_friday_and_pm_otherwise(tmp_path):
    # A mapped file with no root column: SPX rows expiring on the third Friday of January
    # 2016 (the 15th) are the AM-settled monthly SPX, every other expiry (the 8th, a
    # weekly; the 14th, a Thursday daily) the PM-settled SPXW. Good Friday 2014 (April
    # 18th, the third Friday) moved the monthly to Thursday the 17th: that one is AM too.
    header = ["Sym", "Date", "Exp", "K", "CP", "B", "A", "Px"]
    rows = [
        ["SPX", "20160104", expiry, "2000", "P", "10", "11", "2010"]
        for expiry in ("20160108", "20160114", "20160115")
    ]
    rows += [["SPX", "20140401", "20140417", "1800", "P", "5", "6", "1870"]]
    rows += [
        ["RUT", "20160104", expiry, "1100", "P", "8", "9", "1130"]
        for expiry in ("20160108", "20160115")
    ]
    path = write_csv(tmp_path / "v.csv", header, rows)
    config = attrs.evolve(CONFIG, backtest=attrs.evolve(CONFIG.backtest, columns=MAPPING))
    import_files([path], "mapped", tmp_path / "s", config)
    frame = chains(tmp_path / "s")
    styles = {(r.underlying, str(r.expiry)): (r.root, r.settlement) for r in frame.itertuples()}
    assert styles == {
        ("SPX", "2014-04-17"): ("SPX", "cash_am"),
        ("SPX", "2016-01-08"): ("SPXW", "cash_pm"),
        ("SPX", "2016-01-14"): ("SPXW", "cash_pm"),
        ("SPX", "2016-01-15"): ("SPX", "cash_am"),
        ("RUT", "2016-01-08"): ("RUTW", "cash_pm"),
        ("RUT", "2016-01-15"): ("RUT", "cash_am"),
    }


def test_a_recorded_index_chain_labels_each_contract_by_its_expiry():
    from v6.domain.market import OptionChain
    from v6.store.rows import chain_table

    expiry = np.array(["2016-01-08", "2016-01-15", "2016-01-22"], dtype="datetime64[D]")
    chain = OptionChain(
        underlying="SPX",
        as_of=datetime(2016, 1, 4, 20, 45, tzinfo=UTC),
        spot=2010.0,
        expiry=expiry,
        strike=[2000.0] * 3,
        is_call=[False] * 3,
        bid=[5.0] * 3,
        ask=[6.0] * 3,
        iv=[0.2] * 3,
        delta=[-0.4] * 3,
        gamma=[0.01] * 3,
        vega=[1.0] * 3,
        theta=[-1.0] * 3,
        quote_time=np.array(["2016-01-04T20:45"] * 3, dtype="datetime64[us]"),
    )
    table = chain_table(chain)
    assert table.column("root").to_pylist() == ["SPXW", "SPX", "SPXW"]
    assert table.column("settlement").to_pylist() == ["cash_pm", "cash_am", "cash_pm"]
    assert set(table.column("exercise_style").to_pylist()) == {"european"}


def test_an_etf_option_under_another_root_is_left_out_as_nonstandard(tmp_path):
    # SPY1 is an adjusted SPY option (a deliverable other than 100 SPY shares): imported
    # as a standard SPY option it would be priced and settled wrongly, and here it would
    # clash with the real 98 put. It is counted, with a sample, and the real one kept.
    rows = [
        cboe_row(),
        cboe_row(root="SPY1", bid_1545="3.00", ask_1545="3.20"),
        cboe_row(root="SPY7", strike="90"),
    ]
    report = import_files(
        [write_csv(tmp_path / "a.csv", CBOE_HEADER, rows)], "cboe", tmp_path / "s", CONFIG
    )
    assert report.rows_imported == 1
    assert report.bad.counts == {"nonstandard_root": 2}
    assert "SPY1" in report.bad.samples["nonstandard_root"][0]
    frame = chains(tmp_path / "s")
    assert frame["bid"].tolist() == [0.60] and frame["root"].tolist() == ["SPY"]


def test_the_text_report_never_sends_a_files_escape_sequences_to_the_terminal(tmp_path):
    path = write_csv(tmp_path / "a.csv", CBOE_HEADER, [cboe_row()])
    with path.open("a") as f:
        f.write("SPY,\x1b[2J\x1b]0;owned\x07,few\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "v6.cli",
            "data",
            "import",
            str(path),
            "--format",
            "cboe",
            "--store",
            str(tmp_path / "s"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "malformed_line: 1" in result.stdout
    assert "\\x1b[2J\\x1b]0;owned\\x07" in result.stdout  # shown, escaped


def test_an_adjusted_root_inside_a_historicaloptiondata_symbol_is_nonstandard(tmp_path):
    # historicaloptiondata names the root inside its option symbol: SPY1160115P00098000
    # is root SPY1 (digits included), not SPY.
    base = dict.fromkeys(HOD_HEADER, "")
    base.update(
        underlying="SPY",
        underlying_last="100",
        type="put",
        expiration="1/15/2016",
        quotedate="1/4/2016",
        strike="98",
        bid="0.6",
        ask="0.7",
        impliedvol="0.15",
    )
    rows = [
        [dict(base, optionroot=symbol)[h] for h in HOD_HEADER]
        for symbol in ("SPY160115P00098000", "SPY1160115P00098000")
    ]
    report = import_files(
        [write_csv(tmp_path / "h.csv", HOD_HEADER, rows)],
        "historicaloptiondata",
        tmp_path / "s",
        CONFIG,
    )
    assert report.bad.counts == {"nonstandard_root": 1}
    assert "SPY1160115P00098000" in report.bad.samples["nonstandard_root"][0]
    assert chains(tmp_path / "s")["root"].tolist() == ["SPY"]


def test_a_bad_row_of_an_otherwise_clean_file_is_sampled_as_the_vendor_wrote_it(tmp_path):
    # Every number in this file is a plain one, so it is read typed in one pass; the
    # sample of its bad row still quotes the vendor's text (strike '98.50', not 98.5).
    rows = [cboe_row(), cboe_row(option_type="x", strike="98.50"), cboe_row(strike="99")]
    report = import_files(
        [write_csv(tmp_path / "a.csv", CBOE_HEADER, rows)], "cboe", tmp_path / "s", CONFIG
    )
    assert report.rows_imported == 2
    assert report.bad.counts == {"bad_option_type": 1}
    sample = report.bad.samples["bad_option_type"][0]
    assert sample.startswith("a.csv row 2: ")
    assert "strike='98.50'" in sample and "option_type='x'" in sample
