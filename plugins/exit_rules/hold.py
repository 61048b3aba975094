"""Hold: the last rule, so every position gets an explicit decision every cycle.

With it, the decisions table says "held, no exit condition met" instead of leaving a
gap, and ``v6 explain`` shows a complete record.
"""

from __future__ import annotations

from v6.domain.decisions import ExitAction, ExitDecision
from v6.domain.plugins import NoSettings, PluginInfo, PluginKind
from v6.domain.positions import PositionMark
from v6.hookspecs import hookimpl

NAME = "hold"
PRIORITY = 120


@hookimpl
def v6_plugin_info() -> PluginInfo:
    """An exit rule at priority 120, the least urgent."""
    return PluginInfo(
        name=NAME,
        kind=PluginKind.EXIT_RULE,
        settings=NoSettings,
        priority=PRIORITY,
        summary="Hold when no other rule decided",
    )


@hookimpl
def v6_evaluate_exit(mark: PositionMark) -> ExitDecision:
    """Always hold."""
    return ExitDecision(
        action=ExitAction.HOLD,
        reason="no exit condition met",
        inputs={"unrealized_pnl": mark.unrealized_pnl, "dte": mark.dte},
    )
