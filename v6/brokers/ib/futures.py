"""IBFuturesFeed: the index futures through the IB connection V6 already holds.

Contracts come from one contract-details request per future and day (the listed
expiries with their conIds and local symbols, ``ESH6``); the observer picks the front
one by the roll rule (:mod:`v6.futures.contracts`). Quotes are streamed: one market-data
line per future (two for the one cycle of a roll, when the old contract is read once
more for the roll ratio), so the three defaults add three lines to the underlyings,
VIX and ``ib.max_option_lines`` (90 + 3 + 1 + 3 = 97 of a basic account's 100).
Requests go through ib_async's throttle (``ib.max_requests_per_second``) like every
other. IB marks a missing price with -1 (and sends NaN or 0 when a side is empty):
each becomes NaN here, never a number.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime

from ib_async import Contract, Future, Ticker

from v6.brokers.ib.connection import IBConnectionManager
from v6.brokers.ib.contracts import parse_expiry
from v6.config import IBSettings
from v6.domain.futures import FutureContract, FuturesQuote
from v6.futures.contracts import third_friday

log = logging.getLogger(__name__)


def _price(value: float | None) -> float:
    """A tick price as a float: None, NaN, infinities, IB's -1 and 0 become NaN."""
    if value is None:
        return math.nan
    value = float(value)
    return value if math.isfinite(value) and value > 0 else math.nan


def _expiry(contract: Contract, real_expiration: str) -> date | None:
    """The expiry day: the last trade date, else the real expiration date, else the
    third Friday of the contract month (IB sends ``YYYYMM`` for some futures)."""
    for text in (contract.lastTradeDateOrContractMonth, real_expiration):
        if text and len(text) >= 8:
            with contextlib.suppress(ValueError):
                return parse_expiry(text)
    month = contract.lastTradeDateOrContractMonth
    if month and len(month) == 6 and month.isdigit():
        return third_friday(int(month[:4]), int(month[4:6]))
    return None


def _quote_time(ticker: Ticker, now: datetime, received: datetime) -> datetime:
    """When the quote last changed, on the engine's clock (its age as measured here); a
    stream that never ticked is as old as the epoch."""
    if ticker.time is None:
        return datetime(1970, 1, 1, tzinfo=UTC)
    stamp = ticker.time if ticker.time.tzinfo else ticker.time.replace(tzinfo=UTC)
    return now - (received - stamp)


class IBFuturesFeed:
    """Implements :class:`v6.futures.feed.FuturesFeed` on one :class:`IBConnectionManager`."""

    def __init__(self, connection: IBConnectionManager, settings: IBSettings) -> None:
        self.connection = connection
        self.ib = connection.ib
        self.settings = settings
        self._contracts: dict[int, Contract] = {}  # conId -> qualified IB contract
        self._tickers: dict[int, Ticker] = {}  # conId -> streaming ticker
        connection.on_reconnect(self.resubscribe)

    def resubscribe(self) -> None:
        """After a reconnect the old streams are gone: cancel what TWS may still hold and
        subscribe again at the next request."""
        for ticker in self._tickers.values():
            with contextlib.suppress(ConnectionError, ValueError, KeyError):
                self.ib.cancelMktData(ticker.contract)
        self._tickers.clear()

    def listed(self, symbol: str, exchange: str, today: date) -> Sequence[FutureContract]:
        """Every listed contract of ``symbol`` from IB's contract details."""
        if not self.connection.connected:
            raise ConnectionError("not connected to IB")
        details = self.ib.reqContractDetails(Future(symbol, exchange=exchange, currency="USD"))
        out = []
        for detail in details:
            c = detail.contract
            if c is None or c.secType != "FUT" or not c.conId:
                continue
            expiry = _expiry(c, detail.realExpirationDate or "")
            if expiry is None or expiry < today:
                continue
            self._contracts[c.conId] = c
            out.append(
                FutureContract(
                    symbol=symbol,
                    local_symbol=c.localSymbol or f"{symbol} {expiry:%Y%m}",
                    expiry=expiry,
                    exchange=exchange,
                    con_id=c.conId,
                )
            )
        return sorted(out, key=lambda f: f.expiry)

    def quotes(
        self, time_: datetime, contracts: Sequence[FutureContract]
    ) -> Mapping[str, FuturesQuote]:
        """The streamed quote of each of ``contracts`` (subscribing the new ones, and
        cancelling the streams no longer asked for, so lines are never left open)."""
        if not self.connection.connected:
            raise ConnectionError("not connected to IB")
        # A contract known only by its local symbol (from the store, after a restart) is
        # found among the listed ones.
        by_local = {c.localSymbol: con_id for con_id, c in self._contracts.items()}
        wanted = {}
        for c in contracts:
            con_id = c.con_id if c.con_id in self._contracts else by_local.get(c.local_symbol)
            if con_id is not None:
                wanted[con_id] = c
        for con_id in list(self._tickers):
            if con_id not in wanted:
                ticker = self._tickers.pop(con_id)
                with contextlib.suppress(ConnectionError, ValueError, KeyError):
                    self.ib.cancelMktData(ticker.contract)
        fresh = []
        for con_id in wanted:
            if con_id not in self._tickers:
                contract = self._contracts[con_id]
                self._tickers[con_id] = self.ib.reqMktData(contract, "", False, False)
                fresh.append(self._tickers[con_id])
        self._await_first_ticks(fresh)
        self.connection.pump(0.0)
        received = datetime.now(UTC)
        out = {}
        for con_id, contract in wanted.items():
            ticker = self._tickers[con_id]
            out[contract.local_symbol] = FuturesQuote(
                contract=contract,
                bid=_price(ticker.bid),
                ask=_price(ticker.ask),
                last=_price(ticker.last),
                time=_quote_time(ticker, time_, received),
            )
        return out

    def _await_first_ticks(self, tickers: list[Ticker]) -> None:
        """Give new streams a moment for their first quotes (as the options do)."""
        rate = self.settings.max_requests_per_second or 1000
        deadline = time.monotonic() + self.settings.order_ack_seconds + len(tickers) / rate
        while tickers and time.monotonic() < deadline:
            if all(t.time is not None for t in tickers):
                return
            self.connection.pump(0.02)
