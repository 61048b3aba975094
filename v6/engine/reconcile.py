"""Phase 2, reconcile: compare V6's book with what the broker holds.

A contract V6 has never traded is someone else's position (opened by hand or by another
program): it is reported once and left alone. A contract V6 does hold in a different
quantity than the broker is a mismatch: an alert, and no new entries on that underlying
until the two agree again.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from v6.domain.alerts import Severity
from v6.domain.market import MarketView

if TYPE_CHECKING:
    from v6.engine.cycle import Engine

log = logging.getLogger(__name__)


def run(engine: Engine, view: MarketView) -> None:
    """Block entries on every underlying where V6 and the broker disagree."""
    if not getattr(engine.broker, "connected", True):
        return  # no word from the broker is not a disagreement: keep the last verdict
    ours = engine.book.net_contracts()
    known = engine.book.contract_keys()
    theirs: dict[str, int] = {}
    for held in engine.broker.positions():
        if not held.quantity:
            continue
        if held.contract_key not in known:
            if held.contract_key not in engine.external:
                engine.external.add(held.contract_key)
                engine.alert(
                    Severity.WARNING,
                    "sync",
                    "external_position",
                    f"{held.contract_key} x{held.quantity} at the broker was not opened "
                    "by V6: reported and left alone",
                    view.time,
                )
            continue
        theirs[held.contract_key] = held.quantity
    mismatched: set[str] = set()
    for key in set(ours) | set(theirs):
        if ours.get(key, 0) != theirs.get(key, 0):
            mismatched.add(key.split(" ", 1)[0])
            log.warning(
                "position mismatch %s: V6 %s broker %s", key, ours.get(key, 0), theirs.get(key, 0)
            )
    for underlying in sorted(mismatched - engine.blocked_underlyings):
        engine.alert(
            Severity.ERROR,
            "sync",
            "position_mismatch",
            f"V6 and the broker disagree on {underlying} positions: entries blocked",
            view.time,
        )
    for underlying in sorted(engine.blocked_underlyings - mismatched):
        engine.alert(
            Severity.INFO,
            "sync",
            "position_reconciled",
            f"{underlying} positions agree again: entries resume",
            view.time,
        )
    engine.blocked_underlyings = mismatched
