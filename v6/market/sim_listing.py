"""Which options the simulated exchange lists: expiries and strikes.

Expiries follow the listing of the US ETF options the simulator is built around: SPY and
QQQ list an expiry every trading day for the coming week, IWM on Mondays, Wednesdays and
Fridays, every underlying has weekly Friday expiries and the monthly third Friday, out
to ``max_dte`` calendar days. An expiry is always a trading session: a Friday holiday
moves the weekly (and monthly) expiry to the Thursday before.

Strikes sit on the underlying's strike grid around the spot. Near-dated expiries get
``strikes_per_side`` strikes at the base step; far-dated ones keep half of them at the
base step near the money and spread the rest on a coarser grid (5x, 10x, 25x ...) far
enough out to cover about three standard deviations, like real listings.
"""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np

from v6.market.calendar import ExchangeCalendar

DAILY_EXPIRY_SYMBOLS = frozenset({"SPY", "QQQ"})
MON_WED_FRI_SYMBOLS = frozenset({"IWM"})
SHORT_TERM_DAYS = 7
COVERAGE_SD = 3.0
_COARSE_MULTIPLES = (5, 10, 25, 50, 100, 250, 500, 1000)
FRIDAY = 4


def listed_expiries(
    calendar: ExchangeCalendar, symbol: str, today: date, max_dte: int
) -> np.ndarray:
    """Expiry sessions (datetime64[D], ascending) listed on ``today`` for ``symbol``."""
    last = today + timedelta(days=max_dte)
    found: set[date] = set()
    friday = today + timedelta(days=(FRIDAY - today.weekday()) % 7)
    while friday <= last + timedelta(days=1):
        expiry = calendar.session_on_or_before(friday)
        if today <= expiry <= last:
            found.add(expiry)
        friday += timedelta(days=7)
    if symbol in DAILY_EXPIRY_SYMBOLS or symbol in MON_WED_FRI_SYMBOLS:
        short = calendar.sessions_between(today, min(last, today + timedelta(SHORT_TERM_DAYS)))
        if symbol in MON_WED_FRI_SYMBOLS:
            short = [d for d in short if d.weekday() in (0, 2, 4)]
        found.update(short)
    return np.array(sorted(found), dtype="datetime64[D]")


def _coarse_step(step: float, needed: float) -> float:
    for multiple in _COARSE_MULTIPLES:
        if step * multiple >= needed:
            return step * multiple
    return step * _COARSE_MULTIPLES[-1]


def strike_grid(
    spot: float, step: float, per_side: int, calm_vol: float, t_years: float
) -> np.ndarray:
    """Listed strikes of one expiry, ascending, all positive and on the ``step`` grid."""
    center = round(spot / step) * step
    cover = COVERAGE_SD * calm_vol * spot * math.sqrt(max(t_years, 1.0 / 365.0))
    if cover <= per_side * step or per_side < 2:
        strikes = center + step * np.arange(-per_side, per_side + 1)
    else:
        inner = per_side // 2
        outer = per_side - inner
        coarse = _coarse_step(step, (cover - inner * step) / outer)
        near = center + step * np.arange(-inner, inner + 1)
        first_up = math.floor((center + inner * step) / coarse + 1e-9) * coarse + coarse
        first_down = math.ceil((center - inner * step) / coarse - 1e-9) * coarse - coarse
        up = first_up + coarse * np.arange(outer)
        down = first_down - coarse * np.arange(outer)[::-1]
        strikes = np.concatenate([down, near, up])
    strikes = np.round(strikes, 6)
    return strikes[strikes > 0.0]
