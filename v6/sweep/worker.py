"""One sweep combination as a task of plain values: what a Dask worker runs.

:func:`run_combination` takes and returns plain dicts (picklable, no open files), so the
same task runs in a local worker process or on another machine of a Dask cluster (which
then needs the data store and the sweep's output directory at the same paths).
It never raises for a backtest that fails: the error becomes the row's ``error`` and the
sweep goes on with the next combination.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import shutil
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

METRICS = ("trades", "total_pnl", "cagr", "max_drawdown", "sharpe", "sortino", "win_rate")
"""The summary's fields a sweep keeps per combination (docs/BACKTEST.md, summary formulas)."""

Task = dict[str, Any]


def run_combination(task: Task) -> dict[str, Any]:
    """Run the task's backtest; returns its ``sweep_results`` row (status ok or failed)."""
    from v6.backtest.runner import run_backtest
    from v6.config import TradingConfig
    from v6.conversion import structure

    started = time.monotonic()
    out = Path(task["out"])
    try:
        # A directory left by an attempt that was interrupted (it has no ok row, or the
        # sweep would not have sent it again): the backtest refuses a used --out.
        if out.exists():
            shutil.rmtree(out)
        config = structure(TradingConfig, task["config"], source="sweep combination")
        # The engine logs its alerts as warnings; many backtests at once on the sweep's
        # terminal would bury the report. They are in each backtest's alerts table.
        with contextlib.redirect_stdout(io.StringIO()), _quiet():
            result = run_backtest(
                config,
                task["data"],
                date.fromisoformat(task["period_from"]),
                date.fromisoformat(task["period_to"]),
                out,
                progress=False,
            )
    except Exception as exc:  # a failed combination is a result, not the sweep's end
        return result_row(task, started, error=f"{type(exc).__name__}: {exc}")
    return result_row(task, started, summary=result.summary)


@contextlib.contextmanager
def _quiet() -> Any:
    """Log records off while the backtest runs (a worker runs one task at a time; a
    failure comes back as the row's error)."""
    logging.disable(logging.CRITICAL)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def result_row(
    task: Task,
    started: float | None = None,
    *,
    summary: dict[str, Any] | None = None,
    error: str = "",
) -> dict[str, Any]:
    """The ``sweep_results`` row of ``task``: its metrics, or its error."""
    seconds = 0.0 if started is None else time.monotonic() - started
    summary = summary or {}
    row: dict[str, Any] = {
        "time": datetime.now(UTC),
        "run_id": task["sweep_id"],
        "combination_id": task["combination_id"],
        "settings": task["settings"],
        "period": task["period"],
        "period_from": date.fromisoformat(task["period_from"]),
        "period_to": date.fromisoformat(task["period_to"]),
        "status": "failed" if error else "ok",
        "error": " ".join(error.split()),
        "backtest_run_id": summary.get("run_id"),
        "seconds": seconds,
        "out": task["out"],
    }
    for name in METRICS:
        row[name] = _number(summary.get(name), integer=name == "trades")
    return row


def _number(value: Any, *, integer: bool) -> float | int | None:
    """A finite number or None: NaN is never a metric."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number):
        return None
    return int(number) if integer else number
