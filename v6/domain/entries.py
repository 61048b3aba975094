"""Entry candidates proposed by strategies and the strikes a selector picks for them."""

from __future__ import annotations

from datetime import date

from attrs import field, frozen, validators

from v6.domain.contracts import Leg, Right


@frozen(slots=True)
class LegTemplate:
    """One leg of a structure before strikes are chosen.

    A leg is placed either at a target absolute ``delta`` (e.g. 0.16) or at ``offset``
    points from the strike chosen for leg ``anchor`` (an index into the template).
    """

    right: Right = field(converter=Right)
    ratio: int
    delta: float | None = None
    anchor: int | None = None
    offset: float = 0.0

    def __attrs_post_init__(self) -> None:
        if (self.delta is None) == (self.anchor is None):
            raise ValueError("a LegTemplate needs exactly one of delta or anchor")


@frozen(slots=True)
class EntryCandidate:
    """A strategy's proposal to open a structure on one underlying."""

    strategy: str
    underlying: str
    structure: str
    legs: tuple[LegTemplate, ...] = field(converter=tuple)
    min_dte: int
    max_dte: int
    quantity: int = field(default=1, validator=validators.gt(0))
    min_credit: float = 0.0  # per share; 0 disables the check
    reason: str = ""


@frozen(slots=True)
class StrikeSelection:
    """Concrete legs for a candidate, priced at the current quotes (per share)."""

    candidate: EntryCandidate
    expiry: date
    legs: tuple[Leg, ...]
    net_mid: float  # net debit per unit at mid (negative = credit)
    net_natural: float  # net debit per unit crossing every spread
    reason: str = ""
    # Things a human should know about how the strikes were chosen (the engine raises an
    # alert for each), e.g. a skew-aware selector that had to fall back to plain delta.
    warnings: tuple[str, ...] = field(default=(), converter=tuple)


@frozen(slots=True)
class NoSelection:
    """A strike selector's answer when it finds no acceptable strikes, and why.

    ``reason`` is for a trader reading ``entries`` (``no expiry within 30-45 DTE``,
    ``credit 0.18 below the 0.25 minimum``); the engine stores the candidate as rejected
    with ``no acceptable strikes: <reason>``.
    """

    reason: str
