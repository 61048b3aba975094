"""The simulated market: the ``sim`` adapter of :class:`v6.ports.MarketData`.

Each :meth:`SimMarket.snapshot` advances a seeded regime-switching market
(:mod:`v6.market.sim_regimes`) to the requested time and quotes it the way an exchange
would: underlyings with a one-cent spread, full option chains priced off a skewed,
regime-dependent IV surface free of static arbitrage (:mod:`v6.market.vol_surface`, an
SSVI surface whose skew is set by each underlying's ``skew_slope`` and moves with the
market's volatility) with Black-Scholes-Merton Greeks, bid/ask spreads that
widen in the wings, near expiry and in stress, and VIX read off SPY's 30-day volatility.
Same seed and same times give the same market, always.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime

import numpy as np
from attrs import frozen

from v6.config import SimSettings, SimUnderlyingSettings
from v6.domain.market import MarketView, OptionChain, UnderlyingQuote
from v6.errors import V6Error
from v6.futures.sim_lead import LeadLine
from v6.market.calendar import ExchangeCalendar
from v6.market.sim_listing import listed_expiries, strike_grid
from v6.market.sim_regimes import MarketProcess, trading_years
from v6.market.vol_surface import (
    atm_vol,
    implied_vol,
    standardised_moneyness,
    surface_levels,
    vix_level,
)
from v6.pricing import DAYS_PER_YEAR, bsm_greeks

SECONDS_PER_YEAR = DAYS_PER_YEAR * 86_400.0
# On expiry day after the bell an option still gets five minutes of life, so its Greeks
# stay finite while the engine settles it.
MIN_T_YEARS = 300.0 / SECONDS_PER_YEAR

# Option spreads: a floor plus a share of the price, widened by liquidity, moneyness,
# time to expiry and regime. SPY is the most liquid options market there is.
SPREAD_FLOOR = 0.01
SPREAD_SHARE = 0.005
SPREAD_PER_SD = 0.15
SPREAD_SHORT_DTE = 0.5
LIQUIDITY = {"SPY": 1.0, "QQQ": 1.2, "IWM": 1.5}
DEFAULT_LIQUIDITY = 2.0
REGIME_SPREAD = {"calm": 1.0, "trending": 1.2, "high_vol": 2.0, "crash": 4.0}
UNDERLYING_SPREAD = {"calm": 0.01, "trending": 0.01, "high_vol": 0.02, "crash": 0.05}
# Penny Pilot names quote every strike in pennies; others in nickels from $3.00 up.
PENNY_EVERYWHERE = frozenset({"SPY", "QQQ", "IWM"})
NICKEL_FROM = 3.0
# VIX carries a small persistent basis over the SPY-implied level (log, mean-reverting).
VIX_BASIS_SD = 0.03
VIX_BASIS_HALF_LIFE_YEARS = 2.0 / 252.0
# A reference SPY when the run does not simulate SPY itself.
REFERENCE_SPY_VOL = 0.10


def _naive_utc(t: datetime) -> np.datetime64:
    return np.datetime64(t.astimezone(UTC).replace(tzinfo=None), "us")


def option_quotes(
    price: np.ndarray,
    z: np.ndarray,
    dte_days: np.ndarray,
    widen: float,
    penny_everywhere: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Bid and ask on the tick grid around model prices, vectorised over a chain.

    The spread is ``max(tick, floor + share * price)`` scaled by ``widen`` (liquidity and
    regime), by distance from the money (``z`` in standard deviations) and by how close
    expiry is. Bids are floored at zero: a worthless wing bids nothing, as it does on
    the exchange; asks are always at least one tick above the bid.
    """
    tick = np.where(penny_everywhere | (price < NICKEL_FROM), 0.01, 0.05)
    spread = (SPREAD_FLOOR + SPREAD_SHARE * price) * widen
    spread *= 1.0 + SPREAD_PER_SD * np.abs(z)
    spread *= 1.0 + SPREAD_SHORT_DTE * np.exp(-dte_days / 2.0)
    spread = np.maximum(spread, tick)
    half = 0.5 * spread
    bid = np.floor((price - half) / tick + 1e-9) * tick
    ask = np.ceil((price + half) / tick - 1e-9) * tick
    bid = np.maximum(bid, 0.0)
    ask = np.maximum(ask, bid + tick)
    return np.round(bid, 2), np.round(ask, 2)


@frozen(slots=True)
class SimTruth:
    """What the simulator knows and a real market hides: its regime and vol state."""

    regime: str
    vol_level: float
    climate: float
    skew_multiplier: float


class SimMarket:
    """Seeded simulated market for ``symbols`` (each must be in ``settings.underlyings``).

    ``snapshot(t)`` moves the simulation forward to ``t``; asking for the same ``t`` again
    returns the same view, asking for an earlier one is an error (time only runs forward).
    """

    def __init__(
        self,
        settings: SimSettings,
        symbols: Sequence[str],
        calendar: ExchangeCalendar,
        *,
        lead_cycles: int = 0,
    ) -> None:
        missing = [s for s in symbols if s not in settings.underlyings]
        if missing:
            raise V6Error(
                f"no simulated market for {', '.join(missing)}: add them under "
                "sim.underlyings (spot, vol, beta, strike_step) or remove them from "
                "underlyings"
            )
        self.settings = settings
        self.calendar = calendar
        self._symbols = tuple(symbols)
        self._configs: Mapping[str, SimUnderlyingSettings] = {
            s: settings.underlyings[s] for s in self._symbols
        }
        self._rng = np.random.default_rng(settings.seed)
        # SPY drives VIX; it is always part of the hidden process even when not traded.
        process_symbols = self._symbols if "SPY" in self._symbols else (*self._symbols, "SPY")
        underlyings = dict(settings.underlyings)
        underlyings.setdefault(
            "SPY", SimUnderlyingSettings(spot=590.0, vol=REFERENCE_SPY_VOL, beta=1.0)
        )
        self._process = MarketProcess(
            process_symbols, underlyings, self._rng, settings.force_regime
        )
        self._spy = process_symbols.index("SPY")
        self._calm_vols = self._process.calm_vols
        self._vix_basis = 0.0
        self._expiries: dict[tuple[str, date], tuple[np.ndarray, np.ndarray]] = {}
        # Strikes once listed stay listed until expiry, as on a real exchange: a position's
        # contracts must not vanish from the chain because the spot moved away from them.
        self._listed: dict[tuple[str, np.datetime64], np.ndarray] = {}
        self._time: datetime | None = None
        self._view: MarketView | None = None
        # The ETFs quote the index path ``lead_cycles`` snapshots late; the futures feed
        # reads it at once (v6.futures.sim_lead). The sim app passes
        # ``sim.futures.lead_cycles``; 0 (no delay) for any other use of the market.
        self.lead = LeadLine(lead_cycles)
        # Told the hidden state at every new snapshot (the sim app stores it in the
        # sim_truth table beside the detected regimes).
        self.on_snapshot: Callable[[datetime, SimTruth], None] | None = None

    @property
    def symbols(self) -> Sequence[str]:
        """The underlyings this market quotes, in the order given."""
        return self._symbols

    @property
    def true_regime(self) -> str:
        """The hidden regime the market is in now (for tests and analysis, not strategies)."""
        return self._process.regime

    @property
    def vol_level(self) -> float:
        """The hidden volatility multiplier (1.0 = calm)."""
        return self._process.vol_level

    def leading_spot(self, symbol: str) -> float:
        """The index path of ``symbol`` now, before its ETF shows it (for the futures)."""
        return float(self.lead.latest[self._symbols.index(symbol)])

    @property
    def trend_direction(self) -> int:
        """+1 in an up trend, -1 in a down trend, 0 when not trending (hidden state)."""
        if self._process.regime != "trending":
            return 0
        return 1 if self._process.trend_sign > 0 else -1

    def truth(self) -> SimTruth:
        """The hidden state behind the current snapshot (for analysis, not strategies)."""
        process = self._process
        return SimTruth(
            regime=process.regime,
            vol_level=process.vol_level,
            climate=process.climate_level,
            skew_multiplier=process.skew_multiplier,
        )

    def snapshot(self, time: datetime) -> MarketView:
        """The market as of ``time``: advance the simulation, then quote everything."""
        if time.tzinfo is None:
            raise ValueError(f"naive datetime {time!r}: V6 times are timezone-aware UTC")
        time = time.astimezone(UTC)
        if self._time is not None:
            if time == self._time and self._view is not None:
                return self._view
            if time < self._time:
                raise V6Error(
                    f"simulated market is at {self._time.isoformat()} and cannot go back to "
                    f"{time.isoformat()}: snapshots must move forward in time"
                )
            elapsed, gaps = self.calendar.session_progress(self._time, time)
            years = trading_years(elapsed, gaps)
            self._process.step(years)
            self._move_vix_basis(years)
        self._time = time
        self.lead.push(self._process.spots)
        self._view = self._quote(time)
        if self.on_snapshot is not None:
            self.on_snapshot(time, self.truth())
        return self._view

    # -- quoting ------------------------------------------------------------------------

    def _move_vix_basis(self, years: float) -> None:
        if years <= 0.0:
            return
        kappa = math.log(2.0) / VIX_BASIS_HALF_LIFE_YEARS
        decay = math.exp(-kappa * years)
        sd = VIX_BASIS_SD * math.sqrt(1.0 - decay**2)
        self._vix_basis = self._vix_basis * decay + sd * float(self._rng.standard_normal())

    def _quote(self, time: datetime) -> MarketView:
        process = self._process
        regime = process.regime
        vols = process.vols
        # The long end of the implied curve follows the slow volatility climate by its
        # square root: a quiet year has a lower curve, not only a lower front.
        anchors = self._calm_vols * math.sqrt(process.climate_level)
        today = self.calendar.trading_date(time)
        underlyings: dict[str, UnderlyingQuote] = {}
        chains: dict[str, OptionChain] = {}
        quoted = self.lead.lagged
        for i, symbol in enumerate(self._symbols):
            spot = float(quoted[i])
            underlyings[symbol] = self._underlying_quote(symbol, spot, regime, time)
            chains[symbol] = self._chain(
                symbol, spot, float(vols[i]), float(anchors[i]), today, time
            )
        vix = vix_level(float(vols[self._spy]), float(anchors[self._spy]))
        return MarketView(
            time=time,
            underlyings=underlyings,
            chains=chains,
            vix=round(vix * math.exp(self._vix_basis), 2),
            market_open=self.calendar.is_open(time),
        )

    @staticmethod
    def _underlying_quote(symbol: str, spot: float, regime: str, time: datetime) -> UnderlyingQuote:
        width = UNDERLYING_SPREAD[regime]
        bid = round(math.floor((spot - width / 2) * 100 + 1e-9) / 100, 2)
        ask = round(bid + width, 2)
        last = min(max(round(spot, 2), bid), ask)
        return UnderlyingQuote(symbol=symbol, bid=bid, ask=ask, last=last, time=time)

    def _keep_listed(self, symbol: str, expiry: np.datetime64, grid: np.ndarray) -> np.ndarray:
        """Union of today's grid with every strike listed earlier for this expiry."""
        key = (symbol, np.datetime64(expiry, "D"))
        previous = self._listed.get(key)
        listed = grid if previous is None else np.union1d(previous, grid)
        self._listed[key] = listed
        return listed

    def _listing(self, symbol: str, today: date) -> tuple[np.ndarray, np.ndarray]:
        """Expiries listed on ``today`` and their closes (ns since epoch), cached per day."""
        key = (symbol, today)
        if key not in self._expiries:
            expiries = listed_expiries(self.calendar, symbol, today, self.settings.max_dte)
            closes = self.calendar.expiry_close(expiries).astype("int64")
            self._expiries[key] = (expiries, closes)
        return self._expiries[key]

    def _chain(
        self,
        symbol: str,
        spot: float,
        realised_vol: float,
        calm_vol: float,
        today: date,
        time: datetime,
    ) -> OptionChain:
        cfg = self._configs[symbol]
        settings = self.settings
        expiries, closes = self._listing(symbol, today)
        now_ns = _naive_utc(time).astype("datetime64[ns]").astype("int64")
        t_by_expiry = np.maximum((closes - now_ns) / 1e9 / SECONDS_PER_YEAR, MIN_T_YEARS)
        grids = [
            self._keep_listed(
                symbol,
                expiry,
                strike_grid(spot, cfg.strike_step, settings.strikes_per_side, calm_vol, float(t)),
            )
            for expiry, t in zip(expiries, t_by_expiry, strict=True)
        ]
        counts = np.array([len(g) for g in grids])
        strikes = np.concatenate(grids)
        expiry = np.repeat(expiries, counts)
        t = np.repeat(t_by_expiry, counts)
        # Every strike is listed as a call and a put.
        strike = np.concatenate([strikes, strikes])
        expiry = np.concatenate([expiry, expiry])
        t = np.concatenate([t, t])
        is_call = np.repeat(np.array([True, False]), len(strikes))

        rate, dividend = settings.risk_free_rate, cfg.dividend_yield
        forward = spot * np.exp((rate - dividend) * t)
        spot_level, long_level = surface_levels(realised_vol, calm_vol)
        atm = atm_vol(spot_level, long_level, t)
        z = standardised_moneyness(strike, forward, atm, t)
        skew = cfg.skew_slope * self._process.skew_multiplier
        iv = implied_vol(strike, forward, t, spot_level, long_level, skew)
        greeks = bsm_greeks(spot, strike, t, rate, dividend, iv, is_call)
        dte_days = (expiry - np.datetime64(today, "D")).astype(np.float64)
        widen = LIQUIDITY.get(symbol, DEFAULT_LIQUIDITY) * REGIME_SPREAD[self._process.regime]
        # US equity options are American: never worth less than exercising them now. The
        # floor also keeps every calendar spread's cost non-negative, which European
        # prices of deep in-the-money puts (worth less the longer they run) would break.
        intrinsic = np.maximum(np.where(is_call, spot - strike, strike - spot), 0.0)
        price = np.maximum(greeks.price, intrinsic)
        bid, ask = option_quotes(price, z, dte_days, widen, symbol in PENNY_EVERYWHERE)
        return OptionChain(
            underlying=symbol,
            as_of=time,
            spot=spot,
            expiry=expiry,
            strike=strike,
            is_call=is_call,
            bid=bid,
            ask=ask,
            iv=iv,
            delta=greeks.delta,
            gamma=greeks.gamma,
            vega=greeks.vega,
            theta=greeks.theta,
            quote_time=np.full(len(strike), _naive_utc(time)),
            dividend_yield=dividend,
        )
