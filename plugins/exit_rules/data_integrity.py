"""Data integrity: hold a position whose quotes cannot be trusted, and say so.

A NaN Greek, a crossed or stale quote, a zero bid, an ask outside the no-arbitrage
bounds, Greeks no option can have that V6 could not re-derive from the mid, or a missing
contract makes the mark meaningless; acting on it (a stop triggered by a NaN, a target
hit by a crossed quote) is how software loses money. At priority 30 this rule stops every
less urgent rule from acting on such a mark and asks for an alert. Only a catastrophe or
a closing circuit breaker outranks it, and both of those also refuse to act on bad
quotes.
"""

from __future__ import annotations

import math

from v6.domain.decisions import ExitAction, ExitDecision
from v6.domain.plugins import NoSettings, PluginInfo, PluginKind
from v6.domain.positions import PositionMark
from v6.hookspecs import hookimpl

NAME = "data_integrity"
PRIORITY = 30


@hookimpl
def v6_plugin_info() -> PluginInfo:
    """An exit rule at priority 30."""
    return PluginInfo(
        name=NAME,
        kind=PluginKind.EXIT_RULE,
        settings=NoSettings,
        priority=PRIORITY,
        summary="Hold (and alert) while a position's quotes fail the data-quality gate",
    )


@hookimpl
def v6_evaluate_exit(mark: PositionMark) -> ExitDecision | None:
    """Hold with an alert when any leg's quote or the underlying's price is unusable."""
    bad_spot = not math.isfinite(mark.spot) or mark.spot <= 0
    if mark.quotes_valid and not bad_spot:
        return None
    what = "underlying price unusable" if bad_spot else "a leg's quote failed the quality gate"
    return ExitDecision(
        action=ExitAction.HOLD,
        reason=f"holding: {what}; no rule may act on this mark",
        inputs={"quotes_valid": mark.quotes_valid, "spot": mark.spot},
        alert=True,
    )
