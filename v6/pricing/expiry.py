"""Time to expiry in years, the ``t`` every pricing function takes."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import numpy as np

from v6.pricing.bsm import DAYS_PER_YEAR

NEW_YORK = ZoneInfo("America/New_York")
SECONDS_PER_YEAR = DAYS_PER_YEAR * 86_400.0
EXPIRY_CLOSE = time(16, 0)  # equity options stop trading at the 16:00 New York close


def years_to_expiry(expiry: np.ndarray, now: datetime) -> np.ndarray:
    """Years from ``now`` to each expiry's 16:00 New York close (0 once past it).

    Vectorised over the distinct expiries (a chain has a handful), so a whole chain or a
    whole book costs a few datetime conversions, not one per option.
    """
    days = np.asarray(expiry, dtype="datetime64[D]").reshape(-1)
    distinct, inverse = _distinct(days)
    years = np.array(
        [
            max(0.0, (datetime.combine(day, EXPIRY_CLOSE, tzinfo=NEW_YORK) - now).total_seconds())
            / SECONDS_PER_YEAR
            for day in distinct.tolist()
        ],
        dtype=np.float64,
    )
    return years[inverse] if years.size else np.zeros(days.shape[0])


def _distinct(days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(days, return_inverse=True)``, in one pass when ``days`` is already in
    order (chains are stored and served sorted by expiry), else by one sort. A mask per
    expiry cost more than the rest of the data-quality gate."""
    if days.size > 1:
        change = days[1:] != days[:-1]
        if not (days[1:] < days[:-1]).any():
            starts = np.flatnonzero(np.concatenate(([True], change)))
            inverse = np.cumsum(np.concatenate(([False], change)), dtype=np.intp)
            return days[starts], inverse
    return np.unique(days, return_inverse=True)
