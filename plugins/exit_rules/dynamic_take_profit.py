"""DynamicTakeProfit: bank profit at a share of the maximum that depends on the regime.

In a calm, range-bound market a short-premium position can be left to collect most of
its decay; in a volatile or crashing one the remaining profit is not worth the risk of
holding for it, so the target comes down: crash 40%, high_vol 50%, normal 80%,
low_vol 90%, trending 85%, range_bound 80% of the maximum profit by default. The
regime is the driving detector's (``plugins.regime_driver`` when several detectors
run). The decision records the regime and the threshold it used.
"""

from __future__ import annotations

from attrs import Factory, field, frozen, validators

from v6.domain.decisions import ExitAction, ExitDecision, RegimeReading, check_regime_names
from v6.domain.plugins import PluginInfo, PluginKind
from v6.domain.positions import PositionMark
from v6.hookspecs import hookimpl

NAME = "dynamic_take_profit"
PRIORITY = 80

DEFAULT_TARGETS = {
    "crash": 0.40,
    "high_vol": 0.50,
    "normal": 0.80,
    "low_vol": 0.90,
    "trending": 0.85,
    "range_bound": 0.80,
}


def _check_targets(_instance: object, _attribute: object, value: dict[str, float]) -> None:
    check_regime_names(value)
    bad = {k: v for k, v in value.items() if not 0 < v <= 1}
    if bad:
        raise ValueError(f"targets must be in (0, 1], got {bad}")


@frozen
class Settings:
    """The share of the maximum profit to bank, by the underlying's regime.

    Attributes:
        targets: share of max profit to bank per regime (crash, high_vol, normal,
            low_vol, trending, range_bound); a regime left out uses ``default_target``.
        default_target: the share for a regime missing from ``targets``, and before the
            first regime reading.
    """

    targets: dict[str, float] = field(
        default=Factory(lambda: dict(DEFAULT_TARGETS)), validator=_check_targets
    )
    default_target: float = field(default=0.80, validator=[validators.gt(0), validators.le(1)])

    def target(self, regime: str | None) -> float:
        return self.targets.get(regime, self.default_target) if regime else self.default_target


@hookimpl
def v6_plugin_info() -> PluginInfo:
    """An exit rule at priority 80."""
    return PluginInfo(
        name=NAME,
        kind=PluginKind.EXIT_RULE,
        settings=Settings,
        priority=PRIORITY,
        summary="Take profit at a regime-dependent share of the maximum profit",
    )


@hookimpl
def v6_evaluate_exit(
    mark: PositionMark, regime: RegimeReading | None, settings: Settings
) -> ExitDecision | None:
    """Close once the captured share of max profit reaches the current regime's target."""
    if not mark.quotes_valid or not mark.position.max_profit > 0:
        return None
    name = regime.regime.value if regime is not None else None
    target = settings.target(name)
    captured = mark.pnl_fraction_of_max_profit
    if not captured >= target:  # NaN never closes
        return None
    return ExitDecision(
        action=ExitAction.CLOSE,
        reason=f"captured {captured:.0%} of max profit; {name or 'no'} regime target {target:.0%}",
        inputs={
            "regime": name or "",
            "threshold": target,
            "captured_fraction": captured,
            "unrealized_pnl": mark.unrealized_pnl,
            "max_profit": mark.position.max_profit,
        },
    )
