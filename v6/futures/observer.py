"""Read every configured future once per engine cycle: front contract, quote, changes.

What the engine's observe phase calls (:func:`v6.engine.futures.attach`). Per future:

1. While CME is shut (the 17:00-18:00 ET maintenance break, the weekend, a holiday) it
   fetches nothing and alarms about nothing; the last readings are shown with
   ``market_open=False``. Data resumes at the next cycle after CME reopens.
2. The listed contracts are asked for once a day; the front one is picked by the roll
   rule (:func:`v6.futures.contracts.front_contract`).
3. On the cycle the front contract changes, the old one is quoted too and the roll
   ratio (new over old, same instant) is stored, so the change metrics never jump.
4. A quote that gives no positive finite price (IB's NaN, -1 or 0), or one older than
   ``cycle.max_quote_age_seconds`` (a stream that stopped ticking), is missing: the
   ETF's reading is absent this cycle, and after ``stale_alert_cycles`` such cycles in a
   row while CME trades a WARNING alert names the future (once; an INFO when it is back).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pandas as pd
from attrs import frozen

from v6.config import FutureContractSettings, FuturesSettings
from v6.domain.alerts import Severity
from v6.domain.futures import FutureContract, FuturesQuote, FuturesReading
from v6.domain.market import MarketView, UnderlyingQuote
from v6.errors import V6Error
from v6.futures.changes import ChangeTracker
from v6.futures.contracts import front_contract
from v6.futures.feed import FuturesFeed
from v6.futures.hours import FuturesHours

log = logging.getLogger(__name__)
NEW_YORK = ZoneInfo("America/New_York")
SOURCE = "futures"
FEED_ERRORS = (ConnectionError, TimeoutError, OSError, V6Error)


@frozen(slots=True)
class FuturesAlert:
    """An alert the engine should raise (the observer has no engine)."""

    severity: Severity
    code: str
    message: str


@frozen(slots=True)
class Observation:
    """One cycle's futures: readings by ETF, rows for the table, alerts to raise."""

    readings: Mapping[str, FuturesReading]
    rows: list[dict[str, Any]]
    alerts: list[FuturesAlert]
    fetched: bool  # False inside a CME closure


def _side(value: float) -> float | None:
    return value if math.isfinite(value) and value > 0 else None


def _etf_price(quote: UnderlyingQuote | None) -> float | None:
    if quote is None:
        return None
    bid, ask = quote.bid, quote.ask
    if math.isfinite(bid) and math.isfinite(ask) and 0 < bid <= ask:
        return (bid + ask) / 2.0
    return None


class FuturesObserver:
    """Turns a :class:`~v6.futures.feed.FuturesFeed` into per-cycle readings and rows."""

    def __init__(
        self,
        settings: FuturesSettings,
        feed: FuturesFeed,
        hours: FuturesHours,
        tolerance_seconds: float,
        traded: Sequence[str] | None = None,
        max_quote_age_seconds: float = 120.0,
    ) -> None:
        # Only the futures whose ETF is traded are read (the config may list more).
        if traded is not None:
            settings = attrs.evolve(
                settings, contracts=[c for c in settings.contracts if c.etf in traded]
            )
        self.settings = settings
        self.max_quote_age_seconds = max_quote_age_seconds
        self.feed = feed
        self.hours = hours
        self.tracker = ChangeTracker(hours, tolerance_seconds)
        self._listed: dict[str, tuple[date, list[FutureContract]]] = {}
        self._front: dict[str, FutureContract] = {}
        self._readings: dict[str, FuturesReading] = {}
        self._missing: dict[str, int] = {}
        self._alerted: set[str] = set()
        self._last_time: datetime | None = None

    def seed(self, frame: pd.DataFrame) -> int:
        """Take up the snapshots an earlier run stored (``futures_snapshots`` rows), so a
        restarted paper or live engine measures its first changes against them and
        notices a roll that happened while it was down. Returns the rows taken."""
        if frame.empty:
            return 0
        exchange = {c.symbol: c.exchange for c in self.settings.contracts}
        taken = 0
        for row in frame.sort_values("time", kind="stable").itertuples(index=False):
            if row.symbol not in exchange:
                continue
            price = float(row.price)
            if not (math.isfinite(price) and price > 0):
                continue
            ratio = float(row.roll_ratio) if row.roll_ratio is not None else math.nan
            when = pd.Timestamp(row.time).to_pydatetime()
            self.tracker.add(row.symbol, when, row.local_symbol, price, ratio)
            expiry = row.expiry if isinstance(row.expiry, date) else pd.Timestamp(row.expiry).date()
            self._front[row.symbol] = FutureContract(
                row.symbol, row.local_symbol, expiry, exchange[row.symbol]
            )
            taken += 1
        return taken

    def observe(self, time: datetime, market: MarketView) -> Observation:
        """This cycle's futures at ``time``, with ``market``'s ETF quotes beside them.

        Asked again at the same instant (the rounds of a flatten), it repeats the
        readings and writes no second row."""
        if time == self._last_time:
            return Observation(dict(self._readings), [], [], fetched=False)
        self._last_time = time
        if not self.hours.trading(time):
            shut = {etf: attrs.evolve(r, market_open=False) for etf, r in self._readings.items()}
            return Observation(shut, [], [], fetched=False)
        today = time.astimezone(NEW_YORK).date()
        fronts: dict[str, FutureContract] = {}
        wanted: list[FutureContract] = []
        for contract in self.settings.contracts:
            front = self._front_of(contract, today)
            if front is None:
                continue
            fronts[contract.symbol] = front
            wanted.append(front)
            before = self._front.get(contract.symbol)
            if before is not None and before.local_symbol != front.local_symbol:
                wanted.append(before)  # quoted once more, for the roll ratio
        quotes = self._quotes(time, wanted)
        readings: dict[str, FuturesReading] = {}
        rows: list[dict[str, Any]] = []
        alerts: list[FuturesAlert] = []
        for contract in self.settings.contracts:
            front = fronts.get(contract.symbol)
            quote = quotes.get(front.local_symbol) if front is not None else None
            price = quote.price if quote is not None and self._fresh(quote, time) else math.nan
            if not (math.isfinite(price) and price > 0):
                alerts.extend(self._missed(contract))
                continue
            alerts.extend(self._received(contract))
            ratio = self._roll_ratio(contract, front, price, quotes)
            self._front[contract.symbol] = front
            self.tracker.add(contract.symbol, time, front.local_symbol, price, ratio)
            changes = self.tracker.changes(contract.symbol, time)
            reading = FuturesReading(
                future=contract.symbol,
                etf=contract.etf,
                local_symbol=front.local_symbol,
                expiry=front.expiry,
                price=price,
                bid=_side(quote.bid),
                ask=_side(quote.ask),
                time=time,
                **changes,
            )
            readings[contract.etf] = reading
            rows.append(self._row(reading, ratio, market.underlyings.get(contract.etf)))
        self._readings = readings
        return Observation(readings, rows, alerts, fetched=True)

    # -- steps ----------------------------------------------------------------------------

    def _fresh(self, quote: FuturesQuote, time: datetime) -> bool:
        """A quote older than ``max_quote_age_seconds`` (a stream that stopped) is stale."""
        return (time - quote.time).total_seconds() <= self.max_quote_age_seconds

    def _front_of(self, contract: FutureContractSettings, today: date) -> FutureContract | None:
        cached = self._listed.get(contract.symbol)
        if cached is None or cached[0] != today:
            try:
                listed = list(self.feed.listed(contract.symbol, contract.exchange, today))
            except FEED_ERRORS as exc:
                log.warning("%s: listing the contracts failed: %s", contract.symbol, exc)
                return self._front.get(contract.symbol)
            if not listed:
                log.warning("%s: no contracts listed", contract.symbol)
                return self._front.get(contract.symbol)
            self._listed[contract.symbol] = cached = (today, listed)
        try:
            return front_contract(cached[1], today, self.settings.roll_days_before_expiry)
        except V6Error as exc:
            log.warning("%s: %s", contract.symbol, exc)
            return None

    def _quotes(self, time: datetime, wanted: list[FutureContract]) -> Mapping[str, FuturesQuote]:
        if not wanted:
            return {}
        try:
            return self.feed.quotes(time, wanted)
        except FEED_ERRORS as exc:
            log.warning("futures quotes failed: %s", exc)
            return {}

    def _roll_ratio(
        self,
        contract: FutureContractSettings,
        front: FutureContract,
        price: float,
        quotes: Mapping[str, FuturesQuote],
    ) -> float:
        """1 without a roll; new over old price at a roll; NaN when the old is unquoted."""
        before = self._front.get(contract.symbol)
        if before is None or before.local_symbol == front.local_symbol:
            return 1.0
        old = quotes.get(before.local_symbol)
        old_price = old.price if old is not None else math.nan
        log.info("%s rolled from %s to %s", contract.symbol, before.local_symbol,
                 front.local_symbol)  # fmt: skip
        return price / old_price if math.isfinite(old_price) and old_price > 0 else math.nan

    def _missed(self, contract: FutureContractSettings) -> list[FuturesAlert]:
        n = self._missing.get(contract.symbol, 0) + 1
        self._missing[contract.symbol] = n
        if n >= self.settings.stale_alert_cycles and contract.symbol not in self._alerted:
            self._alerted.add(contract.symbol)
            return [
                FuturesAlert(
                    Severity.WARNING,
                    "futures_stale",
                    f"{contract.symbol}: no usable quote for {n} cycles while CME trades; "
                    f"market.futures has no {contract.etf} reading until it returns",
                )
            ]
        return []

    def _received(self, contract: FutureContractSettings) -> list[FuturesAlert]:
        n = self._missing.pop(contract.symbol, 0)
        if contract.symbol in self._alerted:
            self._alerted.discard(contract.symbol)
            return [
                FuturesAlert(
                    Severity.INFO,
                    "futures_resumed",
                    f"{contract.symbol}: quotes are back after {n} cycles without",
                )
            ]
        return []

    @staticmethod
    def _row(reading: FuturesReading, ratio: float, etf: UnderlyingQuote | None) -> dict[str, Any]:
        return {
            "time": reading.time,
            "symbol": reading.future,
            "date": reading.time.astimezone(UTC).strftime("%Y-%m-%d"),
            "etf": reading.etf,
            "local_symbol": reading.local_symbol,
            "expiry": reading.expiry,
            "price": reading.price,
            "bid": reading.bid,
            "ask": reading.ask,
            "roll_ratio": ratio if math.isfinite(ratio) else None,
            "etf_price": _etf_price(etf),
            "change_1h": reading.change_1h,
            "change_4h": reading.change_4h,
            "change_overnight": reading.change_overnight,
            "change_daily": reading.change_daily,
        }
