"""Option contracts and the legs of a combo."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from functools import lru_cache

from attrs import field, frozen, validators


class Right(StrEnum):
    """Call or put, spelled as IB spells it."""

    CALL = "C"
    PUT = "P"


def _positive(_instance: object, attribute: object, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{getattr(attribute, 'name', 'value')} must be > 0, got {value!r}")


@lru_cache(maxsize=1 << 16)
def contract_key(underlying: str, expiry: date, strike: float, right: Right) -> str:
    """``SPY 20261218 580P``; cached because the engine asks for the keys of every held
    leg many times a cycle, and formatting a date is most of the cost."""
    return f"{underlying} {expiry:%Y%m%d} {strike:g}{right.value}"


@frozen(slots=True, order=True)
class OptionContract:
    """One listed option. ``key`` is the stable identity used in tables and maps."""

    underlying: str
    expiry: date
    strike: float = field(converter=float, validator=_positive)
    right: Right = field(converter=Right)
    multiplier: int = 100

    @property
    def key(self) -> str:
        """A human-readable, unique identity, e.g. ``SPY 20261218 580P``."""
        return contract_key(self.underlying, self.expiry, self.strike, self.right)

    @property
    def is_call(self) -> bool:
        return self.right is Right.CALL


@frozen(slots=True)
class Leg:
    """A contract and its signed ratio per combo unit: +1 bought, -1 sold."""

    contract: OptionContract
    ratio: int = field(validator=validators.not_(validators.in_([0]), msg="ratio must not be 0"))

    @property
    def is_short(self) -> bool:
        return self.ratio < 0
