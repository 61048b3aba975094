"""Catastrophe: close everything when the market breaks or the account cannot carry it.

Three signs, any one enough: the underlying gapped more than ``gap_fraction`` since the
previous cycle; VIX jumped more than ``vix_spike_fraction`` above its recent low (or is
above ``vix_level``); the account's excess liquidity (net liquidation minus maintenance
margin) fell below ``min_excess_liquidity``, the point where the broker starts
liquidating for you. This is the most urgent rule: it outranks every stop and target.

It still never trades on a bad quote: a position whose mark is invalid is left to the
data-integrity rule, which holds it and raises an alert.
"""

from __future__ import annotations

import numpy as np
from attrs import field, frozen, validators

from v6.domain.account import AccountSnapshot
from v6.domain.decisions import ExitAction, ExitDecision
from v6.domain.market import MarketHistory, MarketView
from v6.domain.plugins import PluginInfo, PluginKind
from v6.domain.positions import PositionMark
from v6.hookspecs import hookimpl

NAME = "catastrophe"
PRIORITY = 10


@frozen
class Settings:
    """Thresholds for a gap, a VIX spike and a margin deficiency.

    Attributes:
        gap_fraction: close when the underlying moved this share or more since the
            previous cycle (0.05 = 5%).
        vix_spike_fraction: close when VIX is this share or more above its low of the
            last ``vix_window`` cycles (0.50 = 50%).
        vix_window: cycles over which the recent VIX low is taken.
        vix_level: close when VIX is at or above this many points, whatever its path.
        min_excess_liquidity: close when the account's net liquidation minus maintenance
            margin falls below this many dollars.
    """

    gap_fraction: float = field(default=0.05, validator=validators.gt(0))
    vix_spike_fraction: float = field(default=0.50, validator=validators.gt(0))
    vix_window: int = field(default=8, validator=validators.ge(2))
    vix_level: float = field(default=45.0, validator=validators.gt(0))
    min_excess_liquidity: float = 0.0


@hookimpl
def v6_plugin_info() -> PluginInfo:
    """An exit rule at priority 10, the most urgent."""
    return PluginInfo(
        name=NAME,
        kind=PluginKind.EXIT_RULE,
        settings=Settings,
        priority=PRIORITY,
        summary="Close everything on an underlying gap, a VIX spike or a margin deficiency",
    )


def _gap(history: MarketHistory, underlying: str) -> float:
    """Move from the last sound price before this cycle's (NaN marks a rejected quote)."""
    spots = history.spots.get(underlying)
    if spots is None or spots.size < 2 or not np.isfinite(spots[-1]):
        return float("nan")
    earlier = spots[:-1][np.isfinite(spots[:-1])]
    if earlier.size == 0:
        return float("nan")
    return float(spots[-1] / earlier[-1] - 1.0)


def _vix_spike(history: MarketHistory, vix: float, window: int) -> tuple[float, float]:
    recent = history.vix[-window:]
    recent = recent[np.isfinite(recent)]
    if recent.size == 0 or not np.isfinite(vix):
        return float("nan"), float("nan")
    low = float(recent.min())
    return (vix / low - 1.0 if low > 0 else float("nan")), low


@hookimpl
def v6_evaluate_exit(
    mark: PositionMark,
    market: MarketView,
    history: MarketHistory,
    account: AccountSnapshot,
    settings: Settings,
) -> ExitDecision | None:
    """Close on a gap, a VIX spike or level, or a margin deficiency."""
    if not mark.quotes_valid:
        return None
    underlying = mark.position.underlying
    gap = _gap(history, underlying)
    spike, low = _vix_spike(history, float(market.vix), settings.vix_window)
    excess = account.net_liquidation - account.maintenance_margin
    inputs = {
        "gap": gap,
        "vix": float(market.vix),
        "vix_window_low": low,
        "vix_spike": spike,
        "excess_liquidity": excess,
    }
    reason = None
    if abs(gap) >= settings.gap_fraction:  # NaN compares False: no history, no gap
        reason = f"{underlying} gapped {gap:+.1%} since the previous cycle"
    elif spike >= settings.vix_spike_fraction:
        reason = f"VIX spiked {spike:+.0%} from {low:.1f} to {market.vix:.1f}"
    elif market.vix >= settings.vix_level:
        reason = f"VIX {market.vix:.1f} >= {settings.vix_level:g}"
    elif excess < settings.min_excess_liquidity:
        reason = f"margin deficiency: excess liquidity {excess:,.2f}"
    if reason is None:
        return None
    return ExitDecision(action=ExitAction.CLOSE, reason=reason, inputs=inputs, alert=True)
