"""Simulated index futures, priced from the simulated market's leading index path.

A future's fair value is the index at cost of carry: ``F = I * (1 + (r - q) * T)``, with
``I`` the ETF's leading spot (:meth:`v6.market.sim_market.SimMarket.leading_spot`) times
the contract's index ratio (``sim.futures.index_ratios``: ES ~ 10 x SPY), ``r`` the
simulated risk-free rate, ``q`` the ETF's dividend yield and ``T`` the years to the
contract's expiry. The basis carries a mean-reverting noise (an Ornstein-Uhlenbeck
process in log price, ``basis_noise_bps`` standard deviation, ``basis_half_life_minutes``
half-life) from its own random stream, so watching futures never changes the market.
Quotes sit on the contract's tick grid, one tick wide.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import numpy as np

from v6.config import FuturesSettings, SimSettings
from v6.domain.futures import FutureContract, FuturesQuote
from v6.futures.contracts import quarterly_contracts
from v6.market.calendar import ExchangeCalendar

NEW_YORK = ZoneInfo("America/New_York")
LISTED = 3  # quarterlies listed at once (CME lists more; the roll needs two)
SETTLEMENT = time(9, 30)  # equity-index futures settle at the open of the expiry day
SECONDS_PER_YEAR = 365.0 * 86_400.0


class SimFuturesFeed:
    """The :class:`v6.futures.feed.FuturesFeed` of sim mode, on one simulated market."""

    def __init__(
        self,
        market: object,
        sim: SimSettings,
        futures: FuturesSettings,
        calendar: ExchangeCalendar,
    ) -> None:
        self.market = market  # a v6.market.sim_market.SimMarket
        self.sim = sim
        self.calendar = calendar  # CME's
        self._contracts = {c.symbol: c for c in futures.contracts}
        self._rng = np.random.default_rng([sim.seed, zlib.crc32(b"futures basis")])
        self._noise: dict[str, float] = {}
        self._noise_time: datetime | None = None

    def listed(self, symbol: str, exchange: str, today: date) -> Sequence[FutureContract]:
        """The next quarterly contracts of ``symbol`` (third Fridays, holidays moved)."""
        return quarterly_contracts(symbol, today, LISTED, self.calendar, exchange)

    def quotes(
        self, time_: datetime, contracts: Sequence[FutureContract]
    ) -> Mapping[str, FuturesQuote]:
        """Quotes at ``time_``; the market must already be at ``time_`` (the engine
        snapshots it before it reads the futures)."""
        self._move_noise(time_)
        out: dict[str, FuturesQuote] = {}
        for contract in contracts:
            settings = self._contracts.get(contract.symbol)
            ratio = self.sim.futures.index_ratios.get(contract.symbol)
            if settings is None or ratio is None or settings.etf not in self.market.symbols:
                continue
            fair = self.fair_value(contract, time_, settings.etf, ratio)
            tick = settings.tick_size
            bid = math.floor(fair / tick + 1e-9) * tick
            out[contract.local_symbol] = FuturesQuote(
                contract=contract,
                bid=round(bid, 2),
                ask=round(bid + tick, 2),
                last=round(round(fair / tick) * tick, 2),
                time=time_,
            )
        return out

    def fair_value(
        self, contract: FutureContract, time_: datetime, etf: str, ratio: float
    ) -> float:
        """Cost-of-carry value of ``contract`` with the current basis noise."""
        index = self.market.leading_spot(etf) * ratio
        q = self.sim.underlyings[etf].dividend_yield
        settle = datetime.combine(contract.expiry, SETTLEMENT, NEW_YORK)
        years = max((settle - time_.astimezone(UTC)).total_seconds(), 0.0) / SECONDS_PER_YEAR
        carry = 1.0 + (self.sim.risk_free_rate - q) * years
        return index * carry * math.exp(self._noise.get(contract.symbol, 0.0))

    def _move_noise(self, time_: datetime) -> None:
        """Advance each future's basis noise to ``time_`` (once per new time)."""
        if self._noise_time is not None and time_ <= self._noise_time:
            return
        s = self.sim.futures
        sd = s.basis_noise_bps / 10_000.0
        elapsed = (
            (time_ - self._noise_time).total_seconds() / 60.0
            if self._noise_time is not None
            else math.inf
        )
        decay = math.exp(-math.log(2.0) * elapsed / s.basis_half_life_minutes)
        for symbol in sorted(self._contracts):
            shock = float(self._rng.standard_normal())
            previous = self._noise.get(symbol, 0.0)
            self._noise[symbol] = previous * decay + sd * math.sqrt(1.0 - decay**2) * shock
        self._noise_time = time_
