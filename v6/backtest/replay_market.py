"""The replay market: stored chain snapshots served through the engine's market port.

:class:`ReplayMarket` implements :class:`v6.ports.MarketData` like the simulated market,
and :class:`ReplayClock` the :class:`v6.ports.Clock`: cycles follow the data, one per
snapshot time (one a day for end-of-day data, one per recorded cycle for chains a sim,
paper or live run stored). Quotes arrive raw: the engine's data-quality gate judges them
exactly as it judges live ones.

Snapshots are read a block of dates at a time (``dates_per_read``), straight from the
parquet files of the table's current version, so memory stays flat
however long the backtest is, and each block is cut into per-snapshot chains with one
sort and array slices, never a Python loop over options.

Where the data has no VIX series (vendor files have none), the market's ``vix`` is the
30-day at-the-money implied volatility of a reference underlying in points (``risk.
beta_reference`` when the data has it, else the first symbol): the same quantity VIX
measures for SPX, so the regime detector's VIX bands and jump test see a shock in the data.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
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
        for i in range(0, len(self.partitions), self.dates_per_read):
            block = self.partitions[i : i + self.dates_per_read]
            yield from self._snapshots(self._read(block))

    def _read(self, days: list[str]) -> pa.Table:
        """The rows of ``days``, read straight from the version's parquet files (the
        Delta scan's partition pruning cost more than the reading at this size)."""
        block = set(days)
        paths = [str(f.path) for f in self.files if f.day in block]
        schema = CHAIN_SNAPSHOTS.remove(CHAIN_SNAPSHOTS.get_field_index("underlying"))
        schema = schema.remove(schema.get_field_index("date"))
        try:
            # One threaded scan of the block's files; columns a file predates read as
            # nulls, and the underlying comes from each file's partition directory.
            dataset = ds.dataset(
                paths,
                schema=schema.append(pa.field("underlying", pa.string())),
                format="parquet",
                partitioning=ds.partitioning(
                    pa.schema([("underlying", pa.string())]), flavor="hive"
                ),
                partition_base_dir=str(self.store.path(TABLE)),
            )
            table = dataset.to_table(columns=COLUMNS)
        except (OSError, pa.ArrowInvalid) as exc:
            raise ReplayDataError(
                f"{self.store.root}: chain_snapshots is unreadable ({str(exc).splitlines()[0]})"
            ) from None
        table = table.select(COLUMNS)
        start = datetime.combine(self.start, datetime.min.time(), NEW_YORK).astimezone(UTC)
        end = datetime.combine(
            self.end + timedelta(days=1), datetime.min.time(), NEW_YORK
        ).astimezone(UTC)
        times = table.column("time")
        keep = pc.and_(pc.greater_equal(times, start), pc.less(times, end))
        return table.filter(keep)

    def _snapshots(self, table: pa.Table) -> Iterator[Snapshot]:
        if table.num_rows == 0:
            return
        t = table.column("time").cast(pa.int64()).to_numpy()
        under = pc.dictionary_encode(table.column("underlying")).combine_chunks()
        u_names = under.dictionary.to_pylist()
        u_codes = under.indices.to_numpy(zero_copy_only=False)
        runs = pc.dictionary_encode(table.column("run_id")).combine_chunks()
        # Order runs by name so the choice below does not depend on file order.
        run_rank = np.argsort(np.argsort(np.array(runs.dictionary.to_pylist(), dtype=object)))
        r_codes = run_rank[runs.indices.to_numpy(zero_copy_only=False)]
        expiry = table.column("expiry").cast(pa.int32()).to_numpy().astype("datetime64[D]")
        strike = table.column("strike").to_numpy()
        is_call = pc.equal(table.column("right"), "C").to_numpy(zero_copy_only=False)
        order = np.lexsort((is_call, strike, expiry, r_codes, u_codes, t))
        t, u_codes, r_codes = t[order], u_codes[order], r_codes[order]
        # One group per (time, underlying). Several runs may have recorded the same
        # simulated time (sim runs start on the same dates): replay one, the first by name.
        new_group = np.ones(len(order), dtype=bool)
        new_group[1:] = (t[1:] != t[:-1]) | (u_codes[1:] != u_codes[:-1])
        starts = np.flatnonzero(new_group)
        group_start = np.maximum.accumulate(np.where(new_group, np.arange(len(order)), 0))
        same_run = r_codes == r_codes[group_start]
        if not same_run.all():
            order, t, u_codes = order[same_run], t[same_run], u_codes[same_run]
            new_group = new_group[same_run]
            starts = np.flatnonzero(new_group)
        bounds = np.append(starts, len(order))
        cols = {
            name: _numpy(table.column(name), order)
            for name in ("spot", "strike", "bid", "ask", "iv", "delta", "gamma", "vega", "theta")
        }
        cols["expiry"] = expiry[order]
        cols["is_call"] = is_call[order]
        qt = table.column("quote_time")
        quote_us = pc.coalesce(qt, table.column("time")).cast(pa.int64()).to_numpy()[order]
        cols["quote_time"] = quote_us.astype("datetime64[us]")
        mult = pc.fill_null(table.column("multiplier"), 100).to_numpy()[order]
        div = pc.fill_null(table.column("dividend_yield"), 0.0).to_numpy()[order]
        settle = table.column("settlement").to_numpy(zero_copy_only=False)[order]
        current: int | None = None
        chains: dict[str, OptionChain] = {}
        settlements: dict[tuple[str, date], str] = {}
        for g in range(len(starts)):
            lo, hi = int(bounds[g]), int(bounds[g + 1])
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
            settlements.update(_settlements(symbol, cols["expiry"][rows], settle[rows]))
        if current is not None:
            yield Snapshot(_utc(current), chains, settlements)


def _numpy(column: pa.ChunkedArray, order: np.ndarray) -> np.ndarray:
    values = pc.fill_null(column, np.nan).to_numpy().astype(np.float64, copy=False)
    return values[order]


def _utc(micros: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)


def _settlements(
    symbol: str, expiry: np.ndarray, settle: np.ndarray
) -> dict[tuple[str, date], str]:
    """How each expiry of ``symbol`` settles: the stored value, else (a store written
    before the column) the style of the root the symbol lists on that expiry."""
    out: dict[tuple[str, date], str] = {}
    distinct, first = np.unique(expiry, return_index=True)
    defaults = contract_styles(symbol, distinct)[2]
    for day, i, default in zip(distinct.tolist(), first.tolist(), defaults, strict=True):
        value = settle[i]
        out[(symbol, day)] = value if isinstance(value, str) and value else default
    return out


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
