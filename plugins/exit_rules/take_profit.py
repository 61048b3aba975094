"""Take profit: close once a set share of the maximum profit has been captured.

Short-premium structures earn most of their profit early; holding for the last part
keeps the full risk for little reward, so a fixed share (50% by default) is banked.
"""

from __future__ import annotations

from attrs import field, frozen, validators

from v6.domain.decisions import ExitAction, ExitDecision
from v6.domain.plugins import PluginInfo, PluginKind
from v6.domain.positions import PositionMark
from v6.hookspecs import hookimpl

NAME = "take_profit"
PRIORITY = 80


@frozen
class Settings:
    """A fixed profit target.

    Attributes:
        profit_fraction: close once the captured share of the maximum profit reaches
            this (0.5 = half).
    """

    profit_fraction: float = field(default=0.5, validator=[validators.gt(0), validators.le(1)])


@hookimpl
def v6_plugin_info() -> PluginInfo:
    """An exit rule at priority 80: banking profit is the least urgent reason to close."""
    return PluginInfo(
        name=NAME,
        kind=PluginKind.EXIT_RULE,
        settings=Settings,
        priority=PRIORITY,
        summary="Close at a share of the maximum profit",
    )


@hookimpl
def v6_evaluate_exit(mark: PositionMark, settings: Settings) -> ExitDecision | None:
    """Close once the P&L at mid is at least ``profit_fraction`` of the maximum profit."""
    if not mark.quotes_valid or not mark.position.max_profit > 0:
        return None
    captured = mark.pnl_fraction_of_max_profit
    if not captured >= settings.profit_fraction:  # NaN (unmeasurable) never closes
        return None
    return ExitDecision(
        action=ExitAction.CLOSE,
        reason=f"captured {captured:.0%} of max profit (target {settings.profit_fraction:.0%})",
        inputs={
            "captured_fraction": captured,
            "target": settings.profit_fraction,
            "unrealized_pnl": mark.unrealized_pnl,
            "max_profit": mark.position.max_profit,
        },
    )
