"""Regimes and exit decisions."""

from __future__ import annotations

from collections.abc import Mapping
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

    Rules return this to decide; returning ``None`` means "no opinion", and the engine
    asks the next rule. The engine fills in ``rule`` and ``priority``.
    """

    action: ExitAction = field(converter=ExitAction)
    reason: str
    inputs: Mapping[str, Any] = field(factory=dict)
    rule: str = ""
    priority: int = 0


@frozen(slots=True)
class DecisionRecord:
    """A decision as stored: which rule decided, for which position, and why."""

    time: datetime
    position_id: str
    rule: str
    priority: int
    action: ExitAction
    reason: str
    inputs: Mapping[str, Any]
