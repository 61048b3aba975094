"""``v6 sweep``: backtests over a grid of settings, in parallel, resumable, ranked."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from datetime import date
from pathlib import Path
from typing import Any

from v6.backtest.cli import _date
from v6.sweep.metrics import RANK_METRICS


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), got {text}")
    return value


def register(commands: Any, *parents: argparse.ArgumentParser) -> None:
    """Add ``v6 sweep`` to the ``v6`` command's subparsers."""
    sweep = commands.add_parser(
        "sweep",
        parents=list(parents),
        help="backtests over a grid of settings, in parallel, ranked (docs/BACKTEST.md)",
    )
    sweep.add_argument("--grid", required=True, metavar="GRID.yaml", help="key paths and values")
    sweep.add_argument("--data", required=True, metavar="STORE", help="store of chains")
    sweep.add_argument("--from", dest="start", required=True, type=_date, metavar="DATE")
    sweep.add_argument("--to", dest="end", required=True, type=_date, metavar="DATE")
    sweep.add_argument(
        "--out",
        metavar="DIR",
        help="the sweep's store and backtests; rerun on the same DIR to resume "
        "(default: sweeps/<sweep id> under store.path)",
    )
    sweep.add_argument(
        "--workers", type=_count, default=2, metavar="N", help="local worker processes (2)"
    )
    sweep.add_argument(
        "--scheduler",
        metavar="ADDR",
        help="a running Dask scheduler, e.g. tcp://10.0.0.5:8786, instead of local workers",
    )
    sweep.add_argument("--sample", type=_count, metavar="K", help="K random combinations")
    sweep.add_argument("--seed", type=int, default=0, metavar="S", help="the sample's seed (0)")
    walk = sweep.add_mutually_exclusive_group()
    walk.add_argument(
        "--walk-forward",
        dest="split",
        type=_date,
        metavar="SPLIT_DATE",
        help="choose on --from..the day before SPLIT_DATE, report on SPLIT_DATE..--to",
    )
    walk.add_argument(
        "--train-fraction",
        type=_fraction,
        metavar="F",
        help="walk-forward with the first F of the data's days in-sample",
    )
    sweep.add_argument(
        "--top",
        type=_count,
        default=3,
        metavar="N",
        help="walk-forward: the best N in-sample combinations run out of sample (3)",
    )
    sweep.add_argument(
        "--rank-by",
        choices=RANK_METRICS,
        default="sharpe",
        help="the metric ranked by (sharpe; ties by total P&L)",
    )
    sweep.add_argument("--json", action="store_true", help="print the ranked list as JSON")
    sweep.set_defaults(handler=cmd_sweep)


def cmd_sweep(args: argparse.Namespace) -> int:
    from v6.cli import check_plugins
    from v6.config_loader import load_config
    from v6.store.delta_store import DeltaStore
    from v6.sweep.grid import combination_config, load_grid
    from v6.sweep.runner import (
        Combination,
        SweepError,
        SweepPlan,
        data_days,
        periods_of,
        split_by_fraction,
        sweep_id_of,
    )

    base = load_config(args.config)
    check_plugins(base, args.config)
    grid = load_grid(args.grid)
    settings = grid.combinations(args.sample, args.seed)
    combinations = tuple(
        Combination(s, combination_config(base, s, grid.source, check_plugins)) for s in settings
    )
    data = DeltaStore(args.data)
    days = data_days(data, args.start, args.end)
    split: date | None = args.split
    if args.train_fraction is not None:
        split = split_by_fraction(days, args.start, args.end, args.train_fraction)
    periods = periods_of(args.start, args.end, split)
    sweep_id = sweep_id_of(base, data, args.start, args.end, split)
    out = Path(args.out) if args.out else Path(base.store.path) / "sweeps" / sweep_id
    if out.exists() and not out.is_dir():
        raise SweepError(f"--out {out} is a file, not a directory")
    plan = SweepPlan(
        sweep_id=sweep_id,
        out=out,
        data=Path(args.data).resolve(),
        combinations=combinations,
        periods=periods,
        rank_by=args.rank_by,
        top=args.top,
    )
    rows = _run(plan, args)
    if rows is None:
        return 130
    from v6.sweep.report import ranked_entries, text_report

    entries = ranked_entries(rows, [c.id for c in combinations], args.rank_by)
    if args.json:
        print(json.dumps(entries, sort_keys=True))
    else:
        print(text_report(sweep_id, entries, args.rank_by, str(out)))
    return 0


def _run(plan: Any, args: argparse.Namespace) -> Any:
    """Run the sweep; None when interrupted (Ctrl-C or SIGTERM), after saying how to resume."""
    from v6.sweep.execution import dask_client
    from v6.sweep.runner import read_results, run_sweep

    def stop(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        read_results(plan)  # refuse another sweep's --out before starting workers
        with dask_client(args.workers, args.scheduler) as client:
            return run_sweep(plan, client, _progress_bar if sys.stderr.isatty() else None)
    except KeyboardInterrupt:
        print(
            f"v6 sweep: interrupted; finished combinations are kept in {plan.out}/store. "
            "Rerun the same command to resume.",
            file=sys.stderr,
        )
        return None
    finally:
        signal.signal(signal.SIGTERM, previous)


def _progress_bar(total: int, done: int) -> Any:
    """A tqdm bar over the combinations on stderr (only called on a terminal)."""
    from tqdm import tqdm

    return tqdm(
        total=total,
        initial=done,
        unit="backtest",
        desc="sweep",
        file=sys.stderr,
        dynamic_ncols=True,
    )
