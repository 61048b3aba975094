"""Regime change: close a position whose market is no longer the one it was opened for.

A short-premium position opened in a calm market is a bet on calm; when the underlying's
regime turns into one of ``close_in`` (high_vol, crash, trending by default) the bet no
longer holds, even if no stop or delta limit has been hit yet. Only a change for the
worse counts (trending < high_vol < crash): a position opened in high_vol is not closed
because the market calmed down to trending, and one opened in a regime was a
deliberate bet on it. The regime is the driving detector's (``plugins.regime_driver``
when several detectors run), the same one that recorded the regime at entry.
"""

from __future__ import annotations

from attrs import Factory, field, frozen

from v6.domain.decisions import ExitAction, ExitDecision, RegimeReading, check_regime_names
from v6.domain.plugins import PluginInfo, PluginKind
from v6.domain.positions import PositionMark
from v6.hookspecs import hookimpl

NAME = "regime_change"
PRIORITY = 100
# How adverse a regime is for a short-premium position; the rest rank 0.
ADVERSITY = {"trending": 1, "high_vol": 2, "crash": 3}


def _check_regimes(_instance: object, _attribute: object, value: list[str]) -> None:
    check_regime_names(value)


@frozen
class Settings:
    """Which regimes are worth leaving for.

    Attributes:
        close_in: regimes that close a position opened in a different regime.
    """

    close_in: list[str] = field(
        default=Factory(lambda: ["crash", "high_vol", "trending"]), validator=_check_regimes
    )


@hookimpl
def v6_plugin_info() -> PluginInfo:
    """An exit rule at priority 100."""
    return PluginInfo(
        name=NAME,
        kind=PluginKind.EXIT_RULE,
        settings=Settings,
        priority=PRIORITY,
        summary="Close when the regime turns adverse after entry",
    )


@hookimpl
def v6_evaluate_exit(
    mark: PositionMark, regime: RegimeReading | None, settings: Settings
) -> ExitDecision | None:
    """Close when the regime now is in ``close_in`` and worse than at entry."""
    entered = mark.position.entry_regime
    if not mark.quotes_valid or regime is None or not entered:
        return None
    now = regime.regime.value
    if now not in settings.close_in or ADVERSITY.get(now, 0) <= ADVERSITY.get(entered, 0):
        return None
    return ExitDecision(
        action=ExitAction.CLOSE,
        reason=f"regime changed from {entered} at entry to {now} ({regime.reason})",
        inputs={"entry_regime": entered, "regime": now},
    )
