"""``v6 data import``: vendor end-of-day option files into the ``chain_snapshots`` table.

One import is all or nothing: every file's header is checked against its layout before
any row is read, every file is parsed before anything is written, and the rows go to
the store in a single Delta commit. A file that is not the layout it claims, or
snapshots the store already holds, refuse the whole import with one line (exit 2).

Each quote date becomes one snapshot at the vendor's snapshot time (15:45 New York for
CBOE). Rows whose contract cannot be known are left out, counted by reason with
samples; quotes are kept as the vendor sent them (the data-quality gate judges them at
replay). Implied volatility the vendor left at zero or out is solved from the mid, and
every Greek is derived by V6's vectorised pricer from the implied volatility, so all
Greeks share V6's units (vendors quote vega per 1% or per 1.00, theta per day or per
year).
"""

from __future__ import annotations

import hashlib
import time as wall
from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from attrs import define, field
from deltalake import DeltaTable

from v6.config import TradingConfig
from v6.data_import.layouts import Layout, layout_for
from v6.data_import.vendor_csv import (
    SAMPLES_PER_REASON,
    BadRows,
    LayoutError,
    VendorRows,
    by_distinct,
    check_layout,
    parse_dates,
    parse_rights,
    read_table,
)
from v6.domain.contract_specs import contract_spec
from v6.errors import V6Error
from v6.market.index_roots import listed_roots
from v6.market.quality import MAX_IV
from v6.pricing.bsm import bsm_greeks
from v6.pricing.expiry import EXPIRY_CLOSE, SECONDS_PER_YEAR
from v6.pricing.quote_greeks import greeks_from_mid
from v6.store.delta_store import DeltaStore
from v6.store.schemas import CHAIN_SNAPSHOTS, TIME
from v6.store.writer_lock import WriterLock

NEW_YORK = ZoneInfo("America/New_York")
TABLE = "chain_snapshots"
# Why a row is left out, in the order they are tested (a row counts under the first).
DROP_REASONS = (
    "missing_underlying",
    "bad_quote_date",
    "bad_expiration",
    "bad_option_type",
    "bad_strike",
    "bad_underlying_price",
    "expired_before_quote_date",
    "nonstandard_root",
)


def terminal_safe(text: str) -> str:
    """``text`` with every control or format character (ESC, CR, BEL, bidi overrides)
    written as its escape (``\\x1b``), so printing it cannot drive the terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class ImportConflictError(V6Error):
    """The store already holds snapshots this import would add again (exit status 2)."""

    exit_status = 2


@define
class ImportReport:
    """What an import read, wrote and left out."""

    format: str
    files: int
    rows_read: int = 0
    rows_imported: int = 0
    snapshots: int = 0
    underlyings: tuple[str, ...] = ()
    first_date: date | None = None
    last_date: date | None = None
    bad: BadRows = field(factory=BadRows)
    # Values kept but fixed: implied volatility solved from the mid, text where a number
    # belongs treated as missing.
    repaired: Counter[str] = field(factory=Counter)
    seconds: float = 0.0
    write_seconds: float = 0.0  # of ``seconds``: the one Delta commit

    @property
    def rows_per_second(self) -> float:
        return self.rows_read / self.seconds if self.seconds > 0 else float("nan")

    def text(self) -> str:
        """The report a trader reads after an import."""
        span = f"{self.first_date} to {self.last_date}" if self.first_date else "no dates"
        lines = [
            f"imported {self.rows_imported:,} of {self.rows_read:,} rows from {self.files} "
            f"{self.format} file(s): {self.snapshots} snapshots of "
            f"{', '.join(self.underlyings) or 'nothing'}, {span} "
            f"({self.seconds:.2f} s, {self.rows_per_second:,.0f} rows/s)",
        ]
        if self.bad.total:
            lines.append(f"left out {self.bad.total:,} bad rows:")
            for reason, count in sorted(self.bad.counts.items()):
                lines.append(f"  {reason}: {count:,}")
                lines.extend(f"    e.g. {s}" for s in self.bad.samples.get(reason, []))
        else:
            lines.append("no bad rows")
        for reason, count in sorted(self.repaired.items()):
            lines.append(f"kept, {reason.replace('_', ' ')}: {count:,}")
        # Samples, symbols and file names are the vendor's bytes: a terminal must never
        # run an escape sequence a file carries (the JSON report escapes them itself).
        return "\n".join(terminal_safe(line) for line in lines)

    def as_dict(self) -> dict[str, object]:
        return {
            "format": self.format,
            "files": self.files,
            "rows_read": self.rows_read,
            "rows_imported": self.rows_imported,
            "snapshots": self.snapshots,
            "underlyings": list(self.underlyings),
            "first_date": str(self.first_date) if self.first_date else None,
            "last_date": str(self.last_date) if self.last_date else None,
            "bad_rows": dict(self.bad.counts),
            "bad_samples": self.bad.samples,
            "repaired": dict(self.repaired),
            "seconds": self.seconds,
            "write_seconds": self.write_seconds,
        }


def import_files(
    paths: Sequence[str | Path], format_name: str, store_path: str | Path, config: TradingConfig
) -> ImportReport:
    """Import ``paths`` (layout ``format_name``) into ``store_path``: all or nothing."""
    started = wall.perf_counter()
    layout = layout_for(format_name, config.backtest)
    files = [Path(p) for p in paths]
    for path in files:
        if not path.is_file():
            raise LayoutError(f"{path}: no such file; nothing was imported")
    headers = [check_layout(path, layout) for path in files]  # refuse before reading rows
    report = ImportReport(format=layout.name, files=len(files))
    tables = []
    for path, header in zip(files, headers, strict=True):
        raw = read_table(path, layout, header, report.bad)
        report.rows_read += raw.num_rows
        tables.append(parse_file(raw, layout, config, report))
    table = drop_duplicates(pa.concat_tables(tables), report)
    report.rows_read += report.bad.counts.get("malformed_line", 0)  # read, then left out
    if table.num_rows:
        writing = wall.perf_counter()
        write(table, store_path, report)
        report.write_seconds = wall.perf_counter() - writing
    summarise(table, report)
    report.seconds = wall.perf_counter() - started
    return report


def parse_file(
    raw: VendorRows, layout: Layout, config: TradingConfig, report: ImportReport
) -> pa.Table:
    """One file's rows as chain_snapshots columns (without run_id), bad rows left out."""
    cols = layout.columns

    def text(field_name: str) -> pa.ChunkedArray:
        return raw.column(cols[field_name])

    def number(header: str, label: str) -> np.ndarray:
        values, count = raw.numbers(header)
        if count:
            report.repaired[f"text_in_{label}_treated_as_missing"] += count
        return values

    underlying = by_distinct(
        text("underlying"),
        lambda t: pc.replace_substring_regex(
            pc.utf8_upper(pc.utf8_trim_whitespace(t)), r"^[\^$]", ""
        ),
    )
    quote_date = parse_dates(text("quote_date"))
    expiration = parse_dates(text("expiration"))
    right = parse_rights(text("option_type"))
    strike = number(cols["strike"], "strike")
    bid = number(cols["bid"], "bid")
    ask = number(cols["ask"], "ask")
    spot = number(cols["underlying_price"], "underlying_price")
    if layout.underlying_mid:
        u_bid = number(layout.underlying_mid[0], "underlying_bid")
        u_ask = number(layout.underlying_mid[1], "underlying_ask")
        quoted = np.isfinite(u_bid) & np.isfinite(u_ask) & (u_bid > 0) & (u_ask >= u_bid)
        spot = np.where(quoted, (u_bid + u_ask) / 2.0, spot)
    vendor_iv = (
        number(cols["implied_volatility"], "implied_volatility")
        if "implied_volatility" in cols
        else np.full(raw.num_rows, np.nan)
    )
    qd = _days(quote_date)
    ex = _days(expiration)
    root = root_column(raw, layout, underlying, ex)
    # Symbol and root pairs are a few dozen in any file: judged, styled and given their
    # dividend yield once each, then spread back to the rows by index.
    pairs, pair_of_row = distinct_pairs(underlying, pc.fill_null(root, ""))
    is_call_valid = pc.is_valid(right).to_numpy(zero_copy_only=False)
    reasons = (
        pc.equal(pc.utf8_length(underlying), 0).to_numpy(zero_copy_only=False),
        qd < 0,
        ex < 0,
        ~is_call_valid,
        ~(np.isfinite(strike) & (strike > 0)),
        ~(np.isfinite(spot) & (spot > 0)),
        (ex >= 0) & (qd >= 0) & (ex < qd),
        nonstandard_roots(pairs, pair_of_row),
    )
    dropped = np.zeros(raw.num_rows, dtype=bool)
    for reason, mask in zip(DROP_REASONS, reasons, strict=True):
        fresh = mask & ~dropped
        if fresh.any():
            report.bad.add(
                reason,
                int(fresh.sum()),
                raw.samples(fresh),
            )
        dropped |= fresh
    keep = ~dropped
    if dropped.any():
        keep_arrow = pa.array(keep)
        underlying, root, right = (c.filter(keep_arrow) for c in (underlying, root, right))
        qd, ex, pair_of_row = qd[keep], ex[keep], pair_of_row[keep]
        strike, bid, ask, spot, vendor_iv = (a[keep] for a in (strike, bid, ask, spot, vendor_iv))
    is_call = right.to_numpy(zero_copy_only=False).astype(bool)

    snapshot_us = snapshot_times(qd, layout)
    expiry_close_us = expiry_closes(ex)
    t = np.maximum(expiry_close_us - snapshot_us, 0) / 1e6 / SECONDS_PER_YEAR
    dividends = config.risk.dividend_yields
    q = np.array([dividends.get(symbol, 0.0) for symbol, _ in pairs])[pair_of_row]
    rate = config.risk.risk_free_rate
    iv = implied_vols(vendor_iv, bid, ask, spot, strike, t, rate, q, is_call, report)
    greeks = bsm_greeks(spot, strike, t, rate, q, iv, is_call)
    styles = _styles(pairs, pair_of_row)
    n = int(keep.sum())
    time_col = pa.array(snapshot_us, type=pa.timestamp("us")).cast(TIME)
    date_text = by_distinct(time_col, lambda t: pc.strftime(t, format="%Y-%m-%d"))
    mid_ok = np.isfinite(bid) & np.isfinite(ask)
    return pa.table(
        {
            "time": time_col,
            "underlying": underlying,
            "date": date_text,
            "spot": pa.array(spot, pa.float64()),
            "expiry": pa.array(ex.astype("int32"), pa.int32()).cast(pa.date32()),
            "strike": pa.array(strike, pa.float64()),
            "right": pc.if_else(pa.array(is_call), "C", "P"),
            "bid": pa.array(np.where(np.isfinite(bid), bid, np.nan), pa.float64()),
            "ask": pa.array(np.where(np.isfinite(ask), ask, np.nan), pa.float64()),
            "iv": pa.array(iv, pa.float64()),
            "delta": pa.array(greeks.delta, pa.float64()),
            "gamma": pa.array(greeks.gamma, pa.float64()),
            "vega": pa.array(greeks.vega, pa.float64()),
            "theta": pa.array(greeks.theta, pa.float64()),
            "valid": pa.array(mid_ok & np.isfinite(iv)),
            "quote_time": time_col,
            "multiplier": pa.repeat(pa.scalar(100, pa.int64()), n),
            "exercise_style": styles[0],
            "settlement": styles[1],
            "root": root,
            "dividend_yield": pa.array(q, pa.float64()),
        }
    )


def root_column(
    raw: VendorRows, layout: Layout, underlying: pa.ChunkedArray, expiry_days: np.ndarray
) -> pa.ChunkedArray:
    """The option root of every row (SPX vs SPXW). Where the file names none, the root
    the underlying lists on that expiry (:func:`v6.market.index_roots.listed_roots`: an
    SPX row expiring on the third Friday is SPX, AM-settled, on any other day SPXW)."""
    header = layout.columns.get("root")
    if header is None:
        return pa.chunked_array([default_roots(underlying, expiry_days)], pa.string())

    def roots(values: pa.Array) -> pa.Array:
        text = pc.utf8_upper(pc.utf8_trim_whitespace(values))
        if layout.root_from_symbol:  # SPXW160115C02000000 -> SPXW, SPY1160115P... -> SPY1
            # The root is what precedes the OCC tail (yymmdd, C or P, strike x 1000 in
            # eight digits), digits included (an adjusted SPY1); else its leading letters.
            occ = r"^(?P<root>[A-Z0-9./]+?)\s*\d{6}[CP]\d{8}$"
            whole = pc.struct_field(pc.extract_regex(text, occ), "root")
            letters = pc.struct_field(pc.extract_regex(text, r"^(?P<root>[A-Z]*)"), "root")
            text = pc.coalesce(whole, letters)
        return text

    text = by_distinct(raw.column(header), roots)
    missing = pc.or_kleene(pc.equal(pc.utf8_length(text), 0), pc.is_null(text))
    if not pc.any(missing).as_py():  # the usual file: every row names its root
        return text
    return pc.if_else(missing, default_roots(underlying, expiry_days), text)


def nonstandard_roots(pairs: list[tuple[str, str]], pair_of_row: np.ndarray) -> np.ndarray:
    """True where a physically settled option's root is not its underlying's symbol.

    An ETF or stock option under another root (SPY1, SPY2: an adjusted option after a
    special dividend, a split or a merger) delivers something other than 100 shares of
    the underlying; imported as a standard option it would be priced and settled wrongly
    and could win a clash with the real one. Such rows are left out (``nonstandard_root``).
    Cash-settled index roots (SPX, SPXW, ...) are judged by their own table.
    ``pairs`` are the distinct (underlying, root) pairs, ``pair_of_row`` each row's.
    """
    bad = []
    for pair in _joined(pairs):
        symbol, name = pair.split("|", 1)
        physical = not contract_spec(symbol, name or None).cash_settled
        bad.append(physical and _letters(name or symbol) != _letters(symbol))
    if not bad:
        return np.zeros(len(pair_of_row), dtype=bool)
    return np.array(bad, dtype=bool)[pair_of_row]


def _joined(pairs: list[tuple[str, str]]) -> list[str]:
    """``underlying|root`` of each pair (split again on the first ``|``, as ever)."""
    return [f"{a}|{b}" for a, b in pairs]


def distinct_pairs(
    first: pa.ChunkedArray | pa.Array, second: pa.ChunkedArray | pa.Array
) -> tuple[list[tuple[str, str]], np.ndarray]:
    """The distinct (first, second) pairs of two text columns without nulls, and each
    row's index into them.

    Half a million rows hold a few dozen symbol and root (or date) pairs: encoding each
    column and combining the codes costs far less than joining every row's strings.
    """
    a = _encoded(first)
    b = _encoded(second)
    width = len(b.dictionary)
    codes = a.indices.to_numpy(zero_copy_only=False).astype(np.int64) * width
    codes += b.indices.to_numpy(zero_copy_only=False)
    encoded = pc.dictionary_encode(pa.array(codes))
    a_text = a.dictionary.to_pylist()
    b_text = b.dictionary.to_pylist()
    pairs = [(a_text[c // width], b_text[c % width]) for c in encoded.dictionary.to_pylist()]
    return pairs, encoded.indices.to_numpy(zero_copy_only=False)


def _encoded(column: pa.ChunkedArray | pa.Array) -> pa.DictionaryArray:
    encoded = pc.dictionary_encode(column)
    return encoded.combine_chunks() if isinstance(encoded, pa.ChunkedArray) else encoded


def _letters(symbol: str) -> str:
    """A symbol without punctuation or case: BRK.B, BRK/B and brkb are one."""
    return "".join(c for c in symbol.upper() if c.isalnum())


def default_roots(underlying: pa.ChunkedArray, expiry_days: np.ndarray) -> pa.Array:
    """The listed root of every row by its underlying and expiry, one call per symbol."""
    encoded = pc.dictionary_encode(underlying).combine_chunks()
    indices = encoded.indices.to_numpy(zero_copy_only=False)
    out = np.empty(len(indices), dtype=object)
    for i, symbol in enumerate(encoded.dictionary.to_pylist()):
        rows = indices == i
        out[rows] = listed_roots(symbol, expiry_days[rows])
    return pa.array(out, pa.string())


def implied_vols(
    vendor_iv: np.ndarray,
    bid: np.ndarray,
    ask: np.ndarray,
    spot: np.ndarray,
    strike: np.ndarray,
    t: np.ndarray,
    rate: float,
    q: np.ndarray,
    is_call: np.ndarray,
    report: ImportReport,
) -> np.ndarray:
    """The vendor's IV where it is a real one, else the IV of the mid (NaN if none fits)."""
    usable = np.isfinite(vendor_iv) & (vendor_iv > 0) & (vendor_iv <= MAX_IV)
    iv = np.where(usable, vendor_iv, np.nan)
    need = ~usable
    if need.any():
        with np.errstate(invalid="ignore"):
            mid = np.where(
                np.isfinite(bid) & np.isfinite(ask) & (ask > 0) & (bid >= 0),
                (bid + ask) / 2.0,
                np.nan,
            )
        solved, _ = greeks_from_mid(
            mid[need], spot[need], strike[need], t[need], rate, q[need], is_call[need]
        )
        iv[need] = solved
        report.repaired["implied_volatility_solved_from_the_mid"] += int(np.isfinite(solved).sum())
        unsolved = int((~np.isfinite(solved)).sum())
        if unsolved:
            report.repaired["implied_volatility_unknown_no_mid_fits"] += unsolved
    return iv


def snapshot_times(days: np.ndarray, layout: Layout) -> np.ndarray:
    """UTC microseconds of each quote date's snapshot (vendor time, New York)."""
    return _new_york_stamps(days, layout.snapshot_time)


def expiry_closes(days: np.ndarray) -> np.ndarray:
    """UTC microseconds of each expiry's 16:00 New York close."""
    return _new_york_stamps(days, EXPIRY_CLOSE)


def _new_york_stamps(days: np.ndarray, at: time) -> np.ndarray:
    """UTC microseconds of ``at`` New York on each day (days since 1970), one time-zone
    conversion per distinct day."""
    if not days.size:
        return np.empty(0, dtype=np.int64)
    encoded = pc.dictionary_encode(pa.array(days, pa.int64()))
    stamps = np.array(
        [
            int(
                datetime.combine(date(1970, 1, 1) + timedelta(days=d), at, NEW_YORK).timestamp()
                * 1_000_000
            )
            for d in encoded.dictionary.to_pylist()
        ],
        dtype=np.int64,
    )
    return stamps[encoded.indices.to_numpy(zero_copy_only=False)]


def drop_duplicates(table: pa.Table, report: ImportReport) -> pa.Table:
    """One row per contract and snapshot. Where roots collide (SPX AM and SPXW PM share
    the third Friday), the PM-settled weekly is kept; every row left out is counted."""
    if table.num_rows == 0 or not has_repeats(table):
        return table
    under = pc.dictionary_encode(table.column("underlying")).combine_chunks()
    codes = under.indices.to_numpy(zero_copy_only=False)
    t = table.column("time").cast(pa.int64()).to_numpy()
    ex = table.column("expiry").cast(pa.int32()).to_numpy()
    strike = np.rint(table.column("strike").to_numpy() * 1000).astype(np.int64)
    call = pc.equal(table.column("right"), "C").to_numpy(zero_copy_only=False)
    pm_first = pc.not_equal(table.column("settlement"), "cash_pm").to_numpy(zero_copy_only=False)
    order = np.lexsort((pm_first, call, strike, ex, t, codes))
    keys = np.stack([codes, t, ex, strike, call], axis=1)[order]
    repeat = np.zeros(len(order), dtype=bool)
    repeat[1:] = (keys[1:] == keys[:-1]).all(axis=1)
    if repeat.any():
        dup_rows = order[repeat]
        sample = table.take(pa.array(dup_rows[:SAMPLES_PER_REASON]))
        samples = [
            f"{r['underlying']} {r['root']} {r['date']} {r['expiry']} {r['strike']} {r['right']}"
            for r in sample.to_pylist()
        ]
        report.bad.add("duplicate_contract", int(repeat.sum()), samples)
    if not repeat.any():
        return table
    return table.take(pa.array(np.sort(order[~repeat])))


def has_repeats(table: pa.Table) -> bool:
    """True if two rows may be one contract at one snapshot (underlying, time, expiry,
    strike to a thousandth, right): each row's contract as one integer, sorted once, so
    the usual file, which has none, skips the six-key sort of :func:`drop_duplicates`."""
    strike = np.rint(table.column("strike").to_numpy() * 1000).astype(np.int64)
    code = pc.equal(table.column("right"), "C").to_numpy(zero_copy_only=False).astype(np.int64)
    room = 2
    for column in (
        table.column("underlying"),
        table.column("time"),
        table.column("expiry"),
        pa.array(strike),
    ):
        encoded = _encoded(column)
        width = max(len(encoded.dictionary), 1)
        room *= width
        if room >= 1 << 62:  # too many distinct values to code in 64 bits: sort instead
            return True
        code += encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64) * (room // width)
    ordered = np.sort(code)
    return bool((ordered[1:] == ordered[:-1]).any())


def summarise(table: pa.Table, report: ImportReport) -> None:
    report.rows_imported = table.num_rows
    if not table.num_rows:
        return
    pairs, _ = distinct_pairs(table.column("underlying"), table.column("date").cast(pa.string()))
    report.snapshots = len(pairs)
    report.underlyings = tuple(sorted({symbol for symbol, _ in pairs}))
    times = table.column("time")
    report.first_date = pc.min(times).as_py().astimezone(NEW_YORK).date()
    report.last_date = pc.max(times).as_py().astimezone(NEW_YORK).date()


def write(table: pa.Table, store_path: str | Path, report: ImportReport) -> None:
    """One commit under the store's writer lock, after refusing snapshots already there."""
    run_id = import_run_id(table, report.format)
    table = table.append_column("run_id", pa.repeat(pa.scalar(run_id), table.num_rows))
    table = table.select(CHAIN_SNAPSHOTS.names)
    store = DeltaStore(store_path)
    with WriterLock(store_path, run_id):
        refuse_existing(store, table)
        store.append(TABLE, table)
        store.flush([TABLE])


def import_run_id(table: pa.Table, format_name: str) -> str:
    digest = hashlib.sha256(format_name.encode())
    digest.update(str(table.num_rows).encode())
    digest.update(str(pc.min(table.column("time")).as_py()).encode())
    digest.update(str(pc.max(table.column("time")).as_py()).encode())
    return f"import-{format_name}-{digest.hexdigest()[:10]}"


def refuse_existing(store: DeltaStore, table: pa.Table) -> None:
    """ImportConflictError if the store already has a snapshot of an (underlying, date)."""
    if not store.exists(TABLE):
        return
    actions = DeltaTable(str(store.path(TABLE))).get_add_actions(flatten=True)
    have = set(
        zip(
            actions.column("partition.underlying").to_pylist(),
            actions.column("partition.date").to_pylist(),
            strict=True,
        )
    )
    keys = pc.unique(
        pc.binary_join_element_wise(table.column("underlying"), table.column("date"), "|")
    ).to_pylist()
    new = {tuple(k.split("|", 1)) for k in keys}
    clash = sorted(new & have)
    if clash:
        first = f"{clash[0][0]} on {clash[0][1]}"
        more = f" and {len(clash) - 1} more" if len(clash) > 1 else ""
        raise ImportConflictError(
            f"{store.root} already holds chain snapshots of {first}{more}: "
            "nothing was imported (import into another --store, or leave those files out)"
        )


def _days(dates: pa.ChunkedArray) -> np.ndarray:
    """date32 as days since 1970 (-1 where null)."""
    values = pc.fill_null(dates.cast(pa.int32()), -1)
    return values.to_numpy(zero_copy_only=False).astype(np.int64)


def _styles(pairs: list[tuple[str, str]], pair_of_row: np.ndarray) -> tuple[pa.Array, pa.Array]:
    """Exercise style and settlement of every row, from its (underlying, root) pair
    (pairs no row has, those of rows left out, are skipped)."""
    used = np.zeros(len(pairs), dtype=bool)
    used[pair_of_row] = True
    specs = [
        contract_spec(*p.split("|", 1)) if has else None
        for p, has in zip(_joined(pairs), used.tolist(), strict=True)
    ]
    rows = pa.array(pair_of_row)
    style = pa.array([s.exercise_style if s else None for s in specs], pa.string())
    settle = pa.array([s.settlement if s else None for s in specs], pa.string())
    return style.take(rows), settle.take(rows)
