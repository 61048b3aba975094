"""What the Predictions page shows, graded by the code of ``v6 predictions report``.

The formulas live in :mod:`v6.predictions.report` and only there: these views hand it
the dashboard's cached, column-pruned frames (``predictions``, ``sim_truth``,
``regimes``) instead of reading the store again, so every figure on the page is the
figure the command prints for the same predictions.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from dash_app.data import StoreReader, cached
from v6.predictions import report


@cached("predictions")
def latest(reader: StoreReader, run_id: str | None = None) -> pd.DataFrame:
    """Every prediction's current state; with ``run_id`` only those that run made."""
    frame = report.latest_of(reader.table("predictions"))
    if run_id is not None and not frame.empty:
        frame = frame[frame["entry_run_id"] == run_id]
    return frame


@cached("predictions", "sim_truth")
def graded(reader: StoreReader, run_id: str | None = None) -> pd.DataFrame:
    """The graded (closed) predictions with ``true_regime`` and ``error``, as the report
    grades them; with ``run_id`` only those that run made."""
    return report.graded_of(latest(reader, run_id), reader.table("sim_truth"))


def counts(reader: StoreReader, run_id: str | None = None) -> dict[str, int]:
    """How many predictions are graded, pending (position still open) and void."""
    frame = latest(reader, run_id)
    status = frame["status"] if not frame.empty else pd.Series(dtype=str)
    return {
        "stored": len(frame),
        "graded": int((status == "closed").sum()),
        "pending": int((status == "pending").sum()),
        "void": int((status == "void").sum()),
    }


@cached("predictions", "sim_truth")
def metrics(reader: StoreReader, run_id: str | None = None) -> pd.DataFrame:
    """MAE, MSE, RMSE, bias and Brier score by strategy and regime at entry
    (``v6 predictions report --json``)."""
    return pd.DataFrame(
        report.by_group(graded(reader, run_id)),
        columns=[
            "strategy",
            "regime",
            "count",
            "mae",
            "mse",
            "rmse",
            "bias",
            "brier",
            "win_rate",
            "mean_pop",
            "mean_expected_pnl",
            "mean_realized_pnl",
            "too_small",
        ],
    )


@cached("predictions", "sim_truth")
def calibration(reader: StoreReader, run_id: str | None = None) -> pd.DataFrame:
    """Probability-of-profit buckets against the observed win rate
    (``v6 predictions report --json --calibration``)."""
    return pd.DataFrame(
        report.calibration(graded(reader, run_id)),
        columns=["bucket_low", "bucket_high", "count", "mean_predicted", "win_rate", "too_small"],
    )


@cached("regimes", "sim_truth")
def confusion(reader: StoreReader, run_id: str | None = None) -> pd.DataFrame:
    """Detected against true (simulator) regime over every reading
    (``v6 predictions report --json --confusion``); empty outside sim."""
    readings = reader.table("regimes")[list(report.READING_COLUMNS)]
    truth = reader.table("sim_truth")
    if run_id is not None:
        readings = readings[readings["run_id"] == run_id]
        truth = truth[truth["run_id"] == run_id]
    return pd.DataFrame(
        report.confusion_of(readings, truth),
        columns=["detector", "true_regime", "detected_regime", "count", "share"],
    )


def empty_text(found: dict[str, Any]) -> str | None:
    """Why the page has nothing to grade, or None when it has."""
    if found["graded"]:
        return None
    if not found["stored"]:
        return (
            "No predictions stored yet: a session stores one for every position it opens "
            "(`v6 run`), and grades it when the position closes."
        )
    if not found["pending"]:
        return (
            f"No prediction to grade: all {found['void']} stored are void (never filled, or "
            "abandoned with a sim run)."
        )
    return (
        f"{found['pending']} pending prediction(s); the first grades land when a position "
        f"closes ({found['void']} void: never filled, or abandoned with a sim run)."
    )
