"""Circuit breaker: close every position while a breaker configured to close is tripped.

Every tripped breaker already stops new entries; the ones listed in
``breakers.close_positions`` (a daily loss limit, typically) mean "get flat". Priority 20:
only a catastrophe is more urgent.
"""

from __future__ import annotations

from collections.abc import Sequence

from v6.domain.decisions import ExitAction, ExitDecision
from v6.domain.plugins import NoSettings, PluginInfo, PluginKind
from v6.domain.positions import PositionMark
from v6.domain.risk import BreakerStatus
from v6.hookspecs import hookimpl

NAME = "circuit_breaker"
PRIORITY = 20


@hookimpl
def v6_plugin_info() -> PluginInfo:
    """An exit rule at priority 20."""
    return PluginInfo(
        name=NAME,
        kind=PluginKind.EXIT_RULE,
        settings=NoSettings,
        priority=PRIORITY,
        summary="Close every position while a closing circuit breaker is tripped",
    )


@hookimpl
def v6_evaluate_exit(mark: PositionMark, breakers: Sequence[BreakerStatus]) -> ExitDecision | None:
    """Close when a tripped breaker has ``close_positions`` (on valid quotes only)."""
    closing = [b for b in breakers if b.tripped and b.close_positions]
    if not closing or not mark.quotes_valid:
        return None
    return ExitDecision(
        action=ExitAction.CLOSE,
        reason="; ".join(f"breaker {b.name} tripped: {b.reason}" for b in closing),
        inputs={"breakers": [b.name for b in closing]},
    )
