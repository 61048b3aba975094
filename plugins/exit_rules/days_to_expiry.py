"""Days to expiry: close before expiration week's last days to avoid assignment risk.

Near expiry gamma explodes and a short strike can finish in the money with the
underlying gapping through the wing overnight; closing at a set DTE removes both.
"""

from __future__ import annotations

from attrs import field, frozen, validators

from v6.domain.decisions import ExitAction, ExitDecision
from v6.domain.plugins import PluginInfo, PluginKind
from v6.domain.positions import PositionMark
from v6.hookspecs import hookimpl

NAME = "days_to_expiry"
PRIORITY = 4


@frozen
class Settings:
    """``close_at_dte``: close when this many calendar days or fewer remain."""

    close_at_dte: int = field(default=1, validator=validators.ge(0))


@hookimpl
def v6_plugin_info() -> PluginInfo:
    """An exit rule at priority 4: expiry risk outranks the stop and the profit target."""
    return PluginInfo(
        name=NAME,
        kind=PluginKind.EXIT_RULE,
        settings=Settings,
        priority=PRIORITY,
        summary="Close at or inside N days to expiry",
    )


@hookimpl
def v6_evaluate_exit(mark: PositionMark, settings: Settings) -> ExitDecision | None:
    """Close when ``mark.dte <= close_at_dte`` (on a mark whose quotes are valid)."""
    if not mark.quotes_valid or mark.dte > settings.close_at_dte:
        return None
    return ExitDecision(
        action=ExitAction.CLOSE,
        reason=f"{mark.dte} days to expiry <= {settings.close_at_dte}",
        inputs={"dte": mark.dte, "close_at_dte": settings.close_at_dte},
    )
