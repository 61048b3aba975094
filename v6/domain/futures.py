"""Index futures as leading indicators: one reading per ETF, the change metrics with it.

A reading is what regime detectors and strategies see in ``market.futures`` (keyed by
the ETF the future leads: ``market.futures["SPY"]`` is the ES reading). Changes are in
percent on a continuous, ratio-adjusted series, so a contract roll never shows as a
jump; each is None when V6 has no price at its reference instant (docs/FUTURES.md).
"""

from __future__ import annotations

import math
from datetime import date, datetime

from attrs import frozen


@frozen(slots=True)
class FutureContract:
    """One listed future: ``ES`` expiring 2026-03-20 is ``ESH6``."""

    symbol: str
    local_symbol: str
    expiry: date
    exchange: str = "CME"
    con_id: int = 0  # IB's contract id when it came from IB, else 0


@frozen(slots=True)
class FuturesQuote:
    """Top of book of one contract as a feed delivered it; NaN where a side is missing."""

    contract: FutureContract
    bid: float
    ask: float
    last: float
    time: datetime

    @property
    def price(self) -> float:
        """The mid of a sound two-sided quote, else NaN.

        A crossed or one-sided book says nothing reliable about the level. Neither does the
        last trade: IB sends the last trade of the session with every new subscription (after
        a reconnect, say), and the stream's time then says "fresh" for a price that may be
        hours old, so change metrics and a regime's overnight-drop rule would run on it.
        ``last`` is kept for the record only.
        """
        bid, ask = self.bid, self.ask
        if math.isfinite(bid) and math.isfinite(ask) and 0 < bid <= ask:
            return (bid + ask) / 2.0
        return math.nan


@frozen(slots=True)
class FuturesReading:
    """The front future of one ETF at one instant, with its changes in percent.

    ``market_open`` is False while CME is shut (the 17:00-18:00 ET maintenance break,
    weekends, holidays): the reading is then the last one taken, as of ``time``.
    """

    future: str
    etf: str
    local_symbol: str
    expiry: date
    price: float
    bid: float | None
    ask: float | None
    time: datetime
    change_1h: float | None
    change_4h: float | None
    change_overnight: float | None
    change_daily: float | None
    market_open: bool = True
