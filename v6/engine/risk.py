"""Phase 4, risk: the whole book's Greeks and stress P&L, once per cycle, for rules and
entries."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from v6.domain.market import MarketView
from v6.domain.positions import Position

if TYPE_CHECKING:
    from v6.engine.cycle import Engine


def run(engine: Engine, view: MarketView) -> None:
    """Measure the portfolio and read the account the rest of the cycle decides on."""
    engine.risk = engine.risk_calculator.compute(at_risk(engine), view)
    engine.account_now = engine.broker.account(view)


def at_risk(engine: Engine) -> list[Position]:
    """Live positions sized as the risk they may become: an entry still working counts
    its whole order quantity, not only what has filled so far."""
    from v6.engine.cycle import LIVE

    out = []
    for position in engine.book.positions(LIVE):
        pending = engine.book.working_open_quantity(position.position_id)
        if pending > position.quantity:
            per_unit = position.max_loss / max(position.quantity, 1)
            position = attrs.evolve(position, quantity=pending, max_loss=per_unit * pending)
        out.append(position)
    return out
