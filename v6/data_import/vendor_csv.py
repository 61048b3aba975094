"""Read one vendor CSV into typed Arrow columns, counting every row that cannot be used.

Vendor files are dirty in known ways, all handled here with vectorised Arrow compute
(no Python loop over rows):

* a UTF-8 byte-order mark and header names with stray spaces or capitals;
* dates as ``2016-01-04``, ``01/04/2016``, ``1/4/2016`` or ``1/4/2016 0:00:00``;
* numbers with spaces around them, or text where a number belongs;
* lines with the wrong number of fields.

A row whose contract cannot be known (no parsable date, expiry, strike, option type or
underlying price) is counted under a reason with a sample and left out; a row with a
bad *quote* (a zero or crossed bid, a missing Greek) is kept: the data-quality gate
judges quotes at replay time, and V6's pricer fills in missing Greeks at import.
A file whose header lacks a column of its layout is refused before anything is read.
"""

from __future__ import annotations

import codecs
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
from attrs import define, field

from v6.data_import.layouts import NUMERIC, Layout, LayoutError

SAMPLES_PER_REASON = 3
SAMPLE_COLUMNS = 8  # a sample of a bad row shows the first columns the layout reads
DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%Y%m%d")
_NUMBER = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_BLOCK = 16 << 20  # 16 MiB blocks: few enough for speed, small enough for memory
# Text columns repeat a few values (symbols, dates, C and P): read as a dictionary they
# come out already encoded, as :func:`by_distinct` needs them.
_TEXT = pa.dictionary(pa.int32(), pa.string())


@define
class BadRows:
    """Rows left out, counted by reason, with a few samples of each (``file:line ...``)."""

    counts: Counter[str] = field(factory=Counter)
    samples: dict[str, list[str]] = field(factory=dict)

    def add(self, reason: str, count: int, samples: list[str]) -> None:
        if count <= 0:
            return
        self.counts[reason] += count
        kept = self.samples.setdefault(reason, [])
        kept.extend(samples[: SAMPLES_PER_REASON - len(kept)])

    def merge(self, other: BadRows) -> None:
        for reason, count in other.counts.items():
            self.add(reason, count, other.samples.get(reason, []))

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def read_header(path: Path) -> list[str]:
    """The file's column names: BOM removed, stripped, lower case."""
    try:
        with path.open("rb") as handle:
            first = handle.readline(1 << 20)
    except OSError as exc:
        raise LayoutError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if first.startswith(codecs.BOM_UTF8):
        first = first[len(codecs.BOM_UTF8) :]
    try:
        text = first.decode("utf-8")
    except UnicodeDecodeError:
        raise LayoutError(f"{path}: not a UTF-8 CSV file (its first line is binary)") from None
    return [name.strip().strip('"').strip().lower() for name in text.rstrip("\r\n").split(",")]


def check_layout(path: Path, layout: Layout) -> list[str]:
    """The header of ``path``; LayoutError if a column the layout needs is missing."""
    header = read_header(path)
    missing = [h for h in layout.required_headers() if h not in header]
    if missing:
        raise LayoutError(
            f"{path} is not a {layout.name} file: no column {', '.join(missing)} "
            f"(its header starts {', '.join(header[:6])}); nothing was imported"
        )
    dupes = sorted({h for h in header if header.count(h) > 1 and h in layout.headers()})
    if dupes:
        raise LayoutError(f"{path}: column {', '.join(dupes)} appears twice; nothing was imported")
    return header


@define
class VendorRows:
    """One file's rows as read: text columns as the vendor wrote them, numbers as float64.

    ``bad_text`` counts, by header, the values that were text where a number belongs
    (treated as missing). ``samples`` names the first few rows of a mask in the vendor's
    own words (``file row N: col='value' ...``), whichever way the file was read.
    """

    path: Path
    names: list[str]  # every column of the file, as read
    table: pa.Table
    bad_text: dict[str, int]
    sample_columns: list[str]
    text: pa.Table | None = None  # the sample columns as strings; read when first needed

    @property
    def num_rows(self) -> int:
        return self.table.num_rows

    def column(self, header: str) -> pa.ChunkedArray:
        """A text column as the vendor wrote it (strings, or a dictionary of them)."""
        return self.table.column(header)

    def numbers(self, header: str) -> tuple[np.ndarray, int]:
        """A numeric column as float64 (NaN where missing) and how many of its values
        were text where a number belongs (treated as missing)."""
        column = self.table.column(header)
        bad = self.bad_text.get(header, 0)
        if not pa.types.is_floating(column.type):  # a header the layout also reads as text
            column, mask = parse_numbers(column.cast(pa.string()))
            bad = int(pc.sum(mask).as_py() or 0)
        return column.to_numpy(zero_copy_only=False).astype(np.float64), bad

    def samples(self, mask: np.ndarray) -> list[str]:
        if self.text is None:
            self.text = _read_text(self.path, self.names, self.sample_columns)
        return samples_of(self.path, self.text, mask, self.sample_columns)


def read_table(path: Path, layout: Layout, header: list[str], bad: BadRows) -> VendorRows:
    """Every column the layout uses, text as strings and numbers as float64, with
    malformed lines counted.

    The header is the cleaned one (BOM, spaces, case), so it is passed as the column
    names and the file's own first line skipped. A clean file (every line whole, every
    number a plain one) is read in one typed pass; any other is read again as text,
    line by line where lines are malformed, and its numbers cleaned column by column.
    Both ways give the same rows and values.
    """
    names = [h if h else f"_unnamed_{i}" for i, h in enumerate(header)]
    headers = layout.headers()
    wanted = [h for h in names if h in headers]
    sample_columns = wanted[:SAMPLE_COLUMNS]
    numbers = layout.number_headers()
    # The vendor's Greeks are not read (V6 prices its own) unless a sample shows them.
    needed = numbers | layout.text_headers() | set(sample_columns)
    used = [h for h in wanted if h in needed]
    try:
        table = pv.read_csv(
            path,
            read_options=_read_options(names),
            convert_options=pv.ConvertOptions(
                include_columns=used,
                column_types={h: pa.float64() if h in numbers else _TEXT for h in used},
                strings_can_be_null=False,
                null_values=[""],  # only empty is missing: anything else goes the slow way
            ),
        )
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError):
        pass  # a malformed line, text in a number, or unreadable: read it as text
    else:
        return VendorRows(path, names, table, {}, sample_columns)
    text = _read_strings(path, names, used, bad)
    arrays, bad_text = [], {}
    for h in used:
        column = text.column(h)
        if h in numbers:
            column, bad_mask = parse_numbers(column)
            count = int(pc.sum(bad_mask).as_py() or 0)
            if count:
                bad_text[h] = count
        arrays.append(column)
    typed = pa.table(arrays, names=used)
    return VendorRows(path, names, typed, bad_text, sample_columns, text.select(sample_columns))


def _read_options(names: list[str]) -> pv.ReadOptions:
    return pv.ReadOptions(column_names=names, skip_rows=1, block_size=_BLOCK, use_threads=True)


def _read_strings(path: Path, names: list[str], used: list[str], bad: BadRows) -> pa.Table:
    """``used`` as strings, every malformed line skipped and counted with samples."""
    malformed: list[str] = []
    malformed_count = [0]

    def on_invalid(row: pv.InvalidRow) -> str:
        if len(malformed) < SAMPLES_PER_REASON:
            text = (row.text or "")[:120]
            malformed.append(f"{path.name} line {row.number}: {text}")
        malformed_count[0] += 1
        return "skip"

    try:
        table = pv.read_csv(
            path,
            read_options=_read_options(names),
            parse_options=pv.ParseOptions(invalid_row_handler=on_invalid),
            convert_options=pv.ConvertOptions(
                include_columns=used,
                column_types={name: pa.string() for name in used},
                strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as exc:
        raise LayoutError(f"{path}: unreadable as CSV ({str(exc).splitlines()[0]})") from None
    bad.add("malformed_line", malformed_count[0], malformed)
    return table


def _read_text(path: Path, names: list[str], columns: list[str]) -> pa.Table:
    """``columns`` of a file that read cleanly, as strings (for samples of bad rows)."""
    try:
        return pv.read_csv(
            path,
            read_options=_read_options(names),
            convert_options=pv.ConvertOptions(
                include_columns=columns,
                column_types={name: pa.string() for name in columns},
                strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as exc:  # changed since read
        raise LayoutError(f"{path}: unreadable as CSV ({str(exc).splitlines()[0]})") from None


def parse_numbers(column: pa.ChunkedArray) -> tuple[pa.ChunkedArray, pa.ChunkedArray]:
    """Float64 values (null where empty or not a number) and a mask of text that was not
    a number (empty is missing, not bad)."""
    text = pc.utf8_trim_whitespace(column)
    empty = pc.equal(pc.utf8_length(text), 0)
    try:  # the fast path: every value is a number or empty
        values = pc.cast(pc.if_else(empty, pa.scalar(None, pa.string()), text), pa.float64())
        return values, pc.and_(empty, pa.scalar(False))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    lowered = pc.utf8_lower(text)
    nan_words = pc.is_in(lowered, value_set=pa.array(["nan", "na", "n/a", "null", "none", "-"]))
    number = pc.match_substring_regex(text, _NUMBER)
    values = pc.cast(pc.if_else(number, text, pa.scalar(None, pa.string())), pa.float64())
    bad = pc.and_(pc.invert(number), pc.invert(pc.or_(empty, nan_words)))
    return values, bad


def by_distinct(
    column: pa.ChunkedArray | pa.Array, parse: Callable[[pa.Array], pa.Array]
) -> pa.ChunkedArray:
    """``parse`` applied to the distinct values of ``column`` only, spread back by index.

    A day's file repeats one quote date, a few expiries and one or two option types
    across its rows: parsing the distinct texts and taking by index is what makes a
    million rows cost milliseconds instead of a second.
    """
    encoded = pc.dictionary_encode(column)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    return pa.chunked_array([pc.take(parse(encoded.dictionary), encoded.indices)])


def _dates(text: pa.Array) -> pa.Array:
    text = pc.replace_substring_regex(pc.utf8_trim_whitespace(text), r"[ T].*$", "")
    parsed = [pc.strptime(text, format=fmt, unit="s", error_is_null=True) for fmt in DATE_FORMATS]
    return pc.cast(pc.coalesce(*parsed), pa.date32())


def parse_dates(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """date32 values in any of the formats vendors use (a time part is dropped); null
    where none fits."""
    return by_distinct(column, _dates)


def _rights(text: pa.Array) -> pa.Array:
    text = pc.utf8_lower(pc.utf8_trim_whitespace(text))
    call = pc.is_in(text, value_set=pa.array(["c", "call", "calls"]))
    put = pc.is_in(text, value_set=pa.array(["p", "put", "puts"]))
    return pc.if_else(call, True, pc.if_else(put, False, pa.scalar(None, pa.bool_())))


def parse_rights(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """True for a call, False for a put, null for anything else (c/p, call/put, any case)."""
    return by_distinct(column, _rights)


def samples_of(path: Path, table: pa.Table, mask: np.ndarray, columns: list[str]) -> list[str]:
    """``file row N: col=value ...`` for the first few rows in ``mask`` (N counts the data
    rows read, after the header; a malformed line left out is not counted)."""
    rows = np.flatnonzero(mask)[:SAMPLES_PER_REASON]
    out = []
    for i in rows.tolist():
        values = " ".join(f"{c}={table.column(c)[i].as_py()!r}" for c in columns)
        out.append(f"{path.name} row {i + 1}: {values}")
    return out


def numeric_fields(layout: Layout) -> list[str]:
    """The numeric fields ``layout`` has a column for."""
    return [f for f in NUMERIC if f in layout.columns]
