"""Iron condor: sell an out-of-the-money put spread and call spread on one expiry.

Profits while the underlying stays between the short strikes; the wings cap the loss at
the wider side's width less the credit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from attrs import frozen
from v6_plugins.strategies.credit_structures import StructureSettings, propose

from v6.domain.contracts import Right
from v6.domain.decisions import RegimeReading
from v6.domain.entries import EntryCandidate, LegTemplate
from v6.domain.market import MarketView
from v6.domain.plugins import PluginInfo, PluginKind
from v6.domain.positions import Position
from v6.hookspecs import hookimpl

NAME = "iron_condor"


@frozen
class Settings(StructureSettings):
    """Defaults: 0.16-delta shorts, 5-point wings, 7-45 DTE, stays out of crashes."""


@hookimpl
def v6_plugin_info() -> PluginInfo:
    """A strategy; its settings are validated by :class:`Settings`."""
    return PluginInfo(
        name=NAME,
        kind=PluginKind.STRATEGY,
        settings=Settings,
        summary="Short put spread + short call spread at a target delta",
    )


@hookimpl
def v6_propose_entries(
    market: MarketView,
    regimes: Mapping[str, RegimeReading],
    positions: Sequence[Position],
    underlyings: Sequence[str],
    settings: Settings,
) -> list[EntryCandidate]:
    """One condor per underlying: 16-delta shorts by default, wings outside them."""
    legs = (
        LegTemplate(Right.PUT, -1, delta=settings.short_delta),
        LegTemplate(Right.PUT, +1, anchor=0, offset=-settings.wing_width),
        LegTemplate(Right.CALL, -1, delta=settings.short_delta),
        LegTemplate(Right.CALL, +1, anchor=2, offset=settings.wing_width),
    )
    return propose(NAME, legs, market, regimes, positions, underlyings, settings)
