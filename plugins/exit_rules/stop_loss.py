"""Stop loss: close a position whose loss has grown to a multiple of the credit taken.

For a credit structure the loss is measured against the credit (a 2x stop on a 1.00
credit closes when buying back costs 3.00); for a debit structure, against the debit
paid. Marks on bad quotes are ignored: a NaN or crossed quote never triggers a stop.
"""

from __future__ import annotations

from attrs import field, frozen, validators

from v6.domain.decisions import ExitAction, ExitDecision
from v6.domain.plugins import PluginInfo, PluginKind
from v6.domain.positions import PositionMark
from v6.hookspecs import hookimpl

NAME = "stop_loss"
PRIORITY = 5


@frozen
class Settings:
    loss_multiple: float = field(default=2.0, validator=validators.gt(0))  # x credit
    debit_loss_fraction: float = field(default=0.5, validator=[validators.gt(0), validators.le(1)])


@hookimpl
def v6_plugin_info() -> PluginInfo:
    return PluginInfo(
        name=NAME,
        kind=PluginKind.EXIT_RULE,
        settings=Settings,
        priority=PRIORITY,
        summary="Close when the loss reaches a multiple of credit",
    )


@hookimpl
def v6_evaluate_exit(mark: PositionMark, settings: Settings) -> ExitDecision | None:
    if not mark.quotes_valid:
        return None
    position = mark.position
    credit = position.entry_credit
    size = position.quantity * position.multiplier
    if credit > 0:
        limit = settings.loss_multiple * credit * size
        basis = f"{settings.loss_multiple:g}x credit {credit:.2f}"
    else:
        limit = settings.debit_loss_fraction * -credit * size
        basis = f"{settings.debit_loss_fraction:.0%} of debit {-credit:.2f}"
    loss = -mark.unrealized_pnl
    if loss < limit:
        return None
    return ExitDecision(
        action=ExitAction.CLOSE,
        reason=f"loss {loss:.2f} reached {limit:.2f} ({basis})",
        inputs={
            "loss": loss,
            "limit": limit,
            "close_mid": mark.close_mid,
            "entry_price": position.entry_price,
        },
    )
