"""What every built-in premium-selling strategy shares: its settings and its gates.

A strategy module only says which legs it sells and buys; the checks that decide
*whether* to propose (open market, room per underlying, a regime it can live with) and
the settings that size and time the trade are the same for all of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from attrs import field, frozen, validators

from v6.domain.decisions import Regime, RegimeReading
from v6.domain.entries import EntryCandidate, LegTemplate
from v6.domain.market import MarketView
from v6.domain.positions import Position, PositionStatus


def regimes_tuple(values: Iterable[str | Regime]) -> tuple[Regime, ...]:
    """Regime names from the config as ``Regime`` members, so a typo fails at load time."""
    if isinstance(values, str):
        values = (values,)
    return tuple(Regime(value) for value in values)


def avoid_regimes_field(*default: Regime) -> tuple[Regime, ...]:
    """The ``avoid_regimes`` setting: regimes in which the strategy proposes nothing."""
    return field(default=default, converter=regimes_tuple)


def short_delta_field(default: float) -> float:
    """The ``short_delta`` setting with its validator, for subclasses that change the default."""
    return field(default=default, validator=[validators.gt(0), validators.lt(1)])


@frozen
class StructureSettings:
    """Short strikes by |delta|, wings by width in points, expiry by a DTE window.

    Attributes:
        short_delta: target absolute delta of each short leg.
        wing_width: points between a short strike and its long wing.
        min_dte: fewest calendar days to expiry to open on.
        max_dte: most calendar days to expiry to open on.
        quantity: units per entry.
        min_credit: least credit per share at mid worth opening for.
        max_positions_per_underlying: positions (opening, open or closing) held at once
            per underlying.
        avoid_regimes: regimes in which the strategy proposes nothing.
    """

    short_delta: float = short_delta_field(0.16)
    wing_width: float = field(default=5.0, validator=validators.gt(0))
    min_dte: int = field(default=7, validator=validators.ge(0))
    max_dte: int = field(default=45, validator=validators.ge(0))
    quantity: int = field(default=1, validator=validators.gt(0))
    min_credit: float = field(default=0.30, validator=validators.ge(0))
    max_positions_per_underlying: int = field(default=1, validator=validators.gt(0))
    avoid_regimes: tuple[Regime, ...] = avoid_regimes_field(Regime.CRASH)

    def __attrs_post_init__(self) -> None:
        if self.max_dte < self.min_dte:
            raise ValueError(f"max_dte {self.max_dte} must be >= min_dte {self.min_dte}")


def underlyings_to_trade(
    market: MarketView,
    positions: Sequence[Position],
    underlyings: Iterable[str],
    regimes: Mapping[str, RegimeReading],
    max_positions_per_underlying: int,
    avoid_regimes: Iterable[Regime],
) -> list[str]:
    """Underlyings where this strategy has room, a chain, an open market and a fit regime.

    Opening and closing positions count against the room: an entry order still working
    or an exit not yet filled is risk the strategy already carries.
    """
    if not market.market_open:
        return []
    avoid = set(avoid_regimes)
    chosen = []
    for symbol in underlyings:
        if symbol not in market.chains:
            continue
        held = sum(
            1 for p in positions if p.underlying == symbol and p.status is not PositionStatus.CLOSED
        )
        if held >= max_positions_per_underlying:
            continue
        reading = regimes.get(symbol)
        if reading is not None and reading.regime in avoid:
            continue
        chosen.append(symbol)
    return chosen


def propose(
    name: str,
    legs: tuple[LegTemplate, ...],
    market: MarketView,
    regimes: Mapping[str, RegimeReading],
    positions: Sequence[Position],
    underlyings: Sequence[str],
    settings: StructureSettings,
) -> list[EntryCandidate]:
    """One candidate of structure ``name`` per underlying that passes the gates."""
    symbols = underlyings_to_trade(
        market,
        positions,
        underlyings,
        regimes,
        settings.max_positions_per_underlying,
        settings.avoid_regimes,
    )
    return [
        EntryCandidate(
            strategy=name,
            underlying=symbol,
            structure=name,
            legs=legs,
            min_dte=settings.min_dte,
            max_dte=settings.max_dte,
            quantity=settings.quantity,
            min_credit=settings.min_credit,
            reason=f"{settings.short_delta:.2f} delta, {settings.wing_width:g} wide",
        )
        for symbol in symbols
    ]
