"""Lead-lag analysis of futures against the ETFs they lead (``v6 futures correlate``).

From ``futures_snapshots`` (each row holds the future's price and its ETF's mid at the
same instant), per future/ETF pair and per run (a run's cycles are one series; runs are
never joined):

* returns per cycle: the future's ``r_f[t] = ln(F[t] / (F[t-1] * roll_ratio[t]))`` (the
  ratio takes a contract roll out of the return) and the ETF's
  ``r_e[t] = ln(E[t] / E[t-1])``;
* cross-correlation at lag ``k`` in ``-N..N``: Pearson's correlation of the pairs
  ``(r_f[t], r_e[t+k])`` pooled over every run; ``k > 0`` means the future moves first;
* ``best_lag``: the lag of the largest absolute correlation, ``correlation`` its value;
* out of sample: the pairs are split by time, the first 70% to choose the horizon
  ``h = max(best lag on those, 1)`` (a prediction is about the ETF's *next* move), the last
  30% to test it: ``hit_rate`` is the share of pairs whose signs agree (times the sign of
  the training correlation; zero moves left out) and ``ic`` is Spearman's rank
  correlation of ``r_f[t]`` and ``r_e[t+h]``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from attrs import frozen

TRAIN_SHARE = 0.7
MIN_PAIRS = 10  # fewer pairs than this and a correlation means nothing
COLUMNS = ["time", "symbol", "etf", "price", "roll_ratio", "etf_price", "run_id"]


@frozen(slots=True)
class LeadLag:
    """The lead-lag figures of one future against its ETF."""

    future: str
    etf: str
    samples: int
    best_lag: int | None
    correlation: float | None
    horizon: int | None
    hit_rate: float | None
    ic: float | None
    test_samples: int
    by_lag: dict[int, float | None]

    def as_json(self) -> dict[str, Any]:
        return {
            "future": self.future,
            "etf": self.etf,
            "best_lag": self.best_lag,
            "correlation": self.correlation,
            "hit_rate": self.hit_rate,
            "ic": self.ic,
            "ic_method": "spearman",
            "horizon": self.horizon,
            "samples": self.samples,
            "test_samples": self.test_samples,
            "by_lag": {str(k): v for k, v in self.by_lag.items()},
        }


def _returns(run: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Times, future returns and ETF returns of one run's series (NaN where unknown)."""
    run = run.sort_values("time", kind="stable")
    price = run["price"].to_numpy(dtype=np.float64)
    ratio = run["roll_ratio"].to_numpy(dtype=np.float64)  # null (unknown roll) -> NaN
    etf = run["etf_price"].to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        rf = np.log(price[1:] / (price[:-1] * ratio[1:]))
        re = np.log(etf[1:] / etf[:-1])
    rf[~np.isfinite(rf)] = np.nan
    re[~np.isfinite(re)] = np.nan
    return run["time"].to_numpy()[1:], rf, re


def _pairs(
    series: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], lag: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every finite pair ``(r_f[t], r_e[t+lag])`` within each run, with the pair's time."""
    times, xs, ys = [], [], []
    for t, rf, re in series:
        n = len(rf)
        if abs(lag) >= n:
            continue
        if lag >= 0:
            x, y, when = rf[: n - lag], re[lag:], t[lag:]
        else:
            x, y, when = rf[-lag:], re[: n + lag], t[-lag:]
        ok = np.isfinite(x) & np.isfinite(y)
        times.append(when[ok])
        xs.append(x[ok])
        ys.append(y[ok])
    if not xs:
        return np.empty(0, dtype="datetime64[us]"), np.empty(0), np.empty(0)
    return np.concatenate(times), np.concatenate(xs), np.concatenate(ys)


def pearson(x: np.ndarray, y: np.ndarray) -> float | None:
    """Pearson's correlation; None with fewer than MIN_PAIRS pairs or no variation."""
    if len(x) < MIN_PAIRS:
        return None
    x = x - x.mean()
    y = y - y.mean()
    denominator = math.sqrt(float(np.dot(x, x)) * float(np.dot(y, y)))
    return float(np.dot(x, y) / denominator) if denominator > 0 else None


def spearman(x: np.ndarray, y: np.ndarray) -> float | None:
    """Spearman's rank correlation (average ranks for ties)."""
    if len(x) < MIN_PAIRS:
        return None
    rx = pd.Series(x).rank().to_numpy()
    ry = pd.Series(y).rank().to_numpy()
    return pearson(rx, ry)


def _best(correlations: dict[int, float | None]) -> tuple[int | None, float | None]:
    known = {k: c for k, c in correlations.items() if c is not None}
    if not known:
        return None, None
    # The largest |correlation|; on a tie the shortest lag (a lead needs evidence).
    lag = min(known, key=lambda k: (-abs(known[k]), abs(k), k))
    return lag, known[lag]


def lead_lag(frame: pd.DataFrame, future: str, etf: str, max_lag: int) -> LeadLag:
    """The figures of one pair from its snapshot rows (columns of :data:`COLUMNS`)."""
    series = [_returns(run) for _, run in frame.groupby("run_id", sort=True)]
    lags = range(-max_lag, max_lag + 1)
    by_lag = {k: pearson(*_pairs(series, k)[1:]) for k in lags}
    best_lag, correlation = _best(by_lag)
    samples = len(_pairs(series, 0)[1])
    # Out of sample: one cut in time for every lag, so no test pair precedes a train pair.
    times = np.sort(_pairs(series, 0)[0])
    horizon = hit_rate = ic = None
    test_samples = 0
    if len(times) >= 2 * MIN_PAIRS:
        cut = times[int(len(times) * TRAIN_SHARE)]
        train = {}
        for k in range(0, max_lag + 1):
            when, x, y = _pairs(series, k)
            train[k] = pearson(x[when < cut], y[when < cut])
        train_lag, train_corr = _best(train)
        if train_lag is not None:
            horizon = max(train_lag, 1)
            when, x, y = _pairs(series, horizon)
            x, y = x[when >= cut], y[when >= cut]
            test_samples = len(x)
            sign = 1.0 if (train.get(horizon) or train_corr or 0.0) >= 0 else -1.0
            moved = (x != 0) & (y != 0)
            if moved.sum() >= MIN_PAIRS:
                hit_rate = float(np.mean(np.sign(sign * x[moved]) == np.sign(y[moved])))
            ic = spearman(sign * x, y)
    return LeadLag(
        future=future,
        etf=etf,
        samples=samples,
        best_lag=best_lag,
        correlation=correlation,
        horizon=horizon,
        hit_rate=hit_rate,
        ic=ic,
        test_samples=test_samples,
        by_lag=by_lag,
    )


def correlate(frame: pd.DataFrame, max_lag: int) -> list[LeadLag]:
    """Every future/ETF pair in ``frame`` (rows of ``futures_snapshots``), by future."""
    if frame.empty:
        return []
    return [
        lead_lag(rows, str(future), str(etf), max_lag)
        for (future, etf), rows in frame.groupby(["symbol", "etf"], sort=True)
    ]


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def table_text(results: Sequence[LeadLag]) -> str:
    """The results as a plain-text table a trader reads."""
    lines = [
        "future  etf   samples  best_lag  correlation  horizon  hit_rate  ic(spearman)  test",
    ]
    for r in results:
        lines.append(
            f"{r.future:<7} {r.etf:<5} {r.samples:>7}  {_fmt(r.best_lag, 'd'):>8}  "
            f"{_fmt(r.correlation, '+.3f'):>11}  {_fmt(r.horizon, 'd'):>7}  "
            f"{_fmt(r.hit_rate, '.1%'):>8}  {_fmt(r.ic, '+.3f'):>12}  {r.test_samples:>4}"
        )
    lines.append(
        "best_lag > 0: the future moves that many cycles before its ETF. hit_rate and ic "
        f"are out of sample (the last {1 - TRAIN_SHARE:.0%} of the data, horizon chosen on "
        "the rest); '-' = too few pairs to say."
    )
    return "\n".join(lines)
