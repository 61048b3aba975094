"""Iron butterfly: short at-the-money straddle protected by wings on both sides."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from attrs import field, frozen, validators

from v6.domain.contracts import Right
from v6.domain.decisions import RegimeReading
from v6.domain.entries import EntryCandidate, LegTemplate
from v6.domain.market import MarketView
from v6.domain.plugins import PluginInfo, PluginKind
from v6.domain.positions import Position
from v6.hookspecs import hookimpl

NAME = "iron_fly"


@frozen
class Settings:
    wing_width: float = field(default=10.0, validator=validators.gt(0))
    min_dte: int = field(default=7, validator=validators.ge(0))
    max_dte: int = field(default=21, validator=validators.ge(0))
    quantity: int = field(default=1, validator=validators.gt(0))
    min_credit: float = field(default=1.0, validator=validators.ge(0))
    avoid_regimes: tuple[str, ...] = field(default=("crash", "high_vol"), converter=tuple)


@hookimpl
def v6_plugin_info() -> PluginInfo:
    return PluginInfo(
        name=NAME,
        kind=PluginKind.STRATEGY,
        settings=Settings,
        summary="Short ATM straddle with wings (iron butterfly)",
    )


@hookimpl
def v6_propose_entries(
    market: MarketView,
    regimes: Mapping[str, RegimeReading],
    positions: Sequence[Position],
    underlyings: Sequence[str],
    settings: Settings,
) -> list[EntryCandidate]:
    if not market.market_open:
        return []
    legs = (
        LegTemplate(Right.PUT, -1, delta=0.50),
        LegTemplate(Right.PUT, +1, anchor=0, offset=-settings.wing_width),
        LegTemplate(Right.CALL, -1, delta=0.50),
        LegTemplate(Right.CALL, +1, anchor=2, offset=settings.wing_width),
    )
    held = {p.underlying for p in positions}
    return [
        EntryCandidate(
            strategy=NAME,
            underlying=symbol,
            structure=NAME,
            legs=legs,
            min_dte=settings.min_dte,
            max_dte=settings.max_dte,
            quantity=settings.quantity,
            min_credit=settings.min_credit,
            reason="at-the-money iron butterfly",
        )
        for symbol in underlyings
        if symbol in market.chains
        and symbol not in held
        and (
            regimes.get(symbol) is None
            or regimes[symbol].regime.value not in settings.avoid_regimes
        )
    ]
