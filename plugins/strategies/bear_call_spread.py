"""Bear call spread: sell an out-of-the-money call, buy a higher call on the same expiry.

A neutral-to-bearish credit spread; the long call caps the loss at width less credit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from attrs import frozen
from v6_plugins.strategies.credit_structures import (
    StructureSettings,
    propose,
    short_delta_field,
)

from v6.domain.contracts import Right
from v6.domain.decisions import RegimeReading
from v6.domain.entries import EntryCandidate, LegTemplate
from v6.domain.market import MarketView
from v6.domain.plugins import PluginInfo, PluginKind
from v6.domain.positions import Position
from v6.hookspecs import hookimpl

NAME = "bear_call_spread"


@frozen
class Settings(StructureSettings):
    """Defaults: 0.25-delta short call, 5-point wing, avoids crash (a squeeze follows)."""

    short_delta: float = short_delta_field(0.25)


@hookimpl
def v6_plugin_info() -> PluginInfo:
    """A strategy; its settings are validated by :class:`Settings`."""
    return PluginInfo(
        name=NAME,
        kind=PluginKind.STRATEGY,
        settings=Settings,
        summary="Short call + higher long call at a target delta",
    )


@hookimpl
def v6_propose_entries(
    market: MarketView,
    regimes: Mapping[str, RegimeReading],
    positions: Sequence[Position],
    underlyings: Sequence[str],
    settings: Settings,
) -> list[EntryCandidate]:
    """One call spread per underlying: short call at the target delta, wing above."""
    legs = (
        LegTemplate(Right.CALL, -1, delta=settings.short_delta),
        LegTemplate(Right.CALL, +1, anchor=0, offset=settings.wing_width),
    )
    return propose(NAME, legs, market, regimes, positions, underlyings, settings)
