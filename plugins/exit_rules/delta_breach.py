"""Short-strike delta breach: close when the market has come to a short strike.

A short option's delta is the market's estimate that it finishes in the money. When a
short strike's |delta| passes ``max_short_delta`` (0.40 by default: well past the 0.16 to
0.25 at which V6's strategies sell), that side is "tested": the position's risk is now
mostly directional and the premium left is small next to it.
"""

from __future__ import annotations

import math

from attrs import field, frozen, validators

from v6.domain.decisions import ExitAction, ExitDecision
from v6.domain.plugins import PluginInfo, PluginKind
from v6.domain.positions import PositionMark
from v6.hookspecs import hookimpl

NAME = "delta_breach"
PRIORITY = 90


@frozen
class Settings:
    """When a short strike counts as tested.

    Attributes:
        max_short_delta: close when a short leg's absolute delta reaches this (0.40).
    """

    max_short_delta: float = field(default=0.40, validator=[validators.gt(0), validators.lt(1)])


@hookimpl
def v6_plugin_info() -> PluginInfo:
    """An exit rule at priority 90."""
    return PluginInfo(
        name=NAME,
        kind=PluginKind.EXIT_RULE,
        settings=Settings,
        priority=PRIORITY,
        summary="Close when a short strike's |delta| passes a threshold (tested side)",
    )


@hookimpl
def v6_evaluate_exit(mark: PositionMark, settings: Settings) -> ExitDecision | None:
    """Close when any short leg's |delta| is at or above ``max_short_delta``."""
    if not mark.quotes_valid:
        return None
    deltas = [d for d in mark.short_deltas if math.isfinite(d)]
    if not deltas:
        return None
    tested = max(deltas, key=abs)
    if abs(tested) < settings.max_short_delta:
        return None
    side = "put" if tested < 0 else "call"
    return ExitDecision(
        action=ExitAction.CLOSE,
        reason=f"{side} side tested: short delta {tested:+.2f} beyond "
        f"{settings.max_short_delta:.2f}",
        inputs={"short_delta": tested, "max_short_delta": settings.max_short_delta, "side": side},
    )
