"""``v6 predictions report``: how right each strategy's predictions were, by group.

Registered on the ``v6`` parser by :func:`add_command`; the figures come from
:mod:`v6.predictions.report`. Text output has four parts: the groups, the calibration
table, and (sim runs) the regime confusion table and the errors by true and detected
regime. ``--json`` prints one list: the groups, or with ``--calibration``,
``--confusion`` or ``--regime-errors`` that table's rows instead (docs/PREDICTIONS.md).
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from v6.errors import V6Error
from v6.predictions import grading


class ReportUsageError(V6Error):
    """A report option names something the report does not have (exit status 2)."""

    exit_status = 2


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid date {text!r}: expected YYYY-MM-DD, e.g. 2026-01-05"
        ) from None


def _min_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid count {text!r}: expected an integer >= 1")
    return value


def parse_by(text: str) -> tuple[str, ...]:
    """``strategy,regime`` -> the columns, each one the report can group by."""
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise ReportUsageError("--by needs at least one column, e.g. --by strategy,regime")
    unknown = [n for n in names if n not in grading.GROUP_COLUMNS]
    if unknown:
        raise ReportUsageError(
            f"--by: unknown column {unknown[0]!r}; choose from {', '.join(grading.GROUP_COLUMNS)}"
        )
    if len(set(names)) != len(names):
        raise ReportUsageError(f"--by names a column twice: {text}")
    return names


def add_command(
    commands: argparse._SubParsersAction,
    parents: Sequence[argparse.ArgumentParser],
    handler: Callable[[argparse.Namespace], int],
) -> None:
    """Add ``v6 predictions report`` to the ``v6`` parser's subcommands; ``handler`` opens
    the store the way every reading command does, then calls :func:`cmd_report`."""
    predictions = commands.add_parser(
        "predictions", help="how right the strategies' predictions were"
    )
    actions = predictions.add_subparsers(
        dest="predictions_command", metavar="ACTION", required=True
    )
    grade = actions.add_parser(
        "report",
        parents=list(parents),
        help="MAE, MSE, bias and Brier score of predictions by group; calibration; regimes",
    )
    grade.add_argument(
        "--by",
        default=",".join(grading.DEFAULT_BY),
        metavar="COLUMNS",
        help=f"group by these columns, comma-separated (default: strategy,regime; "
        f"any of {', '.join(grading.GROUP_COLUMNS)})",
    )
    grade.add_argument(
        "--since", type=_date, metavar="DATE", help="only positions entered on or after DATE (UTC)"
    )
    grade.add_argument(
        "--min-count",
        type=_min_count,
        default=grading.MIN_COUNT,
        metavar="N",
        help=f"groups with fewer graded predictions are flagged too small (default "
        f"{grading.MIN_COUNT})",
    )
    grade.add_argument("--json", action="store_true", help="print a JSON list (see --calibration)")
    table = grade.add_mutually_exclusive_group()
    table.add_argument(
        "--calibration", action="store_true", help="with --json: the calibration buckets"
    )
    table.add_argument(
        "--confusion", action="store_true", help="with --json: true vs detected regime (sim)"
    )
    table.add_argument(
        "--regime-errors",
        action="store_true",
        help="with --json: prediction errors by true and detected regime (sim)",
    )
    grade.set_defaults(handler=handler)


def _clean(value: Any) -> Any:
    """JSON has no NaN: a value that is not a number is null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _json(records: list[dict[str, Any]]) -> str:
    return json.dumps([{k: _clean(v) for k, v in r.items()} for r in records], indent=2)


def cmd_report(args: argparse.Namespace, store: Any) -> int:
    """Print the report for ``store`` (already checked to hold a V6 store)."""
    from v6.predictions import report  # pandas: only for the command that needs it

    by = parse_by(args.by)
    frame = report.graded(store, args.since)
    if args.json:
        if args.calibration:
            print(_json(report.calibration(frame, args.min_count)))
        elif args.confusion:
            print(_json(report.regime_confusion(store, args.since)))
        elif args.regime_errors:
            print(_json(report.regime_errors(frame, args.min_count)))
        else:
            print(_json(report.by_group(frame, by, args.min_count)))
        return 0
    print(text_report(store, frame, by, args.since, args.min_count))
    return 0


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, float):
        return "-" if not math.isfinite(value) else f"{value:,.{digits}f}"
    return str(value) or '""'


def _table(
    records: list[dict[str, Any]], columns: list[tuple[str, str, Callable[..., str]]]
) -> str:
    rows = [[title for title, _, _ in columns]]
    rows += [[fmt(r.get(key)) for _, key, fmt in columns] for r in records]
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def _money(value: Any) -> str:
    return _fmt(value, 2)


def _ratio(value: Any) -> str:
    return _fmt(value, 3)


def _flag(value: Any) -> str:
    return "TOO FEW" if value else ""


def text_report(
    store: Any, frame: Any, by: tuple[str, ...], since: date | None, min_count: int
) -> str:
    """The report as a trader reads it."""
    from v6.predictions import report

    latest = report.latest_predictions(store)
    if since is not None and not latest.empty:
        latest = latest[report.utc(latest["predicted_at"]).dt.date >= since]
    pending = int((latest["status"] == "pending").sum()) if not latest.empty else 0
    void = int((latest["status"] == "void").sum()) if not latest.empty else 0
    window = f" since {since}" if since else ""
    lines = [
        f"predictions in {store.root}{window}: {len(frame)} graded, {pending} pending "
        f"(position still open), {void} void (never filled, or abandoned with a sim run)"
    ]
    if frame.empty:
        lines.append(
            "nothing to grade yet: predictions are graded when their positions close"
            if len(latest)
            else "no predictions stored: a session stores one for every position it opens"
        )
        return "\n".join(lines)
    note = f"groups with fewer than {min_count} graded predictions are marked TOO FEW"
    lines += ["", f"Predicted vs realised P&L by {', '.join(by)} ({note}):"]
    key_columns = [(name, name, _fmt) for name in by]
    metric_columns = [
        ("count", "count", _fmt),
        ("MAE $", "mae", _money),
        ("MSE", "mse", _money),
        ("RMSE $", "rmse", _money),
        ("bias $", "bias", _money),
        ("Brier", "brier", _ratio),
        ("win rate", "win_rate", _ratio),
        ("mean POP", "mean_pop", _ratio),
        ("", "too_small", _flag),
    ]
    lines.append(_table(report.by_group(frame, by, min_count), key_columns + metric_columns))
    lines.append("bias = mean(expected - realised): above 0 the model expected more than it got")
    lines += ["", "Calibration (predicted probability of profit vs observed win rate):"]
    lines.append(
        _table(
            report.calibration(frame, min_count),
            [
                ("from", "bucket_low", _fmt),
                ("to", "bucket_high", _fmt),
                ("count", "count", _fmt),
                ("mean predicted", "mean_predicted", _ratio),
                ("win rate", "win_rate", _ratio),
                ("", "too_small", _flag),
            ],
        )
    )
    lines += ["", "Regime accuracy:"]
    confusion = report.regime_confusion(store, since)
    errors = report.regime_errors(frame, min_count)
    if not confusion and not errors:
        lines.append(report.NO_TRUTH)
        return "\n".join(lines)
    lines.append("true (simulator) vs detected regime, every stored reading:")
    lines.append(
        _table(
            confusion,
            [
                ("detector", "detector", _fmt),
                ("true", "true_regime", _fmt),
                ("detected", "detected_regime", _fmt),
                ("readings", "count", _fmt),
                ("share of true", "share", _ratio),
            ],
        )
    )
    untrue = int(frame["true_regime"].isna().sum())
    lines += ["", "prediction errors by true and detected regime at entry:"]
    lines.append(
        _table(
            errors,
            [("true", "true_regime", _fmt), ("detected", "regime", _fmt), *metric_columns],
        )
    )
    if untrue:
        lines.append(f"{untrue} graded predictions from paper or live runs have no true regime")
    return "\n".join(lines)
