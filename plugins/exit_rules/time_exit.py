"""Time exit: close a position that has been held long enough.

Short premium earns most of its theta in the middle of its life; in the last part gamma
grows faster than the remaining premium. Closing after ``max_days_held`` calendar days,
or once ``max_term_fraction`` of the time from entry to expiry has passed, frees the slot
for a fresh position instead of waiting out the riskiest days.
"""

from __future__ import annotations

from attrs import field, frozen, validators

from v6.domain.decisions import ExitAction, ExitDecision
from v6.domain.plugins import PluginInfo, PluginKind
from v6.domain.positions import PositionMark
from v6.hookspecs import hookimpl

NAME = "time_exit"
PRIORITY = 110


@frozen
class Settings:
    """How long a position may be held.

    Attributes:
        max_days_held: close after this many calendar days held.
        max_term_fraction: close once this share of the time from entry to expiry has
            passed.
    """

    max_days_held: float = field(default=21.0, validator=validators.gt(0))
    max_term_fraction: float = field(default=0.75, validator=[validators.gt(0), validators.le(1)])


@hookimpl
def v6_plugin_info() -> PluginInfo:
    """An exit rule at priority 110."""
    return PluginInfo(
        name=NAME,
        kind=PluginKind.EXIT_RULE,
        settings=Settings,
        priority=PRIORITY,
        summary="Close after N days held or a share of the term to expiry",
    )


@hookimpl
def v6_evaluate_exit(mark: PositionMark, settings: Settings) -> ExitDecision | None:
    """Close when held ``max_days_held`` days or ``max_term_fraction`` of the term."""
    if not mark.quotes_valid:
        return None
    held = (mark.time - mark.position.opened_at).total_seconds() / 86400.0
    term = held + max(mark.dte, 0)
    fraction = held / term if term > 0 else 1.0
    inputs = {"days_held": held, "term_fraction": fraction, "dte": mark.dte}
    if held >= settings.max_days_held:
        reason = f"held {held:.1f} days >= {settings.max_days_held:g}"
    elif fraction >= settings.max_term_fraction:
        reason = f"{fraction:.0%} of the term from entry to expiry has passed"
    else:
        return None
    return ExitDecision(action=ExitAction.CLOSE, reason=reason, inputs=inputs)
