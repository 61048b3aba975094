"""Trailing stop: once a position has made real money, do not let it give most of it back.

The stop activates only after the profit has reached ``activation_fraction`` of the
maximum profit, then trails the peak: it triggers when the profit falls to
``(1 - trail_fraction)`` of the best seen. Whipsaw protection, because one bad print
must not close a good trade:

* the breach must hold for ``confirm_cycles`` consecutive trusted marks, or for
  ``min_breach_minutes`` (when set), whichever comes first;
* a mark whose closing spread is too wide (half-spread above ``max_spread_fraction`` of
  the credit) is not trusted: it neither sets the peak nor counts as a breach, and it
  does not interrupt a run of breaches either;
* marks on bad quotes are NaN in the track and are ignored the same way.

The rule reads the position's whole track each cycle, so it keeps no state and a replay
decides exactly as the live run did.
"""

from __future__ import annotations

import numpy as np
from attrs import field, frozen, validators

from v6.domain.decisions import ExitAction, ExitDecision
from v6.domain.plugins import PluginInfo, PluginKind
from v6.domain.positions import PositionMark, PositionTrack
from v6.hookspecs import hookimpl

NAME = "trailing_stop"
PRIORITY = 60


@frozen
class Settings:
    """Activation, trail, confirmation and the spread filter (see the module docstring).

    Attributes:
        activation_fraction: the stop arms once the profit has reached this share of the
            maximum profit.
        trail_fraction: then it triggers when the profit falls by this share of its peak
            (0.5: to half the best seen).
        confirm_cycles: trusted marks in a row the breach must hold for.
        min_breach_minutes: or minutes the breach must hold for, when above 0 (whichever
            comes first).
        max_spread_fraction: a mark whose half-spread is above this share of the credit
            is not trusted: it neither sets the peak nor counts as a breach.
    """

    activation_fraction: float = field(default=0.30, validator=[validators.gt(0), validators.le(1)])
    trail_fraction: float = field(default=0.50, validator=[validators.gt(0), validators.lt(1)])
    confirm_cycles: int = field(default=3, validator=validators.ge(1))
    min_breach_minutes: float = field(default=0.0, validator=validators.ge(0))
    max_spread_fraction: float = field(default=0.25, validator=validators.gt(0))


@hookimpl
def v6_plugin_info() -> PluginInfo:
    """An exit rule at priority 60: after the hard stop, before portfolio trimming."""
    return PluginInfo(
        name=NAME,
        kind=PluginKind.EXIT_RULE,
        settings=Settings,
        priority=PRIORITY,
        summary="Trail the peak profit once activated; confirmed breaches only",
    )


def _trusted(track: PositionTrack, credit: float, settings: Settings) -> np.ndarray:
    spread_ok = track.half_spread <= settings.max_spread_fraction * credit
    return np.isfinite(track.pnl_fraction) & np.isfinite(track.half_spread) & spread_ok


@hookimpl
def v6_evaluate_exit(
    mark: PositionMark, track: PositionTrack, settings: Settings
) -> ExitDecision | None:
    """Close on a confirmed fall below the trailing level of an activated stop."""
    position = mark.position
    credit = position.entry_credit
    if not mark.quotes_valid or not position.max_profit > 0 or not credit > 0 or len(track) == 0:
        return None
    trusted = _trusted(track, credit, settings)
    idx = np.flatnonzero(trusted)
    if idx.size == 0 or idx[-1] != len(track) - 1:
        return None  # this cycle's mark is not trusted: never trigger on it
    fraction = track.pnl_fraction[idx]
    peak = np.maximum.accumulate(fraction)
    level = peak * (1.0 - settings.trail_fraction)
    breach = (peak >= settings.activation_fraction) & (fraction <= level)
    if not breach[-1]:
        return None
    misses = np.flatnonzero(~breach)
    run_start = misses[-1] + 1 if misses.size else 0
    count = breach.size - run_start
    held = track.times[idx[-1]] - track.times[idx[run_start]]
    minutes = float(held / np.timedelta64(1, "m"))
    by_time = settings.min_breach_minutes > 0 and minutes >= settings.min_breach_minutes
    inputs = {
        "peak_fraction": float(peak[-1]),
        "level_fraction": float(level[-1]),
        "pnl_fraction": float(fraction[-1]),
        "breach_cycles": int(count),
        "breach_minutes": minutes,
    }
    if count < settings.confirm_cycles and not by_time:
        return None
    return ExitDecision(
        action=ExitAction.CLOSE,
        reason=(
            f"profit fell to {fraction[-1]:.0%} of max from a peak of {peak[-1]:.0%} "
            f"(trail level {level[-1]:.0%}) for {count} cycles"
        ),
        inputs=inputs,
    )
