"""Regimes and exit decisions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from attrs import field, frozen


class Regime(StrEnum):
    CRASH = "crash"
    HIGH_VOL = "high_vol"
    NORMAL = "normal"
    LOW_VOL = "low_vol"
    TRENDING = "trending"
    RANGE_BOUND = "range_bound"


def check_regime_names(names: Iterable[str]) -> None:
    """Raise ``ValueError`` naming any of ``names`` that is not a regime (for settings that
    key something by regime, so a typo like ``hig_vol`` is caught at load time)."""
    unknown = sorted(set(names) - {r.value for r in Regime})
    if unknown:
        raise ValueError(f"unknown regimes {unknown}; regimes are {[r.value for r in Regime]}")


@frozen(slots=True)
class RegimeReading:
    """A detector's classification of one underlying, with the evidence it used."""

    underlying: str
    regime: Regime = field(converter=Regime)
    reason: str = ""
    inputs: Mapping[str, float] = field(factory=dict)


class ExitAction(StrEnum):
    HOLD = "hold"
    CLOSE = "close"


@frozen(slots=True)
class ExitDecision:
    """What an exit rule decided about one position, and why.

    Rules return this to decide; returning ``None`` means "no opinion". The engine fills
    in ``rule`` and ``priority``. ``alert`` asks the engine to raise an alert as well
    (a rule that holds a position on bad data wants a human to know).
    """

    action: ExitAction = field(converter=ExitAction)
    reason: str
    inputs: Mapping[str, Any] = field(factory=dict)
    rule: str = ""
    priority: int = 0
    alert: bool = False


@frozen(slots=True)
class RuleVerdict:
    """What one exit rule said about one position in one cycle (for ``v6 explain``).

    ``action`` is None for "no opinion"; ``error`` holds the exception text of a rule
    that raised (it is isolated and counts as no opinion).
    """

    rule: str
    priority: int
    action: ExitAction | None
    reason: str = ""
    error: str = ""


@frozen(slots=True)
class DecisionRecord:
    """A decision as stored: which rule decided, for which position, and why.

    ``verdicts`` holds every rule's verdict that cycle, in priority order, so a trader
    can see not only the rule that won but what every other rule thought.
    """

    time: datetime
    position_id: str
    rule: str
    priority: int
    action: ExitAction
    reason: str
    inputs: Mapping[str, Any]
    underlying: str = ""
    regime: str = ""
    verdicts: tuple[RuleVerdict, ...] = ()
    # The mark the rules saw (NaN where the quotes were bad): the position's track, so a
    # restart rebuilds it and a trailing stop keeps its peak.
    unrealized_pnl: float = float("nan")
    pnl_fraction: float = float("nan")
    half_spread: float = float("nan")
    spot: float = float("nan")
