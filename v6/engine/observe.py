"""Phase 1, observe: the gated market and what the broker reported since last cycle.

Bad quotes are rejected here, before any plugin sees them, and the rejections (and the
quotes whose impossible Greeks V6 re-derived) are stored; an underlying whose data is
unfit this cycle is remembered for the stale-data breaker.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from v6.domain.market import MarketView
from v6.engine import futures, orders
from v6.market.quality import QualityReport, validate_market

if TYPE_CHECKING:
    from v6.engine.cycle import Engine

log = logging.getLogger(__name__)


def begin(engine: Engine, now: datetime) -> MarketView:
    """Start a cycle: a fresh report, the gated market, and what the broker reported."""
    engine.start_report(now)
    engine.registry.begin_cycle()
    view = observe(engine, now)
    if engine.initial_net_liquidation is None:
        engine.initial_net_liquidation = engine.broker.account(view).net_liquidation
    orders.apply(engine, engine.broker.poll(view), view)
    return view


def observe(engine: Engine, now: datetime) -> MarketView:
    """The market at ``now`` with every bad quote rejected (or its impossible Greeks
    re-derived), logged and stored."""
    raw = engine.market.snapshot(now)
    view, reports = validate_market(
        raw, engine.config.cycle.max_quote_age_seconds, engine.config.risk.risk_free_rate
    )
    rejected = 0
    for report in reports:
        if report.rejected:
            rejected += report.rejected_total
            log.warning(
                "%s: rejected %d of %d quotes %s",
                report.underlying,
                report.rejected_total,
                report.total,
                dict(report.rejected),
            )
        if report.repaired:
            # Sound quotes with impossible broker Greeks, re-priced by V6: still tradable.
            log.info(
                "%s: re-derived the Greeks of %d of %d quotes %s",
                report.underlying,
                sum(report.repaired.values()),
                report.total,
                dict(report.repaired),
            )
    engine.recorder.data_quality(now, reports)
    view = futures.attach(engine, view)
    engine.unusable = unusable_underlyings(engine, view, reports)
    if engine.cycle % engine.config.store.chain_snapshot_every_cycles == 0:
        engine.recorder.chains(view)
    engine.report.rejected_quotes = rejected
    return view


def unusable_underlyings(
    engine: Engine, view: MarketView, reports: list[QualityReport]
) -> tuple[str, ...]:
    """Underlyings whose data this cycle is not fit to trade on (for stale_data)."""
    share = engine.config.breakers.max_rejected_quote_share
    seen = {r.underlying for r in reports}
    bad = {
        r.underlying
        for r in reports
        if r.total == 0 or "bad_underlying" in r.rejected or r.rejected_total > share * r.total
    }
    bad |= {u for u in engine.config.underlyings if u not in seen and u not in view.chains}
    return tuple(sorted(bad))
