"""Run one backtest: config + data store + date range -> summary, report and output store.

:func:`run_backtest` is the whole backtest as one function of plain values, so a sweep
can call it in another process (a Dask worker) with a config, a data path, two dates and
an output directory of its own, and get the summary back as a dict.

It assembles the same :class:`v6.engine.cycle.Engine` a sim or live run uses (same
plugins, decision engine, risk, breakers) over a replay market
(:mod:`v6.backtest.replay_market`), the backtest broker (:mod:`v6.backtest.broker`) and
a batching recorder (:mod:`v6.backtest.recorder`), then cycles once per stored snapshot.

The run id is a digest of the config, the range and the data's table version, and every
time written is the data's, so the same data, config and seed write the same rows.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path
from typing import Any

import attrs
import yaml
from attrs import frozen

from v6.backtest.broker import BacktestBroker
from v6.backtest.recorder import BacktestRecorder
from v6.backtest.replay_market import (
    ReplayClock,
    ReplayData,
    ReplayDataError,
    ReplayMarket,
    stored_days,
)
from v6.backtest.report import write_report
from v6.backtest.summary import read_frames, summarise
from v6.config import Mode, TradingConfig
from v6.conversion import unstructure
from v6.engine.cycle import Engine
from v6.plugin_manager import discover, select
from v6.store.delta_store import DeltaStore
from v6.store.writer_lock import WriterLock

STORE_DIR = "store"
REPORT_FILE = "report.html"
SUMMARY_FILE = "summary.json"


@frozen
class BacktestResult:
    """What a backtest left: its summary, where its tables and report are, its run id."""

    summary: dict[str, Any]
    out: Path
    run_id: str

    @property
    def store(self) -> Path:
        return self.out / STORE_DIR

    @property
    def report(self) -> Path:
        return self.out / REPORT_FILE


Progress = Callable[[int], None]


def backtest_symbols(config: TradingConfig, data: DeltaStore) -> list[str]:
    """The config's underlyings the data holds; ReplayDataError when there are none."""
    held = stored_days(data)
    if not held:
        raise ReplayDataError(
            f"{data.root} holds no chain snapshots (import some with v6 data import)"
        )
    symbols = [s for s in config.underlyings if s in held]
    if not symbols:
        raise ReplayDataError(
            f"{data.root} holds chains of {', '.join(sorted(held))}, none of the config's "
            f"underlyings ({', '.join(config.underlyings)}): list them under 'underlyings'"
        )
    return symbols


def run_id_of(config: TradingConfig, data: DeltaStore, start: date, end: date) -> str:
    """A digest of what decides the backtest's rows: config, range, the data store and
    its table version (so two data sets never share a default output directory)."""
    digest = hashlib.sha256()
    digest.update(yaml.safe_dump(unstructure(config), sort_keys=True).encode())
    where = Path(data.root).resolve()
    digest.update(f"{start}|{end}|{where}|{data.version('chain_snapshots')}".encode())
    return "bt-" + digest.hexdigest()[:12]


def run_backtest(
    config: TradingConfig,
    data_path: str | Path,
    start: date,
    end: date,
    out_dir: str | Path,
    *,
    progress: bool | None = None,
    extra_plugins: Iterable[tuple[str, object]] = (),
) -> BacktestResult:
    """Replay ``data_path``'s chain snapshots from ``start`` to ``end`` (New York dates,
    inclusive) through the engine; write tables under ``out_dir/store``, the summary to
    ``out_dir/summary.json`` and the report to ``out_dir/report.html``.

    ``progress``: a progress bar with ETA on stderr (None: only when stderr is a
    terminal). Raises ReplayDataError (exit status 2) for a range without data, data
    without the config's underlyings, or an ``out_dir`` that already holds a backtest.
    """
    if end < start:
        raise ReplayDataError(f"--to {end} is before --from {start}")
    data = DeltaStore(data_path)
    symbols = backtest_symbols(config, data)
    run_id = run_id_of(config, data, start, end)  # of the config as given (the CLI's --out)
    config = attrs.evolve(config, mode=Mode.SIM, underlyings=symbols)
    out = Path(out_dir)
    store_path = out / STORE_DIR
    if store_path.exists() and any(store_path.iterdir()):
        raise ReplayDataError(
            f"{out} already holds a backtest ({STORE_DIR}/): choose another --out or delete it"
        )
    replay = ReplayData(data, symbols, start, end)
    if not replay.partitions:
        raise ReplayDataError(
            f"{data.root} holds no snapshots of {', '.join(symbols)} from {start} to {end}"
        )
    store_path.mkdir(parents=True, exist_ok=True)
    with WriterLock(store_path, run_id):
        cycles = _replay(config, replay, store_path, run_id, symbols, progress, extra_plugins)
        store = DeltaStore(store_path)
        frames = read_frames(store, run_id)
    summary = summarise(frames, config.sim.initial_cash, config.risk.risk_free_rate)
    summary = {"run_id": run_id, "from": str(start), "to": str(end), **summary}
    summary["snapshots"] = cycles
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    write_report(out / REPORT_FILE, f"V6 backtest {run_id}: {start} to {end}", summary, frames)
    return BacktestResult(summary=summary, out=out, run_id=run_id)


def _replay(
    config: TradingConfig,
    replay: ReplayData,
    store_path: Path,
    run_id: str,
    symbols: list[str],
    progress: bool | None,
    extra_plugins: Iterable[tuple[str, object]],
) -> int:
    """Cycle the engine over every snapshot; returns the number of cycles run."""
    plugins = select(discover(extra=extra_plugins), config.plugins)
    clock = ReplayClock(replay)
    reference = config.risk.beta_reference
    market = ReplayMarket(clock, symbols, reference if reference in symbols else symbols[0])
    store = DeltaStore(store_path)
    recorder = BacktestRecorder(store, config.store, run_id, config.backtest.flush_every_cycles)
    broker = BacktestBroker(
        config.sim.broker,
        config.backtest,
        config.sim.initial_cash,
        config.sim.seed,
        run_id,
        market.settlement,
    )
    engine = Engine(config, plugins, market, broker, recorder)
    config_yaml = yaml.safe_dump(unstructure(config), sort_keys=False)
    bar = _progress_bar(len(replay.partitions), progress)
    first = last = None
    day = None
    try:
        while (now := clock.next_cycle()) is not None:
            if first is None:
                first = now
                recorder.run_event(now, "start", "backtest", config_yaml, config.sim.seed)
            engine.run_cycle(now)
            last = now
            if bar is not None and now.date() != day:
                day = now.date()
                bar.update(1)
        if config.backtest.flatten_at_end and last is not None:
            engine.flatten(last)
    finally:
        if bar is not None:
            bar.close()
        engine.close()
        if last is not None:
            recorder.run_event(
                last, "stop", "backtest", config_yaml, config.sim.seed, f"{clock.cycles} cycles"
            )
    return clock.cycles


def _progress_bar(days: int, progress: bool | None) -> Any:
    """A tqdm bar over the data's days on stderr, only on a terminal unless forced."""
    show = sys.stderr.isatty() if progress is None else progress
    if not show:
        return None
    from tqdm import tqdm

    return tqdm(total=days, unit="day", desc="backtest", file=sys.stderr, dynamic_ncols=True)
