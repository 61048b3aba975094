"""Quarterly equity-index futures: month codes, expiries and the front contract.

CME's equity-index futures (ES, NQ, RTY) list March, June, September and December
contracts (month codes H, M, U, Z) that expire on the third Friday of their month, or on
the trading day before when that Friday is a holiday. V6 trades none of them: it reads
the front contract as a leading indicator, and rolls to the next one
``roll_days_before_expiry`` calendar days before expiry, when volume has moved there.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, timedelta

from v6.domain.futures import FutureContract
from v6.errors import V6Error
from v6.market.calendar import ExchangeCalendar

MONTH_CODES = {3: "H", 6: "M", 9: "U", 12: "Z"}
"""CME month codes of the quarterly months."""


def third_friday(year: int, month: int) -> date:
    """The third Friday of a month."""
    first = date(year, month, 1)
    return first + timedelta(days=(4 - first.weekday()) % 7 + 14)


def local_symbol(symbol: str, expiry: date) -> str:
    """CME's local symbol: root, month code, last digit of the year (``ESH6``)."""
    return f"{symbol}{MONTH_CODES[expiry.month]}{expiry.year % 10}"


def quarterly_contracts(
    symbol: str,
    start: date,
    count: int,
    calendar: ExchangeCalendar,
    exchange: str = "CME",
) -> list[FutureContract]:
    """The next ``count`` quarterly contracts of ``symbol`` expiring on or after ``start``.

    Each expires on the third Friday of its month, moved to the session before when the
    exchange is shut that day (``calendar``, CME's).
    """
    out: list[FutureContract] = []
    year, month = start.year, start.month
    while len(out) < count:
        if month in MONTH_CODES:
            expiry = calendar.session_on_or_before(third_friday(year, month))
            if expiry >= start:
                out.append(
                    FutureContract(
                        symbol=symbol,
                        local_symbol=local_symbol(symbol, third_friday(year, month)),
                        expiry=expiry,
                        exchange=exchange,
                    )
                )
        month += 1
        if month == 13:
            year, month = year + 1, 1
    return out


def roll_date(contract: FutureContract, roll_days: int) -> date:
    """The day V6 stops reading ``contract`` and reads the next one instead."""
    return contract.expiry - timedelta(days=roll_days)


def front_contract(listed: Iterable[FutureContract], today: date, roll_days: int) -> FutureContract:
    """The contract to read on ``today``: the nearest expiry whose roll date is after today.

    Raises V6Error when nothing listed qualifies (every listed contract is inside its
    roll window or expired), which for a quarterly future means the listing is broken.
    """
    alive: Sequence[FutureContract] = sorted(
        (c for c in listed if today < roll_date(c, roll_days)), key=lambda c: c.expiry
    )
    if not alive:
        raise V6Error(
            f"no listed future is more than {roll_days} days from expiry on {today}; "
            "check futures.roll_days_before_expiry"
        )
    return alive[0]
