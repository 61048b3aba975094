"""Which option root an index option of a given expiry belongs to, when nobody said.

An index like SPX lists two families of options on one underlying: the monthly SPX,
expiring on the third Friday and settled on the opening prints of that morning (AM),
and the weeklies and dailies SPXW, expiring on every other listed day and settled on the
close (PM). A recorded chain or a vendor file without a root column carries only the
underlying, so the style must come from the expiry: the standard monthly expiry date
(the third Friday, or the session before it when that Friday is an exchange holiday)
is the AM root, any other date the PM root. NDX/NDXP and RUT/RUTW list the same way.

When both families list the third Friday (SPXW does), the AM monthly is what an
unlabelled third-Friday row is taken for; a vendor that names the root is believed.
"""

from __future__ import annotations

from datetime import date

import numpy as np

from v6.domain.contract_specs import normalise_symbol
from v6.errors import V6Error
from v6.market.calendar import ExchangeCalendar

# The AM-settled monthly root -> the PM-settled root listing every other expiry.
PM_ROOT_OF_AM_MONTHLY = {"SPX": "SPXW", "NDX": "NDXP", "RUT": "RUTW"}

_THURSDAY_EPOCH = 3  # 1970-01-01 was a Thursday: weekday (Monday 0) = (days + 3) % 7
_ORDINAL_1970 = date(1970, 1, 1).toordinal()


def third_fridays(expiry_days: np.ndarray) -> np.ndarray:
    """The third Friday of each expiry's month, as days since 1970 (vectorised)."""
    days = np.asarray(expiry_days, dtype=np.int64)
    first = days.astype("datetime64[D]").astype("datetime64[M]").astype("datetime64[D]")
    first_days = first.astype(np.int64)
    weekday = (first_days + _THURSDAY_EPOCH) % 7
    return first_days + (4 - weekday) % 7 + 14


def monthly_expiries(expiry_days: np.ndarray) -> np.ndarray:
    """True where an expiry is its month's standard monthly expiry: the third Friday, or
    the session before it when the exchange does not trade that Friday (Good Friday)."""
    days = np.asarray(expiry_days, dtype=np.int64)
    fridays = third_fridays(days)
    calendar = ExchangeCalendar()
    moved: dict[int, int] = {}
    for friday in np.unique(fridays).tolist():
        try:
            day = calendar.session_on_or_before(date.fromordinal(_ORDINAL_1970 + friday))
            moved[friday] = day.toordinal() - _ORDINAL_1970
        except V6Error:  # outside the calendar's years: the Friday itself
            moved[friday] = friday
    listed = np.array([moved[f] for f in fridays.tolist()], dtype=np.int64)
    return days == listed


def listed_roots(underlying: str, expiry_days: np.ndarray) -> np.ndarray:
    """The root of each expiry of ``underlying``'s options (object array of str): the AM
    monthly or the PM root for SPX, NDX and RUT by :func:`monthly_expiries`, the
    underlying itself for everything else."""
    symbol = normalise_symbol(underlying)
    days = np.asarray(expiry_days, dtype=np.int64)
    roots = np.full(days.shape, symbol, dtype=object)
    pm = PM_ROOT_OF_AM_MONTHLY.get(symbol)
    if pm is not None and days.size:
        distinct, inverse = np.unique(days, return_inverse=True)
        roots[~monthly_expiries(distinct)[inverse]] = pm
    return roots
