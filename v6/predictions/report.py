"""Grade every stored prediction against what happened (``v6 predictions report``).

Pure pandas over the ``predictions`` table (and, for regime accuracy, ``regimes`` and
``sim_truth``): the dashboard and the CLI call the same functions. Formulas, with
``e = expected_pnl - realized_pnl`` per closed position (docs/PREDICTIONS.md):

* MAE = mean(|e|), MSE = mean(e²), RMSE = √MSE, bias = mean(e): positive means the
  model expected more than the positions made (optimistic);
* Brier = mean((probability_of_profit - profitable)²), profitable being 1 when the
  realised P&L was above zero: 0 is perfect, 0.25 is what always saying 50% scores;
* calibration: predictions bucketed by probability of profit (``BUCKETS`` equal-width
  buckets), each with its count, mean predicted probability and observed win rate.

A group with fewer than ``MIN_COUNT`` graded predictions is flagged ``too_small``: its
figures are shown but mean little.
"""

from __future__ import annotations

from datetime import date, datetime, time

import numpy as np
import pandas as pd

from v6.predictions.grading import BUCKETS, DEFAULT_BY, MIN_COUNT
from v6.store.delta_store import DeltaStore
from v6.store.rows import in_write_order

NO_TRUTH = (
    "no true regime: the graded predictions come from paper or live runs, which have no "
    "simulator truth (regime accuracy needs a sim run's sim_truth table)"
)
TRUTH_COLUMNS = ("time", "regime", "run_id")
"""The ``sim_truth`` columns the report reads."""
READING_COLUMNS = ("time", "regime", "run_id", "detector")
"""The ``regimes`` columns the report reads."""
_METRICS = ["count", "mae", "mse", "rmse", "bias", "brier", "win_rate", "mean_pop"]


def latest_predictions(store: DeltaStore) -> pd.DataFrame:
    """Every prediction's latest row (its current state), with ``entry_run_id``: the run
    that made it (a later run may have written its actuals)."""
    return latest_of(store.read("predictions"))


def latest_of(frame: pd.DataFrame) -> pd.DataFrame:
    """:func:`latest_predictions` of rows already read (the dashboard's cached frame)."""
    if frame.empty:
        return frame.assign(entry_run_id=pd.Series(dtype=str))
    ordered = in_write_order(frame)
    first = ordered.drop_duplicates("prediction_id", keep="first").set_index("prediction_id")
    latest = ordered.drop_duplicates("prediction_id", keep="last").copy()
    latest["entry_run_id"] = latest["prediction_id"].map(first["run_id"])
    return latest.reset_index(drop=True)


def utc(values: pd.Series) -> pd.Series:
    """Stored times as aware UTC timestamps."""
    return pd.to_datetime(values, utc=True)


def with_true_regime(predictions: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """``predictions`` with ``true_regime``: the simulator's regime at entry, from the
    sim_truth row of the same run at or before ``predicted_at`` (null outside sim)."""
    out = predictions.copy()
    out["true_regime"] = pd.Series([None] * len(out), index=out.index, dtype=object)
    if out.empty or truth.empty:
        return out
    left = out.assign(_at=utc(out["predicted_at"]), _row=np.arange(len(out)))
    right = truth.assign(_at=utc(truth["time"]))[["run_id", "_at", "regime"]]
    right = right.rename(columns={"run_id": "entry_run_id", "regime": "_truth"})
    merged = pd.merge_asof(
        left.sort_values("_at"),
        right.sort_values("_at"),
        on="_at",
        by="entry_run_id",
        direction="backward",
    ).sort_values("_row")
    out["true_regime"] = (
        merged["_truth"].astype(object).where(merged["_truth"].notna(), None).values
    )
    return out


def graded(store: DeltaStore, since: date | None = None) -> pd.DataFrame:
    """The closed predictions (entered on or after ``since``, UTC), with ``true_regime``
    and ``error`` = expected_pnl - realized_pnl."""
    truth = store.read("sim_truth", columns=list(TRUTH_COLUMNS))
    return graded_of(latest_predictions(store), truth, since)


def graded_of(latest: pd.DataFrame, truth: pd.DataFrame, since: date | None = None) -> pd.DataFrame:
    """:func:`graded` of frames already read: ``latest`` from :func:`latest_of`,
    ``truth`` the ``sim_truth`` rows (:data:`TRUTH_COLUMNS`)."""
    closed = latest[latest["status"] == "closed"]
    if since is not None:
        start = pd.Timestamp(datetime.combine(since, time(0)), tz="UTC")
        closed = closed[utc(closed["predicted_at"]) >= start]
    closed = with_true_regime(closed, truth)
    return closed.assign(error=closed["expected_pnl"] - closed["realized_pnl"])


def _metrics(frame: pd.DataFrame) -> dict[str, float]:
    error = frame["error"].to_numpy(dtype=float)
    won = frame["profitable"].to_numpy(dtype=float)
    pop = frame["probability_of_profit"].to_numpy(dtype=float)
    mse = float(np.mean(error**2))
    return {
        "count": len(frame),
        "mae": float(np.mean(np.abs(error))),
        "mse": mse,
        "rmse": float(np.sqrt(mse)),
        "bias": float(np.mean(error)),
        "brier": float(np.mean((pop - won) ** 2)),
        "win_rate": float(np.mean(won)),
        "mean_pop": float(np.mean(pop)),
        "mean_expected_pnl": float(frame["expected_pnl"].mean()),
        "mean_realized_pnl": float(frame["realized_pnl"].mean()),
    }


def by_group(
    frame: pd.DataFrame, by: tuple[str, ...] = DEFAULT_BY, min_count: int = MIN_COUNT
) -> list[dict[str, object]]:
    """One record per group of ``by``: its keys, the metrics and ``too_small``.

    Every record also names ``strategy`` and ``regime`` (None when not grouped by them),
    and a row whose group value is missing (no true regime outside sim) is grouped as
    None.
    """
    if frame.empty:
        return []
    keys = list(by)
    filled = frame.assign(
        **{k: frame[k].astype(object).where(frame[k].notna(), "\0") for k in keys}
    )
    out = []
    for values, group in filled.groupby(keys, sort=True, dropna=False):
        values = values if isinstance(values, tuple) else (values,)
        record: dict[str, object] = {"strategy": None, "regime": None}
        record.update({k: (None if v == "\0" else v) for k, v in zip(keys, values, strict=True)})
        record.update(_metrics(group))
        record["too_small"] = record["count"] < min_count
        out.append(record)
    return out


def calibration(frame: pd.DataFrame, min_count: int = MIN_COUNT) -> list[dict[str, object]]:
    """Predicted probability of profit in ``BUCKETS`` buckets vs the observed win rate.

    Bucket i holds probabilities in [i/B, (i+1)/B) (the last one includes 1.0); empty
    buckets are left out.
    """
    if frame.empty:
        return []
    pop = frame["probability_of_profit"].to_numpy(dtype=float)
    index = np.minimum((pop * BUCKETS).astype(int), BUCKETS - 1)
    out = []
    for i in np.unique(index):
        rows = frame[index == i]
        count = len(rows)
        out.append(
            {
                "bucket_low": i / BUCKETS,
                "bucket_high": (i + 1) / BUCKETS,
                "count": count,
                "mean_predicted": float(rows["probability_of_profit"].mean()),
                "win_rate": float(rows["profitable"].astype(float).mean()),
                "too_small": count < min_count,
            }
        )
    return out


def regime_confusion(store: DeltaStore, since: date | None = None) -> list[dict[str, object]]:
    """True (simulator) vs detected regime over every stored reading of a sim run.

    One record per detector, true regime and detected regime: the readings' ``count``
    and their ``share`` of that detector's readings in that true regime. Empty when the
    store holds no sim_truth (paper, live).
    """
    truth = store.read("sim_truth", columns=list(TRUTH_COLUMNS))
    if truth.empty:
        return []
    readings = store.read("regimes", columns=list(READING_COLUMNS))
    return confusion_of(readings, truth, since)


def confusion_of(
    readings: pd.DataFrame, truth: pd.DataFrame, since: date | None = None
) -> list[dict[str, object]]:
    """:func:`regime_confusion` of frames already read (``regimes`` rows with
    :data:`READING_COLUMNS`, ``sim_truth`` rows with :data:`TRUTH_COLUMNS`)."""
    if truth.empty or readings.empty:
        return []
    if since is not None:
        start = pd.Timestamp(datetime.combine(since, time(0)), tz="UTC")
        readings = readings[utc(readings["time"]) >= start]
    joined = readings.assign(time=utc(readings["time"])).merge(
        truth.assign(time=utc(truth["time"])).rename(columns={"regime": "true_regime"}),
        on=["run_id", "time"],
    )
    if joined.empty:
        return []
    joined["detector"] = joined["detector"].fillna("")
    counts = joined.groupby(["detector", "true_regime", "regime"]).size().rename("count")
    totals = counts.groupby(level=["detector", "true_regime"]).transform("sum")
    return [
        {
            "detector": detector,
            "true_regime": true,
            "detected_regime": detected,
            "count": int(n),
            "share": float(n / total),
        }
        for (detector, true, detected), n, total in zip(
            counts.index, counts.to_numpy(), totals.to_numpy(), strict=True
        )
    ]


def regime_errors(frame: pd.DataFrame, min_count: int = MIN_COUNT) -> list[dict[str, object]]:
    """The prediction errors by (true regime at entry, detected regime at entry): sim
    predictions only (the others have no true regime)."""
    known = frame[frame["true_regime"].notna()] if not frame.empty else frame
    records = by_group(known, ("true_regime", "regime"), min_count)
    for record in records:
        del record["strategy"]
    return records
