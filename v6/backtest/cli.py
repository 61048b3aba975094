"""``v6 backtest``: the command line of :func:`v6.backtest.runner.run_backtest`."""

from __future__ import annotations

import argparse
import json
from datetime import date
from typing import Any


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def register(commands: Any, *parents: argparse.ArgumentParser) -> None:
    """Add ``v6 backtest`` to the ``v6`` command's subparsers."""
    backtest = commands.add_parser(
        "backtest",
        parents=list(parents),
        help="replay stored option chains through the engine (docs/BACKTEST.md)",
    )
    backtest.add_argument("--data", required=True, metavar="STORE", help="store of chains")
    backtest.add_argument("--from", dest="start", required=True, type=_date, metavar="DATE")
    backtest.add_argument("--to", dest="end", required=True, type=_date, metavar="DATE")
    backtest.add_argument(
        "--out",
        metavar="DIR",
        help="where the tables, summary.json and report.html go "
        "(default: backtests/<run id> under store.path)",
    )
    backtest.add_argument("--seed", type=int, metavar="S", help="override sim.seed")
    backtest.add_argument("--json", action="store_true", help="print the summary as JSON")
    backtest.set_defaults(handler=cmd_backtest)


def cmd_backtest(args: argparse.Namespace) -> int:
    from pathlib import Path

    import attrs

    from v6.backtest.runner import run_backtest, run_id_of
    from v6.cli import check_plugins
    from v6.config_loader import load_config, validate_semantics
    from v6.conversion import first_problem
    from v6.errors import ConfigError
    from v6.store.delta_store import DeltaStore

    config = load_config(args.config)
    if args.seed is not None:
        try:
            sim = attrs.evolve(config.sim, seed=args.seed)
        except ValueError as exc:
            raise ConfigError(*first_problem(exc, "sim"), "command line --seed") from None
        config = attrs.evolve(config, sim=sim)
        validate_semantics(config, source="command line")
    check_plugins(config, args.config)
    out = args.out
    if out is None:
        run_id = run_id_of(config, DeltaStore(args.data), args.start, args.end)
        out = str(Path(config.store.path) / "backtests" / run_id)
    result = run_backtest(config, args.data, args.start, args.end, out)
    summary = result.summary
    if args.json:
        print(json.dumps(summary, sort_keys=True))
        return 0
    print(text_summary(summary, result))
    return 0


def text_summary(summary: dict[str, Any], result: Any) -> str:
    """The summary as a trader reads it in a terminal."""

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{100 * value:+.2f}%"

    def num(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    def by(mapping: dict[str, float]) -> str:
        return ", ".join(f"{k} {v:+,.2f}" for k, v in mapping.items()) or "-"

    return "\n".join(
        [
            f"V6 backtest {summary['run_id']}: {summary['from']} to {summary['to']}, "
            f"{summary['snapshots']} snapshots",
            f"  total P&L {summary['total_pnl']:+,.2f} ({pct(summary['total_return'])}), "
            f"CAGR {pct(summary['cagr'])}, max drawdown {pct(summary['max_drawdown'])} "
            f"({summary['max_drawdown_dollars']:,.2f})",
            f"  Sharpe {num(summary['sharpe'])}, Sortino {num(summary['sortino'])}",
            f"  trades {summary['trades']} (closed {summary['closed_trades']}), win rate "
            f"{pct(summary['win_rate'])}, average credit {num(summary['average_credit'])}, "
            f"commissions {summary['commissions']:,.2f}",
            f"  P&L by strategy: {by(summary['pnl_by_strategy'])}",
            f"  P&L by regime at entry: {by(summary['pnl_by_regime'])}",
            f"  P&L by exit rule: {by(summary['pnl_by_exit_rule'])}",
            f"  report: {result.report}",
            f"  tables: {result.store}/ (run_id {summary['run_id']})",
        ]
    )
