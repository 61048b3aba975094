"""Volatility regime from VIX: level bands, a jump detector, and hysteresis.

VIX is the market's own price of 30-day volatility, so its level sorts the regimes
(crash, high_vol, normal, low_vol) and a sudden jump flags a crash before the level
gets there. A regime is only left once VIX has moved ``hysteresis`` points past the
band edge, so a VIX hovering at 25 does not flip the regime every cycle.
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


@frozen
class Settings:
    crash_vix: float = field(default=35.0, validator=validators.gt(0))
    high_vol_vix: float = field(default=25.0, validator=validators.gt(0))
    low_vol_vix: float = field(default=13.0, validator=validators.gt(0))
    jump_fraction: float = field(default=0.30, validator=validators.gt(0))
    jump_window: int = field(default=8, validator=validators.gt(0))  # cycles
    hysteresis: float = field(default=1.0, validator=validators.ge(0))

    def __attrs_post_init__(self) -> None:
        if not self.low_vol_vix < self.high_vol_vix < self.crash_vix:
            raise ValueError("need low_vol_vix < high_vol_vix < crash_vix")


@hookimpl
def v6_plugin_info() -> PluginInfo:
    return PluginInfo(
        name=NAME,
        kind=PluginKind.REGIME,
        settings=Settings,
        summary="VIX bands with jump detection and hysteresis",
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
    """The regime for ``vix`` given the window's low and the previous regime."""
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


@hookimpl
def v6_detect_regime(
    market: MarketView,
    history: MarketHistory,
    previous: Mapping[str, RegimeReading],
    settings: Settings,
) -> dict[str, RegimeReading]:
    vix = float(market.vix)
    window = history.vix[-settings.jump_window :] if history.vix.size else np.array([vix])
    recent_low = float(np.nanmin(window)) if np.isfinite(window).any() else float("nan")
    readings = {}
    for symbol in market.underlyings:
        prior = previous.get(symbol)
        regime, reason = classify(vix, recent_low, prior.regime if prior else None, settings)
        readings[symbol] = RegimeReading(
            underlying=symbol,
            regime=regime,
            reason=reason,
            inputs={"vix": vix, "vix_window_low": recent_low},
        )
    return readings
