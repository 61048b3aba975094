"""A sweep: many backtests over the grid's combinations, results kept, resumable.

Every combination is a task (:mod:`v6.sweep.worker`) with its own backtest directory
``<out>/runs/<period>/<combination id>``; each finished one is committed at once as a
row of ``sweep_results`` in ``<out>/store``. A rerun of the same command on the same
``--out`` reads that table first and sends only the combinations without an ``ok`` row
for the period, so an interrupted sweep (Ctrl-C, SIGTERM, a crash, a power cut) resumes
where it stopped and a failed combination is tried again.

Walk-forward: the combinations run on the in-sample period, the best ``top`` of them
(by the ranking of :mod:`v6.sweep.ranking`) then run on the out-of-sample period.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import attrs
import pandas as pd
import yaml

from v6.config import TradingConfig
from v6.conversion import unstructure
from v6.errors import V6Error
from v6.store.delta_store import DeltaStore
from v6.store.writer_lock import WriterLock
from v6.sweep.execution import run_tasks
from v6.sweep.grid import Settings, combination_id, settings_json
from v6.sweep.ranking import best, latest_rows
from v6.sweep.worker import Task, result_row, run_combination

STORE_DIR = "store"
RUNS_DIR = "runs"
TABLE = "sweep_results"
FULL, IN_SAMPLE, OUT_OF_SAMPLE = "full", "in_sample", "out_of_sample"


class SweepError(V6Error):
    """The sweep cannot run as asked (exit status 2)."""

    exit_status = 2


@attrs.frozen
class Period:
    name: str
    start: date
    end: date


@attrs.frozen
class Combination:
    """One set of settings and the validated config it gives."""

    settings: Settings
    config: TradingConfig

    @property
    def id(self) -> str:
        return combination_id(self.settings)


@attrs.frozen
class SweepPlan:
    """What a sweep runs: fixed before the first backtest, so a rerun finds the same ids."""

    sweep_id: str
    out: Path
    data: Path
    combinations: tuple[Combination, ...]
    periods: tuple[Period, ...]  # (full,) or (in_sample, out_of_sample)
    rank_by: str
    top: int  # combinations carried out of sample

    @property
    def store(self) -> Path:
        return self.out / STORE_DIR


def sweep_id_of(
    base: TradingConfig, data: DeltaStore, start: date, end: date, split: date | None
) -> str:
    """A digest of what decides every combination's result but the combination itself:
    the base config, the data store and its table version, the range and the split."""
    digest = hashlib.sha256()
    digest.update(yaml.safe_dump(unstructure(base), sort_keys=True).encode())
    where = Path(data.root).resolve()
    digest.update(f"{start}|{end}|{split}|{where}|{data.version('chain_snapshots')}".encode())
    return "sw-" + digest.hexdigest()[:12]


def periods_of(start: date, end: date, split: date | None) -> tuple[Period, ...]:
    """The whole range, or in-sample [start, split) and out-of-sample [split, end]."""
    if end < start:
        raise SweepError(f"--to {end} is before --from {start}")
    if split is None:
        return (Period(FULL, start, end),)
    if not start < split <= end:
        raise SweepError(
            f"the walk-forward split {split} must fall after --from {start} and by --to {end}"
        )
    return (Period(IN_SAMPLE, start, split - timedelta(days=1)), Period(OUT_OF_SAMPLE, split, end))


def data_days(data: DeltaStore, start: date, end: date) -> list[str]:
    """The store's snapshot days (any underlying) from ``start`` to ``end``; refuses a
    store without any before a worker starts (each combination would fail the same way)."""
    from v6.backtest.replay_market import stored_days

    held = stored_days(data)
    if not held:
        raise SweepError(f"{data.root} holds no chain snapshots (import some with v6 data import)")
    days = sorted({d for ds in held.values() for d in ds if str(start) <= d <= str(end)})
    if not days:
        raise SweepError(f"{data.root} holds no snapshots from {start} to {end}")
    return days


def split_by_fraction(days: Iterable[str], start: date, end: date, fraction: float) -> date:
    """The first out-of-sample date: ``fraction`` of the data's days in range are in-sample."""
    held = sorted({d for d in days if str(start) <= d <= str(end)})
    if len(held) < 2:
        raise SweepError(
            f"--train-fraction needs at least two days of data from {start} to {end}, "
            f"the store holds {len(held)}"
        )
    index = min(max(1, round(fraction * len(held))), len(held) - 1)
    return date.fromisoformat(held[index])


def read_results(plan: SweepPlan) -> pd.DataFrame:
    """The sweep's rows so far; refuses an ``--out`` that holds another sweep."""
    store = DeltaStore(plan.store)
    if not store.exists(TABLE):
        return pd.DataFrame(columns=store_columns())
    frame = store.read(TABLE)
    others = sorted(set(frame["run_id"]) - {plan.sweep_id})
    if others:
        raise SweepError(
            f"{plan.out} holds sweep {others[0]} (another config, data or range): "
            "choose another --out, or rerun that sweep's command to resume it"
        )
    return frame


def store_columns() -> list[str]:
    from v6.store.schemas import SWEEP_RESULTS

    return SWEEP_RESULTS.names


def run_sweep(
    plan: SweepPlan,
    client: Any,
    progress: Callable[[int, int], Any] | None = None,
) -> pd.DataFrame:
    """Run what the sweep's store does not hold yet; returns every latest row per
    combination and period."""
    try:
        plan.store.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SweepError(f"cannot create {plan.store}: {exc.strerror or exc}") from None
    with WriterLock(plan.store, plan.sweep_id):
        store = DeltaStore(plan.store)
        results = read_results(plan)
        first = plan.periods[0]
        chosen = list(plan.combinations)
        _run_period(plan, client, store, results, first, chosen, progress)
        if len(plan.periods) == 2:
            results = read_results(plan)
            ranked = best(latest_rows(results, first.name), plan.rank_by)
            ids = [cid for cid in ranked if cid in {c.id for c in chosen}][: plan.top]
            carried = [c for c in chosen if c.id in ids]
            _run_period(plan, client, store, results, plan.periods[1], carried, progress)
        return latest_rows(read_results(plan))


def _run_period(
    plan: SweepPlan,
    client: Any,
    store: DeltaStore,
    results: pd.DataFrame,
    period: Period,
    combinations: list[Combination],
    progress: Callable[[int, int], Any] | None,
) -> None:
    done = results[(results["status"] == "ok") & (results["period"] == period.name)]
    finished = set(done["combination_id"])
    tasks = [task_of(plan, c, period) for c in combinations if c.id not in finished]
    bar = progress(len(combinations), len(combinations) - len(tasks)) if progress else None
    try:
        for row in run_tasks(
            client,
            run_combination,
            tasks,
            key=lambda t: f"{t['sweep_id']}-{t['period']}-{t['combination_id']}",
            on_failure=lambda t, exc: result_row(t, error=f"worker: {type(exc).__name__}: {exc}"),
        ):
            store.append(TABLE, [row])
            store.flush([TABLE])  # one commit per finished combination: nothing to redo
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()


def task_of(plan: SweepPlan, combination: Combination, period: Period) -> Task:
    return {
        "sweep_id": plan.sweep_id,
        "combination_id": combination.id,
        "settings": settings_json(combination.settings),
        "config": unstructure(combination.config),
        "data": str(plan.data),
        "period": period.name,
        "period_from": str(period.start),
        "period_to": str(period.end),
        "out": str(plan.out / RUNS_DIR / period.name / combination.id),
    }
