"""The replay market: stored chain snapshots served through the engine's market port.

:class:`ReplayMarket` implements :class:`v6.ports.MarketData` like the simulated market,
and :class:`ReplayClock` the :class:`v6.ports.Clock`: cycles follow the data, one per
snapshot time (one a day for end-of-day data, one per recorded cycle for chains a sim,
paper or live run stored). Quotes arrive raw: the engine's data-quality gate judges them
exactly as it judges live ones.

Snapshots are read a block of dates at a time (``dates_per_read``), straight from the
parquet files of the table's current version, so memory stays flat
however long the backtest is, and each block is cut into per-snapshot chains with one
sort and array slices, never a Python loop over options. The next block is read and
sorted on a background thread while the engine replays the current one (pyarrow and
NumPy release the GIL, so on a second core the reading costs the engine nothing).

Where the data has no VIX series (vendor files have none), the market's ``vix`` is the
30-day at-the-money implied volatility of a reference underlying in points (``risk.
beta_reference`` when the data has it, else the first symbol): the same quantity VIX
measures for SPX, so the regime detector's VIX bands and jump test see a shock in the data.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from attrs import frozen
from deltalake import DeltaTable

from v6.domain.market import MarketView, OptionChain, UnderlyingQuote
from v6.engine.history import atm_iv
from v6.errors import V6Error
from v6.store.delta_store import DeltaStore
from v6.store.rows import contract_styles
from v6.store.schemas import CHAIN_SNAPSHOTS

NEW_YORK = ZoneInfo("America/New_York")
TABLE = "chain_snapshots"
COLUMNS = [
    "time",
    "underlying",
    "spot",
    "expiry",
    "strike",
    "right",
    "bid",
    "ask",
    "iv",
    "delta",
    "gamma",
    "vega",
    "theta",
    "quote_time",
    "multiplier",
    "settlement",
    "dividend_yield",
    "run_id",
]
DICTIONARY = pa.dictionary(pa.int32(), pa.string())
# Columns every file has (required since the first schema), read as dictionaries.
READ_AS_DICTIONARY = ["right", "run_id"]
PARQUET = ds.ParquetFileFormat(
    read_options=ds.ParquetReadOptions(dictionary_columns=READ_AS_DICTIONARY)
)
# What is read of each data file: the replay's columns but the underlying (the file's
# partition), every one nullable (a file may predate it).
FILE_SCHEMA = pa.schema(
    [
        pa.field(name, DICTIONARY)
        if name in READ_AS_DICTIONARY
        else CHAIN_SNAPSHOTS.field(name).with_nullable(True)
        for name in COLUMNS
        if name != "underlying"
    ]
)


class ReplayDataError(V6Error):
    """The data store cannot be replayed over the dates asked for (exit status 2)."""

    exit_status = 2


@frozen(slots=True, eq=False)
class Snapshot:
    """Every chain of one snapshot time, and how each expiry of each underlying settles."""

    time: datetime
    chains: dict[str, OptionChain]
    settlements: dict[tuple[str, date], str]


@frozen(slots=True)
class DataFile:
    """One data file of the current table version, with its partition values."""

    underlying: str
    day: str  # the UTC date partition, YYYY-MM-DD
    path: Path


def data_files(store: DeltaStore) -> list[DataFile]:
    """The files of the table's current version, from its log alone."""
    if not store.exists(TABLE):
        return []
    root = store.path(TABLE)
    actions = DeltaTable(str(root)).get_add_actions(flatten=True)
    return [
        DataFile(underlying, day, root / unquote(str(path)))
        for underlying, day, path in zip(
            actions.column("partition.underlying").to_pylist(),
            actions.column("partition.date").to_pylist(),
            actions.column("path").to_pylist(),
            strict=True,
        )
    ]


def stored_days(store: DeltaStore) -> dict[str, set[str]]:
    """Partition dates (UTC, YYYY-MM-DD) per underlying, from the table's log alone."""
    days: dict[str, set[str]] = {}
    for file in data_files(store):
        days.setdefault(file.underlying, set()).add(file.day)
    return days


class ReplayData:
    """The snapshots of ``symbols`` between two New York dates, in time order."""

    def __init__(
        self,
        store: DeltaStore,
        symbols: Sequence[str],
        start: date,
        end: date,
        *,
        dates_per_read: int = 20,
    ) -> None:
        self.store = store
        self.symbols = list(symbols)
        self.start = start
        self.end = end
        self.dates_per_read = dates_per_read
        # UTC partition dates around the New York range (a snapshot late in the New York
        # evening is on the next UTC date); rows are filtered on New York dates below.
        low = (start - timedelta(days=1)).isoformat()
        high = (end + timedelta(days=1)).isoformat()
        wanted = set(self.symbols)
        self.files = [
            f for f in data_files(store) if f.underlying in wanted and low <= f.day <= high
        ]
        self.partitions = sorted({f.day for f in self.files})

    def __iter__(self) -> Iterator[Snapshot]:
        """The snapshots. Each block is read and sorted on a thread of its own while the
        caller replays the block before it: the scan and the array work release the GIL,
        so they overlap the engine, and only the chains are made here. At most one block
        is read ahead, so memory stays flat, and no thread outlives the iteration."""
        blocks = [
            self.partitions[i : i + self.dates_per_read]
            for i in range(0, len(self.partitions), self.dates_per_read)
        ]
        ahead: _Prefetch | None = None
        try:
            for i, days in enumerate(blocks):
                cut = ahead.result() if ahead is not None else self._prepare(days)
                ahead = _Prefetch(self._prepare, blocks[i + 1]) if i + 1 < len(blocks) else None
                if cut is not None:
                    yield from cut.snapshots()
        finally:
            if ahead is not None:  # abandoned early: the read under way ends here
                ahead.join()

    def _read(self, days: list[str]) -> pa.Table:
        """The rows of ``days``, read straight from the version's parquet files (the
        Delta scan's partition pruning cost more than the reading at this size) in one
        scan that holds the GIL only to start and to end: read on the prefetch thread,
        it overlaps the engine instead of taking turns with it."""
        block = set(days)
        paths = [str(f.path) for f in self.files if f.day in block]
        start = datetime.combine(self.start, datetime.min.time(), NEW_YORK).astimezone(UTC)
        end = datetime.combine(
            self.end + timedelta(days=1), datetime.min.time(), NEW_YORK
        ).astimezone(UTC)
        try:
            # Columns a file predates read as nulls, and the underlying comes from each
            # file's partition directory.
            dataset = ds.dataset(
                paths,
                schema=FILE_SCHEMA.append(pa.field("underlying", pa.string())),
                format=PARQUET,
                partitioning=ds.partitioning(
                    pa.schema([("underlying", pa.string())]), flavor="hive"
                ),
                partition_base_dir=str(self.store.path(TABLE)),
            )
            times = ds.field("time")
            return dataset.to_table(
                columns=COLUMNS, filter=(times >= start) & (times < end), use_threads=False
            )
        except (OSError, pa.ArrowException) as exc:
            raise ReplayDataError(
                f"{self.store.root}: chain_snapshots is unreadable ({str(exc).splitlines()[0]})"
            ) from None

    def _prepare(self, days: list[str]) -> _Block | None:
        return _cut(self._read(days))


def _cut(table: pa.Table) -> _Block | None:
    """A block's rows sorted into chains with whole-array operations (they release the
    GIL, so on the prefetch thread they overlap the engine), None for no rows."""
    if table.num_rows == 0:
        return None
    t = table.column("time").cast(pa.int64()).to_numpy()
    u_names, u_codes = _codes(table.column("underlying"))
    # Underlyings in the order they first appear (the files' order).
    runs_start = np.flatnonzero(np.diff(u_codes, prepend=-1))
    first_seen = list(dict.fromkeys(u_codes[runs_start].tolist()))
    u_rank = np.zeros(len(u_names) + 1, dtype=np.int64)
    u_rank[first_seen] = np.arange(len(first_seen))
    u_codes = u_rank[u_codes]
    u_names = [u_names[c] for c in first_seen]
    run_names, r_codes = _codes(table.column("run_id"))
    # Order runs by name so the choice below does not depend on file order.
    run_rank = np.argsort(np.argsort(np.array(run_names, dtype=object)))
    r_codes = np.append(run_rank, -1)[r_codes]
    expiry = table.column("expiry").cast(pa.int32()).to_numpy().astype("datetime64[D]")
    strike = _floats(table.column("strike"))
    rights, right_codes = _codes(table.column("right"))
    is_call = np.array([r == "C" for r in rights] + [False], dtype=bool)[right_codes]
    keys = [is_call, strike, expiry]
    keys += [k for k in (r_codes, u_codes, t) if k.size and k.min() != k.max()]
    order = np.lexsort(keys)
    t, u_codes, r_codes = t[order], u_codes[order], r_codes[order]
    # One group per (time, underlying). Several runs may have recorded the same
    # simulated time (sim runs start on the same dates): replay one, the first by name.
    new_group = np.ones(len(order), dtype=bool)
    new_group[1:] = (t[1:] != t[:-1]) | (u_codes[1:] != u_codes[:-1])
    starts = np.flatnonzero(new_group)
    if len(run_names) > 1:
        group_start = np.maximum.accumulate(np.where(new_group, np.arange(len(order)), 0))
        same_run = r_codes == r_codes[group_start]
        if not same_run.all():
            order, t, u_codes = order[same_run], t[same_run], u_codes[same_run]
            new_group = new_group[same_run]
            starts = np.flatnonzero(new_group)
    bounds = np.append(starts, len(order))
    cols = {
        name: _floats(table.column(name))[order]
        for name in ("spot", "bid", "ask", "iv", "delta", "gamma", "vega", "theta")
    }
    cols["strike"] = strike[order]
    cols["expiry"] = expiry = expiry[order]
    cols["is_call"] = is_call[order]
    qt = table.column("quote_time")
    if qt.null_count:
        qt = pc.coalesce(qt, table.column("time"))
    cols["quote_time"] = qt.cast(pa.int64()).to_numpy()[order].astype("datetime64[us]")
    mult = _filled(table.column("multiplier"), 100)[order]
    div = _filled(table.column("dividend_yield"), 0.0)[order]
    # How each expiry of each chain settles, from the first row of the expiry.
    first = new_group.copy()
    first[1:] |= expiry[1:] != expiry[:-1]
    firsts = np.flatnonzero(first)
    stored = table.column("settlement").take(order[firsts]).to_pylist()
    first_symbol = u_codes[firsts]
    days = expiry[firsts].tolist()
    symbols = [u_names[c] for c in first_symbol.tolist()]
    for code, symbol in enumerate(u_names):
        rows = np.flatnonzero(first_symbol == code)
        missing = [i for i in rows.tolist() if not (isinstance(stored[i], str) and stored[i])]
        if missing:
            defaults = contract_styles(symbol, expiry[firsts[missing]])[2]
            for i, default in zip(missing, defaults.tolist(), strict=True):
                stored[i] = default
    pairs = list(zip(zip(symbols, days, strict=True), stored, strict=True))
    return _Block(
        t,
        u_codes,
        u_names,
        bounds.tolist(),
        cols,
        mult,
        div,
        pairs,
        np.searchsorted(firsts, bounds).tolist(),
    )


@frozen(slots=True, eq=False)
class _Block:
    """A block's rows in chain order: each (time, underlying) group is one chain."""

    t: np.ndarray
    u_codes: np.ndarray
    u_names: list[str]
    bounds: list[int]  # group g is rows bounds[g]:bounds[g + 1]
    cols: dict[str, np.ndarray]
    mult: np.ndarray
    div: np.ndarray
    pairs: list[tuple[tuple[str, date], str]]  # settlements, group g's from first_bounds[g]
    first_bounds: list[int]

    def snapshots(self) -> Iterator[Snapshot]:
        """One snapshot per time: slices of the block's arrays, no copies."""
        t, u_codes, u_names, cols, mult, div, pairs = (
            self.t,
            self.u_codes,
            self.u_names,
            self.cols,
            self.mult,
            self.div,
            self.pairs,
        )
        bounds_list, first_bounds = self.bounds, self.first_bounds
        current: int | None = None
        chains: dict[str, OptionChain] = {}
        settlements: dict[tuple[str, date], str] = {}
        for g in range(len(bounds_list) - 1):
            lo, hi = bounds_list[g], bounds_list[g + 1]
            stamp = int(t[lo])
            if current is not None and stamp != current:
                yield Snapshot(_utc(current), chains, settlements)
                chains, settlements = {}, {}
            current = stamp
            symbol = u_names[int(u_codes[lo])]
            rows = slice(lo, hi)
            as_of = _utc(stamp)
            chains[symbol] = OptionChain(
                underlying=symbol,
                as_of=as_of,
                spot=float(cols["spot"][lo]),
                expiry=cols["expiry"][rows],
                strike=cols["strike"][rows],
                is_call=cols["is_call"][rows],
                bid=cols["bid"][rows],
                ask=cols["ask"][rows],
                iv=cols["iv"][rows],
                delta=cols["delta"][rows],
                gamma=cols["gamma"][rows],
                vega=cols["vega"][rows],
                theta=cols["theta"][rows],
                quote_time=cols["quote_time"][rows],
                multiplier=int(mult[lo]),
                dividend_yield=float(div[lo]),
            )
            settlements.update(pairs[first_bounds[g] : first_bounds[g + 1]])
        if current is not None:
            yield Snapshot(_utc(current), chains, settlements)


class _Prefetch:
    """``read(days)`` on a thread of its own; ``result`` waits for it and raises what it
    raised (a ReplayDataError reaches the replay's caller as if read in its thread)."""

    def __init__(self, read: Callable[[list[str]], _Block | None], days: list[str]) -> None:
        self._block: _Block | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(read, days), name="replay-prefetch", daemon=True
        )
        self._thread.start()

    def _run(self, read: Callable[[list[str]], _Block | None], days: list[str]) -> None:
        try:
            self._block = read(days)
        except BaseException as exc:  # handed to the caller's thread by result()
            self._error = exc

    def join(self) -> None:
        self._thread.join()

    def result(self) -> _Block | None:
        self._thread.join()
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        return self._block


def _codes(column: pa.ChunkedArray) -> tuple[list[str], np.ndarray]:
    """A string column's distinct values and each row's code into them (nulls: the
    number of values), the codes in the order values first appear unless the column was
    read dictionary-encoded."""
    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column)
    array = column.unify_dictionaries().combine_chunks()
    values = array.dictionary.to_pylist()
    indices = array.indices
    if indices.null_count:
        indices = pc.fill_null(indices, len(values))
    return values, indices.to_numpy().astype(np.int64, copy=False)


def _floats(column: pa.ChunkedArray) -> np.ndarray:
    if column.null_count:
        column = pc.fill_null(column, np.nan)
    return column.to_numpy().astype(np.float64, copy=False)


def _filled(column: pa.ChunkedArray, default: float) -> np.ndarray:
    if column.null_count:
        column = pc.fill_null(column, default)
    return column.to_numpy()


def _utc(micros: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)


class ReplayClock:
    """Engine time from the data: each ``next_cycle`` is the next snapshot's time."""

    def __init__(self, data: ReplayData) -> None:
        self._snapshots = iter(data)
        self.current: Snapshot | None = None
        self.cycles = 0

    def now(self) -> datetime:
        if self.current is None:
            raise ReplayDataError("the replay has not started")
        return self.current.time

    def next_cycle(self) -> datetime | None:
        """The next snapshot's time; None when the data ends (the last snapshot stays
        current, so a final flatten trades on it)."""
        following = next(self._snapshots, None)
        if following is None:
            return None
        self.current = following
        self.cycles += 1
        return following.time


class ReplayMarket:
    """:class:`v6.ports.MarketData` over the clock's current snapshot."""

    def __init__(self, clock: ReplayClock, symbols: Sequence[str], vix_reference: str) -> None:
        self._clock = clock
        self._symbols = list(symbols)
        self.vix_reference = vix_reference
        self.settlements: dict[tuple[str, date], str] = {}
        self._last_vix = float("nan")

    @property
    def symbols(self) -> Sequence[str]:
        return self._symbols

    def snapshot(self, time: datetime) -> MarketView:
        """The stored market at ``time`` (the clock's current snapshot)."""
        snap = self._clock.current
        if snap is None or snap.time != time:
            raise ReplayDataError(f"no stored snapshot at {time.isoformat()}")
        self.settlements.update(snap.settlements)
        underlyings = {
            s: UnderlyingQuote(s, c.spot, c.spot, c.spot, c.as_of) for s, c in snap.chains.items()
        }
        reference = snap.chains.get(self.vix_reference)
        if reference is not None:
            level = atm_iv(reference)
            if np.isfinite(level):
                self._last_vix = 100.0 * level
        return MarketView(
            time=time, underlyings=underlyings, chains=snap.chains, vix=self._last_vix
        )

    def settlement(self, underlying: str, expiry: date) -> str:
        """How options of ``underlying`` expiring on ``expiry`` settle."""
        found = self.settlements.get((underlying, expiry))
        if found is not None:
            return found
        return str(contract_styles(underlying, np.array([expiry], dtype="datetime64[D]"))[2][0])
