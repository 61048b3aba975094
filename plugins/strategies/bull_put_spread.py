"""Bull put spread: sell an out-of-the-money put, buy a lower put on the same expiry.

A neutral-to-bullish credit spread; the long put caps the loss at width less credit. It
stays out of crash and high-volatility regimes, where short puts get run over.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from attrs import frozen
from v6_plugins.strategies.credit_structures import (
    StructureSettings,
    avoid_regimes_field,
    propose,
    short_delta_field,
)

from v6.domain.contracts import Right
from v6.domain.decisions import Regime, RegimeReading
from v6.domain.entries import EntryCandidate, LegTemplate
from v6.domain.market import MarketView
from v6.domain.plugins import PluginInfo, PluginKind
from v6.domain.positions import Position
from v6.hookspecs import hookimpl

NAME = "bull_put_spread"


@frozen
class Settings(StructureSettings):
    """Defaults: 0.25-delta short put, 5-point wing, avoids crash and high_vol.

    Set ``avoid_regimes: [crash]`` to allow selling puts into high volatility.
    """

    short_delta: float = short_delta_field(0.25)
    avoid_regimes: tuple[Regime, ...] = avoid_regimes_field(Regime.CRASH, Regime.HIGH_VOL)


@hookimpl
def v6_plugin_info() -> PluginInfo:
    """A strategy; its settings are validated by :class:`Settings`."""
    return PluginInfo(
        name=NAME,
        kind=PluginKind.STRATEGY,
        settings=Settings,
        summary="Short put + lower long put at a target delta",
    )


@hookimpl
def v6_propose_entries(
    market: MarketView,
    regimes: Mapping[str, RegimeReading],
    positions: Sequence[Position],
    underlyings: Sequence[str],
    settings: Settings,
) -> list[EntryCandidate]:
    """One put spread per underlying: short put at the target delta, wing below."""
    legs = (
        LegTemplate(Right.PUT, -1, delta=settings.short_delta),
        LegTemplate(Right.PUT, +1, anchor=0, offset=-settings.wing_width),
    )
    return propose(NAME, legs, market, regimes, positions, underlyings, settings)
