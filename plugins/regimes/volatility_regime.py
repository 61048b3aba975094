"""Volatility regime from VIX, a VIX jump detector, realised vs implied vol, and hysteresis.

VIX is the market's own price of 30-day volatility, so its level sorts the regimes
(crash, high_vol, normal, low_vol) and a sudden jump flags a crash before the level
gets there. A regime is only left once VIX has moved ``hysteresis`` points past the
band edge, so a VIX hovering at 25 does not flip the regime every cycle.

Per underlying, when the history holds enough intraday closes, realised volatility is
compared with the underlying's at-the-money implied volatility: an underlying moving
``realised_to_implied_high`` times faster than its options are priced for is high_vol
even while VIX is calm, because premium sold there is underpriced.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from attrs import field, frozen, validators

from v6.domain.decisions import Regime, RegimeReading
from v6.domain.market import MarketHistory, MarketView
from v6.domain.plugins import PluginInfo, PluginKind
from v6.hookspecs import hookimpl

NAME = "volatility_regime"
TRADING_SECONDS_PER_YEAR = 252 * 6.5 * 3600.0


@frozen
class Settings:
    """VIX bands (points), the jump detector and the realised-vs-implied check.

    ``realised_window`` and ``jump_window`` count engine cycles; ``min_realised_samples``
    intraday returns are needed before realised volatility is trusted.
    """

    crash_vix: float = field(default=35.0, validator=validators.gt(0))
    high_vol_vix: float = field(default=25.0, validator=validators.gt(0))
    low_vol_vix: float = field(default=13.0, validator=validators.gt(0))
    jump_fraction: float = field(default=0.30, validator=validators.gt(0))
    jump_window: int = field(default=8, validator=validators.gt(0))
    hysteresis: float = field(default=1.0, validator=validators.ge(0))
    realised_window: int = field(default=26, validator=validators.ge(2))
    min_realised_samples: int = field(default=12, validator=validators.ge(2))
    realised_to_implied_high: float = field(default=1.5, validator=validators.gt(1))
    realised_hysteresis: float = field(default=0.2, validator=validators.ge(0))

    def __attrs_post_init__(self) -> None:
        if not self.low_vol_vix < self.high_vol_vix < self.crash_vix:
            raise ValueError("need low_vol_vix < high_vol_vix < crash_vix")


@hookimpl
def v6_plugin_info() -> PluginInfo:
    """The regime detector; its settings are validated by :class:`Settings`."""
    return PluginInfo(
        name=NAME,
        kind=PluginKind.REGIME,
        settings=Settings,
        summary="VIX bands with jump detection, realised vs implied vol and hysteresis",
    )


def _band(vix: float, settings: Settings, shift: float = 0.0) -> Regime:
    if vix >= settings.crash_vix + shift:
        return Regime.CRASH
    if vix >= settings.high_vol_vix + shift:
        return Regime.HIGH_VOL
    if vix <= settings.low_vol_vix + shift:
        return Regime.LOW_VOL
    return Regime.NORMAL


def classify(
    vix: float, recent_low: float, previous: Regime | None, settings: Settings
) -> tuple[Regime, str]:
    """The VIX regime for ``vix`` given the window's low and the previous regime."""
    if (
        np.isfinite(recent_low)
        and recent_low > 0
        and vix / recent_low - 1 >= settings.jump_fraction
    ):
        return Regime.CRASH, f"VIX jumped {vix / recent_low - 1:.0%} from {recent_low:.1f}"
    regime = _band(vix, settings)
    if previous is not None and regime is not previous:
        # Only leave the previous regime once VIX is clearly past the edge.
        toward_lower = _band(vix, settings, shift=settings.hysteresis)
        toward_higher = _band(vix, settings, shift=-settings.hysteresis)
        if previous in (toward_lower, toward_higher):
            return previous, f"VIX {vix:.1f} inside the hysteresis band of {previous.value}"
    return regime, f"VIX {vix:.1f}"


def realised_vol(times: np.ndarray, spots: np.ndarray, window: int, min_samples: int) -> float:
    """Annualised volatility of the last ``window`` intraday returns (NaN if too few).

    Returns across an overnight or weekend gap (longer than twice the typical cycle) are
    left out: they mix closed-market time into the estimate. The rest are annualised in
    trading time, 252 days of 6.5 hours.
    """
    n = min(len(times), len(spots))
    if n < 3:
        return float("nan")
    t = np.asarray(times[-n:], dtype="datetime64[us]").astype(np.int64) / 1e6
    s = np.asarray(spots[-n:], dtype=np.float64)
    dt = np.diff(t)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.diff(np.log(s))
    ok = np.isfinite(r) & (dt > 0)
    if not ok.any():
        return float("nan")
    typical = float(np.median(dt[ok]))
    ok &= dt <= 2.0 * typical
    r, dt = r[ok][-window:], dt[ok][-window:]
    if r.size < min_samples:
        return float("nan")
    return float(np.sqrt(np.sum(r * r) / np.sum(dt) * TRADING_SECONDS_PER_YEAR))


def _last_finite(values: np.ndarray | None) -> float:
    if values is None or values.size == 0:
        return float("nan")
    finite = values[np.isfinite(values)]
    return float(finite[-1]) if finite.size else float("nan")


@hookimpl
def v6_detect_regime(
    market: MarketView,
    history: MarketHistory,
    previous: Mapping[str, RegimeReading],
    settings: Settings,
) -> dict[str, RegimeReading]:
    """A reading for every underlying in the market: the VIX regime, raised to high_vol
    for an underlying whose realised volatility outruns its implied volatility."""
    vix = float(market.vix)
    window = history.vix[-settings.jump_window :] if history.vix.size else np.array([vix])
    recent_low = float(np.nanmin(window)) if np.isfinite(window).any() else float("nan")
    readings = {}
    for symbol in market.underlyings:
        prior = previous.get(symbol)
        regime, reason = classify(vix, recent_low, prior.regime if prior else None, settings)
        realised = realised_vol(
            history.times,
            history.spots.get(symbol, np.empty(0)),
            settings.realised_window,
            settings.min_realised_samples,
        )
        implied = _last_finite(history.atm_iv.get(symbol))
        ratio = realised / implied if implied > 0 else float("nan")
        threshold = settings.realised_to_implied_high
        if prior is not None and prior.regime is Regime.HIGH_VOL:
            threshold -= settings.realised_hysteresis  # stay while realised is still high
        if regime in (Regime.NORMAL, Regime.LOW_VOL) and ratio >= threshold:
            regime = Regime.HIGH_VOL
            reason = f"{reason}; realised vol {realised:.0%} is {ratio:.1f}x implied {implied:.0%}"
        readings[symbol] = RegimeReading(
            underlying=symbol,
            regime=regime,
            reason=reason,
            inputs={
                "vix": vix,
                "vix_window_low": recent_low,
                "realised_vol": realised,
                "atm_iv": implied,
            },
        )
    return readings
