"""Stop loss: close a position whose loss has grown to a multiple of the credit taken.

For a credit structure the loss is measured against the credit: with the default 2x, a
condor sold for 1.00 is closed when buying it back costs 3.00 (a 2.00 loss). A debit
structure has no credit to measure against, so its stop is a share of its maximum loss
(which is the debit paid). Losses are per share at mid, the price the position would
be valued at; marks on bad quotes are ignored, so a NaN or crossed quote never
triggers a stop.
"""

from __future__ import annotations

from attrs import field, frozen, validators

from v6.domain.decisions import ExitAction, ExitDecision
from v6.domain.plugins import PluginInfo, PluginKind
from v6.domain.positions import PositionMark
from v6.hookspecs import hookimpl

NAME = "stop_loss"
PRIORITY = 50


@frozen
class Settings:
    """The loss at which a position is closed.

    Attributes:
        loss_multiple: close a credit structure when its loss per share reaches this
            multiple of the credit taken (2.0: sold for 1.00, closed at 3.00).
        max_loss_fraction: close a debit structure when its loss reaches this share of
            its maximum loss (the debit paid).
    """

    loss_multiple: float = field(default=2.0, validator=validators.gt(0))
    max_loss_fraction: float = field(default=0.5, validator=[validators.gt(0), validators.le(1)])


@hookimpl
def v6_plugin_info() -> PluginInfo:
    """An exit rule at priority 50: after the expiry rule, before taking profit."""
    return PluginInfo(
        name=NAME,
        kind=PluginKind.EXIT_RULE,
        settings=Settings,
        priority=PRIORITY,
        summary="Close when the loss reaches a multiple of the credit",
    )


def loss_limit_per_share(mark: PositionMark, settings: Settings) -> tuple[float, str]:
    """The loss per share at which to close, and how it was derived."""
    position = mark.position
    credit = position.entry_credit
    if credit > 0:
        return settings.loss_multiple * credit, f"{settings.loss_multiple:g}x credit {credit:.2f}"
    max_loss = position.max_loss / (position.quantity * position.multiplier)
    return (
        settings.max_loss_fraction * max_loss,
        f"{settings.max_loss_fraction:.0%} of max loss {max_loss:.2f}",
    )


@hookimpl
def v6_evaluate_exit(mark: PositionMark, settings: Settings) -> ExitDecision | None:
    """Close when (cost to close at mid) - (credit taken) reaches the limit per share."""
    if not mark.quotes_valid:
        return None
    # Paid entry_price to open, pay close_mid to close: the sum is the loss per share.
    loss = mark.position.entry_price + mark.close_mid
    limit, basis = loss_limit_per_share(mark, settings)
    if not limit > 0 or loss < limit:
        return None
    return ExitDecision(
        action=ExitAction.CLOSE,
        reason=f"loss {loss:.2f}/share reached {limit:.2f} ({basis})",
        inputs={
            "loss_per_share": loss,
            "limit_per_share": limit,
            "close_mid": mark.close_mid,
            "entry_price": mark.position.entry_price,
        },
    )
