"""The hidden state of the simulated market: a regime Markov chain driving prices and vol.

Four regimes (calm, trending, high_vol, crash) switch at random with rates per trading
day; each sets the market's volatility level, its drift and, in a crash, downward jumps.
Prices follow GBM-like steps on a common market factor (scaled by each underlying's beta)
plus idiosyncratic noise. Steps are measured in *trading time*: an hour of an open
session counts fully, a night only as much as a typical overnight gap, so Monday's open
can gap further than any 15-minute step.

The volatility level ``vol_level`` multiplies every underlying's calm volatility. Its
trend part follows the regime, rising fast when stress arrives and decaying slowly after
(as VIX does); its noise part is a mean-reverting wiggle that moves against the market
(the leverage effect): against its diffusive shocks with ``VOL_SPOT_CORRELATION`` and
against its trend drift and jumps with ``LEVERAGE_ELASTICITY``, and a down trend pulls
the level up (``DOWN_TREND_VOL_MULTIPLIER``) where an up trend lets it fall.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from statistics import NormalDist

import numpy as np
from attrs import frozen

from v6.config import SimUnderlyingSettings

REGIMES = ("calm", "trending", "high_vol", "crash")
TRADING_DAYS_PER_YEAR = 252.0
# Share of a day's variance that happens while the market is open; the rest arrives in
# the overnight gap. A non-trading day (weekend, holiday) adds a little more.
INTRADAY_SHARE = 0.8
OVERNIGHT_SHARE = 0.2
IDLE_DAY_SHARE = 0.05
# Volatility of a beta-1 market factor in calm markets; the rest of each underlying's
# volatility is idiosyncratic (at least a quarter of it, so no two paths are identical).
MARKET_FACTOR_VOL = 0.10
MIN_IDIOSYNCRATIC_SHARE = 0.25
# The volatility level's trend moves toward the regime's level with these half-lives
# (years); its log noise has this stationary sd, half-life and correlation with the market.
HALF_LIFE_UP = 0.5 / TRADING_DAYS_PER_YEAR
HALF_LIFE_DOWN = 2.0 / TRADING_DAYS_PER_YEAR
VOL_NOISE_SD = 0.12
VOL_NOISE_HALF_LIFE = 5.0 / TRADING_DAYS_PER_YEAR
VOL_SPOT_CORRELATION = -0.9
VOL_LEVEL_BOUNDS = (0.4, 6.0)
# The leverage effect through trends and jumps: the part of a market move that is not
# diffusion (a trend day's drift, a crash's jumps) moves the log vol noise by this many
# times the log return, against it, so a 1% fall however it arrives lifts the volatility
# level about 5% (the diffusive shocks above do about 9% per 1% in a calm market; a
# trend's drift is the slow, half-expected part of a move).
LEVERAGE_ELASTICITY = 5.0
# A down trend is a sell-off: its volatility level rises (toward this multiple of calm)
# where an up trend's falls (``vol_multiplier`` of ``trending``).
DOWN_TREND_VOL_MULTIPLIER = 1.3
# The skew multiplier (on every underlying's ``skew_slope``): the relative skew is
# steepest when volatility is low and flattens as it rises (puts and calls both get bid
# in stress), ``vol_level ** -SKEW_VOL_ELASTICITY``, times a slow log-normal wiggle of its
# own so the put/call ratio moves from day to day even in one regime.
SKEW_VOL_ELASTICITY = 0.35
SKEW_NOISE_SD = 0.12
SKEW_NOISE_HALF_LIFE = 3.0 / TRADING_DAYS_PER_YEAR
SKEW_MULTIPLIER_BOUNDS = (0.4, 2.0)
TREND_UP_PROBABILITY = 0.75
# The volatility climate: a slow log-normal factor on the volatility level (half-life of
# months), drawn from its long-run distribution at the start, so one seed's week is a
# quiet year's (VIX 11-13) and another's a nervous one's (VIX 20+), as real calm
# markets differ. It moves the long end of the implied curve by its square root.
CLIMATE_SD = 0.2
CLIMATE_HALF_LIFE = 60.0 / TRADING_DAYS_PER_YEAR
# Bounds of its log: a calm market in the most nervous year still shows VIX near 20,
# not the 25 the detector reads as stress; the quietest year shows VIX near 11.
CLIMATE_LOG_BOUND = 0.35


@frozen(slots=True)
class RegimeParams:
    """How the market behaves in one regime (annualised drift; rates per trading day).

    ``idio_multiplier`` scales the idiosyncratic part of every underlying's volatility
    on top of the volatility level: below 1 when one market-wide story drives every
    name (a trend), so correlations rise.
    """

    vol_multiplier: float
    drift: float
    leave_rate: float
    exits: Mapping[str, float]
    jump_rate: float = 0.0
    jump_mean: float = 0.0
    jump_sd: float = 0.0
    idio_multiplier: float = 1.0


REGIME_PARAMS: Mapping[str, RegimeParams] = {
    "calm": RegimeParams(
        vol_multiplier=1.0,
        drift=0.10,
        leave_rate=1 / 20,
        exits={"trending": 0.6, "high_vol": 0.33, "crash": 0.07},
    ),
    # A trend day: one direction (mostly up, drawn when the trend starts), orderly, with
    # every name moving together. Strong enough per session (about 1.5-2% on SPY, a
    # t-statistic near 3 over a day of 15-minute steps) to be told from noise, short
    # enough (two days on average) that a week does not run away.
    "trending": RegimeParams(
        vol_multiplier=0.7,
        drift=7.0,
        leave_rate=1 / 2,
        exits={"calm": 0.75, "high_vol": 0.2, "crash": 0.05},
        idio_multiplier=0.5,
    ),
    "high_vol": RegimeParams(
        vol_multiplier=2.2,
        drift=0.0,
        leave_rate=1 / 4,
        exits={"calm": 0.6, "trending": 0.25, "crash": 0.15},
    ),
    "crash": RegimeParams(
        vol_multiplier=3.3,
        drift=-1.5,
        leave_rate=1 / 1.5,
        exits={"high_vol": 0.85, "calm": 0.15},
        jump_rate=1.5,
        jump_mean=-0.015,
        jump_sd=0.01,
    ),
}


def trading_years(elapsed_sessions: float, gaps: np.ndarray) -> float:
    """Trading time in years for open time elapsed and overnight gaps crossed.

    ``gaps`` holds calendar days between consecutive sessions (1 = a weeknight).
    """
    idle = np.clip(np.asarray(gaps, dtype=np.float64) - 1.0, 0.0, None)
    days = INTRADAY_SHARE * elapsed_sessions + float(
        np.sum(OVERNIGHT_SHARE + IDLE_DAY_SHARE * idle)
    )
    return days / TRADING_DAYS_PER_YEAR


def poisson_quantile(u: float, mean: float) -> int:
    """The Poisson(``mean``) count at cumulative probability ``u`` (inverse transform).

    Drawn from a uniform so every step consumes the same random numbers in every regime.
    """
    if mean <= 0.0:
        return 0
    if mean > 50.0:  # exp(-mean) would underflow; the normal limit is exact enough there
        u = min(max(u, 1e-12), 1.0 - 1e-12)
        return max(0, round(mean + math.sqrt(mean) * NormalDist().inv_cdf(u)))
    k, term = 0, math.exp(-mean)
    cumulative = term
    while u > cumulative and k < 1000:
        k += 1
        term *= mean / k
        cumulative += term
    return k


class MarketProcess:
    """Regime, volatility level and spot of every simulated underlying, advanced in steps.

    All randomness comes from ``rng`` and every step draws the same numbers whatever the
    regime, so a seed gives one path and forcing a regime changes its shape, not its noise.
    """

    def __init__(
        self,
        symbols: Sequence[str],
        underlyings: Mapping[str, SimUnderlyingSettings],
        rng: np.random.Generator,
        force_regime: str | None = None,
    ) -> None:
        self.symbols = tuple(symbols)
        self.rng = rng
        self.force_regime = force_regime
        self.regime = force_regime or "calm"
        self.trend_sign = 1.0
        self.vol_trend = REGIME_PARAMS[self.regime].vol_multiplier
        self.vol_noise = 0.0
        self.skew_noise = 0.0
        self.climate = CLIMATE_SD * float(rng.standard_normal())
        cfg = [underlyings[s] for s in self.symbols]
        self.spots = np.array([u.spot for u in cfg], dtype=np.float64)
        self.base_vols = np.array([u.vol for u in cfg], dtype=np.float64)
        self.betas = np.array([u.beta for u in cfg], dtype=np.float64)
        systematic = np.abs(self.betas) * MARKET_FACTOR_VOL
        self.idio_vols = np.sqrt(
            np.maximum(
                self.base_vols**2 - systematic**2, (MIN_IDIOSYNCRATIC_SHARE * self.base_vols) ** 2
            )
        )

    @property
    def vol_level(self) -> float:
        """Multiplier on every underlying's calm volatility (about 1 when calm)."""
        lo, hi = VOL_LEVEL_BOUNDS
        # The climate shifts the level additively, so stress is stress in any year: a
        # crash from a quiet climate still sends VIX to the high 30s (February 2018).
        level = (self.vol_trend + self.climate_level - 1.0) * math.exp(self.vol_noise)
        return min(max(level, lo), hi)

    @property
    def climate_level(self) -> float:
        """The slow volatility climate as a multiplier (1 = an average year)."""
        return math.exp(min(max(self.climate, -CLIMATE_LOG_BOUND), CLIMATE_LOG_BOUND))

    @property
    def skew_multiplier(self) -> float:
        """Multiplier on every underlying's skew slope (1 when calm at vol level 1)."""
        lo, hi = SKEW_MULTIPLIER_BOUNDS
        value = self.vol_level**-SKEW_VOL_ELASTICITY * math.exp(self.skew_noise)
        return min(max(value, lo), hi)

    @property
    def calm_vols(self) -> np.ndarray:
        """Annualised volatility of each underlying in a calm market (vol level 1)."""
        return np.sqrt((self.betas * MARKET_FACTOR_VOL) ** 2 + self.idio_vols**2)

    @property
    def vols(self) -> np.ndarray:
        """Current realised (annualised) volatility of each underlying."""
        return self.vol_level * self.calm_vols

    def step(self, years: float) -> None:
        """Advance the market by ``years`` of trading time."""
        if years <= 0.0:
            return
        rng = self.rng
        days = years * TRADING_DAYS_PER_YEAR
        u_switch, u_dest, u_sign, u_jumps = rng.random(4)
        z_market, z_vol, z_jump, z_skew, z_climate = rng.standard_normal(5)
        z_idio = rng.standard_normal(len(self.symbols))

        self._switch_regime(days, u_switch, u_dest, u_sign)
        params = REGIME_PARAMS[self.regime]
        n_jumps = poisson_quantile(u_jumps, params.jump_rate * days)
        drift = params.drift * (self.trend_sign if self.regime == "trending" else 1.0)
        moves = drift * years  # the market's move that is not diffusion: drift and jumps
        if n_jumps:
            moves += n_jumps * params.jump_mean + math.sqrt(n_jumps) * params.jump_sd * z_jump
        self._move_vol_level(years, self._vol_target(params), z_market, z_vol, moves)

        climate_decay = 0.5 ** (years / CLIMATE_HALF_LIFE)
        self.climate = (
            self.climate * climate_decay + CLIMATE_SD * math.sqrt(1 - climate_decay**2) * z_climate
        )
        skew_decay = 0.5 ** (years / SKEW_NOISE_HALF_LIFE)
        self.skew_noise = (
            self.skew_noise * skew_decay + SKEW_NOISE_SD * math.sqrt(1 - skew_decay**2) * z_skew
        )

        m = self.vol_level
        sqrt_dt = math.sqrt(years)
        factor = moves + m * MARKET_FACTOR_VOL * sqrt_dt * z_market
        idio = m * params.idio_multiplier * self.idio_vols
        total_var = (m * self.betas * MARKET_FACTOR_VOL) ** 2 + idio**2
        log_return = self.betas * factor + idio * sqrt_dt * z_idio - 0.5 * total_var * years
        self.spots = self.spots * np.exp(log_return)

    def _switch_regime(self, days: float, u_switch: float, u_dest: float, u_sign: float) -> None:
        if self.force_regime is not None:
            return
        params = REGIME_PARAMS[self.regime]
        if u_switch >= 1.0 - math.exp(-params.leave_rate * days):
            return
        names = list(params.exits)
        cumulative = np.cumsum([params.exits[n] for n in names])
        self.regime = names[int(np.searchsorted(cumulative / cumulative[-1], u_dest))]
        if self.regime == "trending":
            self.trend_sign = 1.0 if u_sign < TREND_UP_PROBABILITY else -1.0

    def _vol_target(self, params: RegimeParams) -> float:
        """The volatility level the regime pulls toward: a down trend is a sell-off."""
        if self.regime == "trending" and self.trend_sign < 0:
            return DOWN_TREND_VOL_MULTIPLIER
        return params.vol_multiplier

    def _move_vol_level(
        self, years: float, target: float, z_market: float, z_vol: float, moves: float
    ) -> None:
        # Exact exponential steps: stable over a 15-minute step and a long weekend alike.
        # Stress arrives fast, calm returns slowly.
        half_life = HALF_LIFE_UP if target > self.vol_trend else HALF_LIFE_DOWN
        self.vol_trend = target + (self.vol_trend - target) * 0.5 ** (years / half_life)
        decay = 0.5 ** (years / VOL_NOISE_HALF_LIFE)
        shock = VOL_SPOT_CORRELATION * z_market + math.sqrt(1 - VOL_SPOT_CORRELATION**2) * z_vol
        self.vol_noise = (
            self.vol_noise * decay
            + VOL_NOISE_SD * math.sqrt(1 - decay**2) * shock
            - LEVERAGE_ELASTICITY * moves
        )
