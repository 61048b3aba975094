"""IBMarketData: V6's MarketData port on IB streaming quotes.

Per underlying, once a day, the option chain's expiries and strikes come from IB's
option-chain parameters; the options inside the configured window (expiries up to
``ib.max_dte``, strikes nearest the money) are qualified and streamed, within the
market-data line budget (``ib.max_option_lines``, about 100 on a basic account), with
the legs of every held position subscribed first so exits always have quotes. VIX is
streamed as an index.

Greeks are IB's model Greeks where IB sends them. IB marks "not computed" values with
sentinels in tickOptionComputation (-1 for the implied vol, -2 for the Greeks, at times
DBL_MAX); ib_async turns some into None and passes vega's and theta's -2 through, so
every sentinel becomes NaN here. Options without a full set are priced by V6 itself
(:func:`v6.pricing.quote_greeks.greeks_from_mid`: implied vol from the mid, then
Black-Scholes Greeks, vectorised), so a NaN or a sentinel from IB is never used as a
number. Greeks IB does compute but no option can have (delta -5, IV 0) are the
data-quality gate's to catch; it re-derives them the same way. Quotes IB has not sent
are NaN and the gate rejects them.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import numpy as np
from ib_async import Option, Ticker

from v6.brokers.ib.connection import IBConnectionManager
from v6.brokers.ib.contracts import IBContracts, ib_expiry, parse_expiry, underlying_contract
from v6.config import IBSettings, RiskSettings
from v6.domain.contracts import OptionContract, Right
from v6.domain.market import MarketView, OptionChain, UnderlyingQuote
from v6.market.calendar import ExchangeCalendar
from v6.pricing.expiry import years_to_expiry
from v6.pricing.quote_greeks import greeks_from_mid

log = logging.getLogger(__name__)
NEW_YORK = ZoneInfo("America/New_York")
MARKET_DATA_TYPES = {"live": 1, "frozen": 2, "delayed": 3, "delayed_frozen": 4}
STRIKE_RANGE = 0.12  # strikes within 12% of spot are candidates for streaming
# IB's vega is per volatility point (0.01); V6's is per 1.00 of volatility.
IB_VEGA_SCALE = 100.0


def _number(value: float | None) -> float:
    """A tick value as a float: None, NaN, infinities and IB's -1 'no quote' become NaN."""
    if value is None:
        return math.nan
    value = float(value)
    return value if math.isfinite(value) and value >= 0 else math.nan


class IBMarketData:
    """Implements :class:`v6.ports.MarketData` on one :class:`IBConnectionManager`."""

    def __init__(
        self,
        connection: IBConnectionManager,
        contracts: IBContracts,
        underlyings: Sequence[str],
        settings: IBSettings,
        risk: RiskSettings,
        calendar: ExchangeCalendar,
        held_contracts: Callable[[], Iterable[OptionContract]] = lambda: (),
    ) -> None:
        self.connection = connection
        self.ib = connection.ib
        self.contracts = contracts
        self._symbols = tuple(underlyings)
        self.settings = settings
        self.risk = risk
        self.held_contracts = held_contracts
        self.calendar = calendar
        self._underlying_tickers: dict[str, Ticker] = {}
        self._vix: Ticker | None = None
        self._option_tickers: dict[str, Ticker] = {}  # contract key -> ticker
        self._chain_params: dict[str, tuple[date, dict[date, list[float]]]] = {}
        self._subscribed_day: date | None = None
        self.ib.reqMarketDataType(MARKET_DATA_TYPES[settings.market_data_type])
        connection.on_reconnect(self.resubscribe)

    @property
    def symbols(self) -> Sequence[str]:
        return self._symbols

    # -- subscriptions --------------------------------------------------------------------

    def resubscribe(self) -> None:
        """After a reconnect (or TWS losing its data farms) subscribe again; the old
        requests are cancelled first, since after 1101/1102 TWS may still hold them and
        doubling them would exhaust the market-data lines."""
        tickers = [*self._underlying_tickers.values(), *self._option_tickers.values()]
        if self._vix is not None:
            tickers.append(self._vix)
        for ticker in tickers:
            # If the connection that held a request is gone, the request went with it.
            with contextlib.suppress(ConnectionError, ValueError, KeyError):
                self.ib.cancelMktData(ticker.contract)
        self._underlying_tickers.clear()
        self._option_tickers.clear()
        self._vix = None
        self._subscribed_day = None
        self.ib.reqMarketDataType(MARKET_DATA_TYPES[self.settings.market_data_type])

    def _ensure_underlyings(self) -> None:
        fresh: list[Ticker] = []
        for symbol in self._symbols:
            if symbol not in self._underlying_tickers:
                contract = underlying_contract(symbol)
                self.ib.qualifyContracts(contract)
                self._underlying_tickers[symbol] = self.ib.reqMktData(contract, "", False, False)
                fresh.append(self._underlying_tickers[symbol])
        if self._vix is None:
            vix = underlying_contract("VIX")
            self.ib.qualifyContracts(vix)
            self._vix = self.ib.reqMktData(vix, "", False, False)
            fresh.append(self._vix)
        self._await_first_ticks(fresh)

    def _chain(self, symbol: str, today: date) -> dict[date, list[float]]:
        """Listed strikes per expiry for the expiries nearest the target DTE (daily cache).

        The option-chain parameters give the expiries; the strikes of each chosen expiry
        come from one contract-details request for the whole expiry, which also yields
        every conId (no per-option qualification, and no strike that is not listed on
        that expiry: weeklies often list fewer strikes than the monthly).
        """
        cached = self._chain_params.get(symbol)
        if cached is not None and cached[0] == today:
            return cached[1]
        s = self.settings
        ticker = self._underlying_tickers[symbol]
        params = self.ib.reqSecDefOptParams(
            symbol, "", ticker.contract.secType, ticker.contract.conId
        )
        expiries = {parse_expiry(e) for p in params for e in p.expirations}
        window = [e for e in expiries if 0 <= (e - today).days <= s.max_dte]
        window.sort(key=lambda e: abs((e - today).days - s.target_dte))
        strikes: dict[date, list[float]] = {}
        for expiry in sorted(window[: s.expiries]):
            details = self.ib.reqContractDetails(
                Option(symbol, ib_expiry(expiry), 0.0, "", "SMART", currency="USD")
            )
            for detail in details:
                self.contracts.remember(detail.contract)
            listed = {float(d.contract.strike) for d in details}
            if listed:
                strikes[expiry] = sorted(listed)
        self._chain_params[symbol] = (today, strikes)
        return strikes

    def _wanted(self, today: date, spots: dict[str, float]) -> list[OptionContract]:
        """Held legs first, then per underlying and chosen expiry the strikes spread
        evenly around the money, within the line budget."""
        s = self.settings
        wanted = {c.key: c for c in self.held_contracts()}
        budget = max(s.max_option_lines - len(wanted), 0)
        per_underlying = budget // max(len(self._symbols), 1)
        for symbol in self._symbols:
            spot = spots.get(symbol, math.nan)
            if not math.isfinite(spot):
                continue
            chain = self._chain(symbol, today)
            if not chain:
                continue
            per_side = min(s.strikes_per_side, per_underlying // (4 * len(chain)))
            for expiry, strikes in chain.items():
                below = [k for k in strikes if spot * (1 - s.strike_range) <= k <= spot]
                above = [k for k in strikes if spot < k <= spot * (1 + s.strike_range)]
                for strike in _spread(below, per_side) + _spread(above, per_side):
                    for right in (Right.PUT, Right.CALL):
                        c = OptionContract(symbol, expiry, strike, right)
                        wanted.setdefault(c.key, c)
        return list(wanted.values())

    def _ensure_options(self, today: date, spots: dict[str, float]) -> None:
        if self._subscribed_day == today and not self._missing_held():
            return
        wanted = self._wanted(today, spots)
        qualified = self.contracts.qualify(wanted)
        keep = set(qualified)
        for key in list(self._option_tickers):
            if key not in keep:
                self.ib.cancelMktData(self._option_tickers.pop(key).contract)
        fresh = []
        for key, contract in qualified.items():
            if key not in self._option_tickers:
                self._option_tickers[key] = self.ib.reqMktData(contract, "", False, False)
                fresh.append(self._option_tickers[key])
        self._subscribed_day = today
        self._await_first_ticks(fresh)

    def _await_first_ticks(self, tickers: list[Ticker]) -> None:
        """Give new subscriptions a moment to deliver their first quotes, so the cycle
        that subscribed them is not a cycle of empty chains."""
        rate = self.settings.max_requests_per_second or 1000
        deadline = time.monotonic() + self.settings.order_ack_seconds + len(tickers) / rate
        while tickers and time.monotonic() < deadline:
            if all(t.time is not None for t in tickers):
                return
            self.connection.pump(0.02)

    def _missing_held(self) -> bool:
        return any(c.key not in self._option_tickers for c in self.held_contracts())

    # -- the port -------------------------------------------------------------------------

    def snapshot(self, time_: datetime) -> MarketView:
        """Quotes as of ``time_`` (the engine's clock, which is IB's in paper and live)."""
        now = time_.astimezone(UTC)
        # Each cycle starts here: reconnect if due (subscriptions and the broker's orders,
        # executions and positions are restored by the reconnect callbacks first).
        self.connection.ensure_connected()
        self.connection.pump(0.0)
        if self.connection.connected:
            try:
                self._ensure_underlyings()
            except (ConnectionError, TimeoutError) as exc:
                log.warning("subscribing underlyings failed: %s", exc)
        received = datetime.now(UTC)
        quotes = {}
        for symbol, ticker in self._underlying_tickers.items():
            quotes[symbol] = UnderlyingQuote(
                symbol=symbol,
                bid=_number(ticker.bid),
                ask=_number(ticker.ask),
                last=_number(ticker.last),
                time=self._quote_time(ticker, now, received),
            )
        spots = {s: q.mid for s, q in quotes.items()}
        today = now.astimezone(NEW_YORK).date()
        if self.connection.connected:
            try:
                self._ensure_options(today, spots)
            except (ConnectionError, TimeoutError) as exc:
                log.warning("subscribing options failed: %s", exc)
        chains = {
            s: self._chain_view(s, now, received, spots.get(s, math.nan)) for s in self._symbols
        }
        vix = math.nan
        if self._vix is not None:
            vix = _number(self._vix.last)
            if not math.isfinite(vix):
                vix = _number(self._vix.close)
        return MarketView(
            time=now,
            underlyings=quotes,
            chains=chains,
            vix=vix,
            market_open=self.calendar.is_open(now),
        )

    def _quote_time(self, ticker: Ticker, now: datetime, received: datetime) -> datetime:
        """When the quote was made, on the engine's clock (its age as measured here)."""
        if ticker.time is None:
            return datetime(1970, 1, 1, tzinfo=UTC)
        stamp = ticker.time if ticker.time.tzinfo else ticker.time.replace(tzinfo=UTC)
        return now - (received - stamp)

    def _chain_view(
        self, symbol: str, now: datetime, received: datetime, spot: float
    ) -> OptionChain:
        rows = [
            (self.contracts.known(t.contract.conId), t)
            for key, t in self._option_tickers.items()
            if key.startswith(f"{symbol} ")
        ]
        rows = [(c, t) for c, t in rows if c is not None]
        n = len(rows)
        expiry = np.array([c.expiry for c, _ in rows], dtype="datetime64[D]")
        strike = np.array([c.strike for c, _ in rows], dtype=np.float64)
        is_call = np.array([c.is_call for c, _ in rows], dtype=bool)
        bid = np.array([_number(t.bid) for _, t in rows], dtype=np.float64)
        ask = np.array([_number(t.ask) for _, t in rows], dtype=np.float64)
        greeks = np.full((5, n), np.nan)  # iv, delta, gamma, vega, theta
        for i, (_, t) in enumerate(rows):
            g = t.modelGreeks
            if g is not None:
                greeks[:, i] = [
                    _signed(g.impliedVol, -1.0), _signed(g.delta, -2.0), _signed(g.gamma, -2.0),
                    _signed(g.vega, -2.0) * IB_VEGA_SCALE, _signed(g.theta, -2.0),
                ]  # fmt: skip
        self._fill_missing_greeks(
            greeks, spot, strike, expiry, is_call, (bid + ask) / 2, now, symbol
        )
        quote_time = np.array(
            [
                np.datetime64(self._quote_time(t, now, received).replace(tzinfo=None), "us")
                for _, t in rows
            ],
            dtype="datetime64[us]",
        )
        return OptionChain(
            underlying=symbol,
            as_of=now,
            spot=spot,
            expiry=expiry,
            strike=strike,
            is_call=is_call,
            bid=bid,
            ask=ask,
            iv=greeks[0],
            delta=greeks[1],
            gamma=greeks[2],
            vega=greeks[3],
            theta=greeks[4],
            quote_time=quote_time,
            dividend_yield=self.risk.dividend_yields.get(symbol, 0.0),
        )

    def _fill_missing_greeks(
        self,
        greeks: np.ndarray,
        spot: float,
        strike: np.ndarray,
        expiry: np.ndarray,
        is_call: np.ndarray,
        mid: np.ndarray,
        now: datetime,
        symbol: str,
    ) -> None:
        """Price the options IB sent no (or no finite) Greeks for, in one vectorised pass."""
        missing = ~np.isfinite(greeks).all(axis=0)
        if not missing.any() or not math.isfinite(spot):
            return
        t = years_to_expiry(expiry[missing], now)
        rate = self.risk.risk_free_rate
        q = self.risk.dividend_yields.get(symbol, 0.0)
        k, call = strike[missing], is_call[missing]
        vol, own = greeks_from_mid(mid[missing], spot, k, t, rate, q, call)
        greeks[:, missing] = np.vstack([vol, own.delta, own.gamma, own.vega, own.theta])
        log.debug("%s: priced %d options IB sent no Greeks for", symbol, int(missing.sum()))


def _signed(value: float | None, sentinel: float | None = None) -> float:
    """A Greek from IB as a float, NaN when IB did not compute it.

    IB marks "not computed" with -1 (implied vol) or -2 (the Greeks) and sometimes sends
    DBL_MAX; ib_async turns most of these into None but passes vega's and theta's -2
    through as numbers, so the sentinel is checked here too.
    """
    if value is None:
        return math.nan
    value = float(value)
    if not math.isfinite(value) or abs(value) > 1e100 or value == sentinel:
        return math.nan
    return value


def _spread(strikes: list[float], count: int) -> list[float]:
    """``count`` of ``strikes`` spread evenly from first to last (all when fewer)."""
    if count <= 0 or not strikes:
        return []
    if len(strikes) <= count:
        return list(strikes)
    idx = np.unique(np.round(np.linspace(0, len(strikes) - 1, count)).astype(int))
    return [strikes[i] for i in idx]
