"""The backtest broker: the simulated broker with a fill model and settlement by style.

End-of-day data has one quote a day, so the queue of a resting limit order (what the
sim's liquidity model plays out cycle by cycle) cannot be replayed. A backtest instead
asks, at every snapshot an order is working, where the market would fill it: the model
price, a configurable point between mid and natural plus slippage
(``backtest.fill_point``, ``backtest.slippage_per_leg``):

    model price = net mid + fill_point * net half-spread + slippage_per_leg * sum |ratio|

rounded to the cent against the trader and never beyond the natural price (every leg
at its own bid or ask). An order whose limit is at or beyond the model price fills at
its own limit, never beyond the natural (a credit never smaller than its limit, a debit
never larger): so an order sent at the natural price (a flatten, an unwind, any urgent
close) fills at the natural, and a limit the model price does not reach rests and is
repriced toward natural and timed out by the engine's executor, as live, one step a
snapshot. Legs are priced inside their own quotes and add up to the net price exactly
(:func:`v6.brokers.sim.split_combo_price`). Commissions are charged per contract as in
sim. Orders on a leg without a usable quote wait (and time out) as in sim.

Expiration settles by the contract's style (``chain_snapshots.settlement``):

* cash-settled index options (SPX, SPXW, XSP, ...) pay their intrinsic value in cash:
  PM-settled ones against the underlying's last stored price on expiry day (the closing
  value), AM-settled ones against its first stored price of expiry day (the opening
  prints; end-of-day files carry one quote a day, which then stands in for them);
* physically settled ETF options are closed at intrinsic value against the same price:
  the cash an assignment or exercise into shares, sold at that price at once, would
  bring. V6 holds no stock positions, and a trader running short premium closes the
  shares on the next open anyway; the overnight gap risk of holding them is left out.

An expiry day the exchange did not trade (a holiday) settles against the session before
it, which is when such options stopped trading. An expiry day that was a session but has
no stored price (a vendor file missing, every row of the day bad) settles against the
first price stored after it, with an ERROR alert naming the day and the price used: the
P&L is realised, and the trader is told it rests on a price from the wrong day.

Everything else (ledger, margin, account values) is the simulated broker's own.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date

import attrs
import numpy as np

from v6.brokers.sim import NEW_YORK, SimBroker, _Working, to_cents
from v6.config import BacktestSettings, SimBrokerSettings
from v6.domain.alerts import Alert, Severity
from v6.domain.contract_specs import CASH_AM
from v6.domain.market import MarketView
from v6.domain.orders import BrokerUpdate, Fill
from v6.errors import V6Error
from v6.market.calendar import ExchangeCalendar

_EPS = 1e-9


def fill_price(
    ratio: np.ndarray, bid: np.ndarray, ask: np.ndarray, fill_point: float, slippage: float
) -> int:
    """The model's net price of a combo in cents (debit positive, credit negative): the
    least marketable limit the market fills at this snapshot."""
    mid, half = (bid + ask) / 2.0, (ask - bid) / 2.0
    net = float(ratio @ mid + fill_point * (np.abs(ratio) @ half))
    net += slippage * float(np.abs(ratio).sum())
    cents = math.ceil(net * 100.0 - 1e-6)  # against the trader: a debit up, a credit less
    natural = int(
        ratio @ np.where(ratio > 0, np.floor(ask * 100 + 1e-6), np.ceil(bid * 100 - 1e-6))
    )
    return min(cents, natural)


class BacktestBroker(SimBroker):
    """SimBroker whose orders fill at the backtest's fill model and whose expirations
    settle by contract style; ``settlement_of`` says how an (underlying, expiry) settles."""

    def __init__(
        self,
        broker: SimBrokerSettings,
        backtest: BacktestSettings,
        initial_cash: float,
        seed: int,
        session: str,
        settlement_of: Callable[[str, date], str],
    ) -> None:
        # Whether an order fills is the model's call (``_match``); no latency in EOD data.
        settings = attrs.evolve(
            broker, fill_model="immediate_mid", fill_threshold_half_spreads=0.0, latency_seconds=0
        )
        super().__init__(settings, initial_cash, seed, session)
        self.backtest = backtest
        self.settlement_of = settlement_of
        self._closes: dict[str, dict[date, float]] = {}  # last stored price per day
        self._opens: dict[str, dict[date, float]] = {}  # first stored price per day
        self.calendar = ExchangeCalendar()
        self._alerts: list[Alert] = []  # settlement alerts for the next poll
        self._alerted: set[tuple[str, date]] = set()

    def _match(self, working: _Working, market: MarketView) -> list[Fill]:
        """Fill at the order's own limit (never beyond the natural) when the model price
        is at or better than it. Otherwise, with ``backtest.work_to_fill_point``, the order
        is worked to the model price within the snapshot and fills there (its limit moves
        to that price, as a trader's steps toward natural through the day would); without
        it, it rests, and the engine reprices it or times it out as it would live."""
        order = working.order
        bid, ask, usable = self.quotes_for(order, market)
        if not usable.all():
            return []
        ratio = np.array([leg.ratio for leg in order.legs], dtype=np.int64)
        model = fill_price(
            ratio, bid, ask, self.backtest.fill_point, self.backtest.slippage_per_leg
        )
        if to_cents(working.limit_price) < model:
            if not self.backtest.work_to_fill_point:
                return []  # the market does not reach the limit at this snapshot
            # Worked through the day toward natural until it meets the market's price:
            # the limit it fills at is that price, never beyond natural (``fill_price``).
            step = math.gcd(*(abs(leg.ratio) for leg in order.legs))
            working.limit_price = -(-model // step) * step / 100.0  # splittable over ratios
        return super()._match(working, market)

    def _observe(self, market: MarketView) -> None:
        """The sim broker's bookkeeping (time, spots, last good mid of every held
        contract), then each day's first and last price of every underlying for
        settlement."""
        super()._observe(market)
        day = market.time.astimezone(NEW_YORK).date()
        for symbol, quote in market.underlyings.items():
            if np.isfinite(quote.last) and quote.last > 0:
                self._closes.setdefault(symbol, {})[day] = float(quote.last)
                self._opens.setdefault(symbol, {}).setdefault(day, float(quote.last))

    def settlement_price(self, underlying: str, expiry: date) -> tuple[float, date] | None:
        """The price ``underlying``'s options expiring on ``expiry`` settle against, and
        the day it is from: the first stored price of the settlement day for AM
        settlement, the last for PM and physical settlement. The settlement day is expiry
        day, or the session before it when the exchange did not trade on expiry day (a
        holiday). When that session has no stored price (missing data), the first price
        stored after it (the caller alerts); None while there is none yet."""
        day = self.settlement_day(expiry)
        am = self.settlement_of(underlying, expiry) == CASH_AM
        prices = (self._opens if am else self._closes).get(underlying, {})
        if day in prices:
            return prices[day], day
        later = [d for d in self._opens.get(underlying, {}) if d > day]
        if not later:
            return None
        first = min(later)
        return self._opens[underlying][first], first

    def settlement_day(self, expiry: date) -> date:
        """Expiry day, or the session before it when the exchange did not trade that day
        (expiry day itself outside the calendar's years, 2000 to 2035)."""
        try:
            return self.calendar.session_on_or_before(expiry)
        except V6Error:
            return expiry

    def poll(self, market: MarketView) -> BrokerUpdate:
        """The sim broker's poll, with the settlement alerts this snapshot raised."""
        update = super().poll(market)
        alerts, self._alerts = tuple(self._alerts), []
        if not alerts:
            return update
        return attrs.evolve(update, alerts=update.alerts + alerts)

    def _settle_expirations(self, market: MarketView) -> list[Fill]:
        today = market.time.astimezone(NEW_YORK).date()
        fills: list[Fill] = []
        for held in list(self._ledger.holdings.values()):
            contract = held.contract
            if contract.expiry >= today:
                continue
            found = self.settlement_price(contract.underlying, contract.expiry)
            if found is None:
                continue  # settle once a price of the underlying is known
            price, day = found
            if day > contract.expiry:
                self._alert_missing(contract.underlying, contract.expiry, price, day, market)
            fills.append(self._settle(held, price, market.time))
        self._forget_old_closes(today)
        return fills

    def _alert_missing(
        self, underlying: str, expiry: date, price: float, day: date, market: MarketView
    ) -> None:
        """One ERROR alert per (underlying, expiry) settled on a later day's price."""
        if (underlying, expiry) in self._alerted:
            return
        self._alerted.add((underlying, expiry))
        self._alerts.append(
            Alert(
                time=market.time,
                severity=Severity.ERROR,
                source="backtest",
                code="settlement_price_missing",
                message=(
                    f"{underlying} options expiring {expiry} settled at {price:.2f}, the first "
                    f"price stored after expiry day (from {day}): the data has no "
                    f"{underlying} price on {expiry}, a trading session"
                ),
            )
        )

    def _forget_old_closes(self, today: date) -> None:
        """Keep only the prices an open contract may still settle against (memory stays
        flat over a long backtest): from the settlement session of the nearest expiry."""
        if not self._ledger.holdings:
            keep_from = today
        else:
            nearest = min(h.contract.expiry for h in self._ledger.holdings.values())
            keep_from = min(self.settlement_day(nearest), today)
        for by_day in (*self._closes.values(), *self._opens.values()):
            for day in [d for d in by_day if d < keep_from]:
                del by_day[day]
