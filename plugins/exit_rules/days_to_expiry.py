"""Expiration and assignment risk: close near expiry, and sooner if a short strike is ITM.

Near expiry gamma explodes and a short strike can finish in the money with the
underlying gapping through the wing overnight; closing at a set DTE removes both. A short
option already in the money a few days out is an early-assignment candidate (and, at
expiry, a pin-risk lottery), so it is closed from ``itm_close_dte`` days out.
"""

from __future__ import annotations

from attrs import field, frozen, validators

from v6.domain.decisions import ExitAction, ExitDecision
from v6.domain.plugins import PluginInfo, PluginKind
from v6.domain.positions import PositionMark
from v6.hookspecs import hookimpl

NAME = "days_to_expiry"
PRIORITY = 40


@frozen
class Settings:
    """When expiry is too close to hold through (pin and assignment risk).

    Attributes:
        close_at_dte: close when this many calendar days to expiry or fewer remain.
        itm_close_dte: close a position with a short strike in the money from this many
            calendar days to expiry.
    """

    close_at_dte: int = field(default=1, validator=validators.ge(0))
    itm_close_dte: int = field(default=5, validator=validators.ge(0))


@hookimpl
def v6_plugin_info() -> PluginInfo:
    """An exit rule at priority 40: expiry risk outranks the stop and the profit target."""
    return PluginInfo(
        name=NAME,
        kind=PluginKind.EXIT_RULE,
        settings=Settings,
        priority=PRIORITY,
        summary="Close at N days to expiry, or sooner with a short strike in the money",
    )


def _short_itm(mark: PositionMark) -> list[str]:
    """Keys of the short legs that are in the money at the current spot."""
    spot = mark.spot
    if not spot > 0:  # NaN spot: cannot tell
        return []
    return [
        leg.contract.key
        for leg in mark.position.legs
        if leg.ratio < 0
        and (spot > leg.contract.strike if leg.contract.is_call else spot < leg.contract.strike)
    ]


@hookimpl
def v6_evaluate_exit(mark: PositionMark, settings: Settings) -> ExitDecision | None:
    """Close when ``dte <= close_at_dte``, or ``dte <= itm_close_dte`` with a short ITM."""
    if not mark.quotes_valid:
        return None
    inputs = {
        "dte": mark.dte,
        "close_at_dte": settings.close_at_dte,
        "itm_close_dte": settings.itm_close_dte,
        "spot": mark.spot,
    }
    if mark.dte <= settings.close_at_dte:
        return ExitDecision(
            action=ExitAction.CLOSE,
            reason=f"{mark.dte} days to expiry <= {settings.close_at_dte}",
            inputs=inputs,
        )
    if mark.dte <= settings.itm_close_dte:
        itm = _short_itm(mark)
        if itm:
            return ExitDecision(
                action=ExitAction.CLOSE,
                reason=f"assignment risk: short {', '.join(itm)} in the money at "
                f"{mark.spot:.2f} with {mark.dte} days to expiry",
                inputs={**inputs, "short_itm": itm},
            )
    return None
