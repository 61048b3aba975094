"""Phase 7, entries: strategies propose, a strike selector picks, the entry workflow
checks the portfolio after the trade, and an accepted entry becomes an order.

Every candidate's outcome, accepted or rejected, is stored in ``entries`` with its
reason. What a strategy returns is checked first (:mod:`v6.plugin_results`): an item
that is not a valid ``EntryCandidate``, or one naming another strategy than the one that
proposed it, is that strategy's plugin error (alerted, not stored in ``entries``, where
its strategy column would be a lie); its good candidates go on. A strike selector that
fails or returns a bad selection is its plugin error, and the candidate is stored as
rejected for that reason. A selector that finds nothing may say why (``NoSelection``):
its reason is stored with the rejected candidate. No candidate is accepted on an
underlying the driving regime detector has no current reading for
(:func:`v6.engine.regimes.no_reading_refusal`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from v6.domain.alerts import Severity
from v6.domain.entries import EntryCandidate, NoSelection
from v6.domain.market import MarketView
from v6.domain.orders import OrderStatus
from v6.engine import orders, regimes

if TYPE_CHECKING:
    from v6.engine.cycle import Engine

_FAILED = object()  # what call_plugin returns for a selector that failed


def run(engine: Engine, view: MarketView) -> None:
    """Ask every strategy for candidates and take each through to an order or a refusal."""
    from v6.engine.cycle import LIVE

    live = engine.book.positions(LIVE)
    account = engine.account_now or engine.broker.account(view)
    engine.workflow.start_cycle(engine.risk, live, account, engine.blocked_underlyings)
    tripped = engine.breakers.tripped()
    for strategy in engine.plugins.strategies:
        name = strategy.plugin.name
        own = [p for p in live if p.strategy == name]
        # Checked: only this strategy's own, well-formed candidates come back.
        candidates = engine.call_plugin(
            strategy,
            "v6_propose_entries",
            view.time,
            default=(),
            market=view,
            regimes=dict(engine.regimes),
            regimes_by_detector=engine.regimes_by_detector,
            positions=own,
            underlyings=list(engine.config.underlyings),
        )
        for candidate in candidates:
            consider(engine, candidate, view, tripped)


def consider(
    engine: Engine, candidate: EntryCandidate, view: MarketView, tripped: list[str]
) -> None:
    """One candidate through breakers, slots, strikes and the risk check to an order."""
    recorder = engine.recorder
    chain = view.chains.get(candidate.underlying)
    if candidate.underlying not in engine.config.underlyings or chain is None:
        recorder.entry(view.time, candidate, "rejected", "underlying not configured")
        return
    if tripped:
        recorder.entry(
            view.time, candidate, "rejected", f"circuit breaker tripped: {', '.join(tripped)}"
        )
        return
    refusal = regimes.no_reading_refusal(engine, candidate.underlying)
    if refusal is not None:
        recorder.entry(view.time, candidate, "rejected", refusal)
        return
    refusal = engine.registry.refusal(candidate.strategy, candidate.underlying, view.time)
    if refusal is not None:
        recorder.entry(view.time, candidate, "rejected", refusal)
        return
    selector = engine.plugins.strike_selector
    selection = engine.call_plugin(
        selector,
        "v6_select_strikes",
        view.time,
        default=_FAILED,
        candidate=candidate,
        chain=chain,
        market=view,
        regime=engine.regimes.get(candidate.underlying),
        regimes_by_detector=engine.regimes_by_detector,
    )
    if selection is _FAILED:
        reason = f"strike selector {selector.plugin.name} failed (see its plugin_error alert)"
        recorder.entry(view.time, candidate, "rejected", reason)
        return
    if selection is None:
        recorder.entry(view.time, candidate, "rejected", "no acceptable strikes")
        return
    if isinstance(selection, NoSelection):  # checked: a non-empty reason
        reason = f"no acceptable strikes: {selection.reason}"
        recorder.entry(view.time, candidate, "rejected", reason)
        return
    for warning in selection.warnings:
        engine.alert(Severity.WARNING, selector.plugin.name, "strike_selection", warning, view.time)
    verdict, token = engine.workflow.assess(selection, view)
    if not verdict.accepted:
        recorder.entry(
            view.time,
            candidate,
            "rejected",
            verdict.reason,
            net_price=selection.net_mid,
            max_loss=verdict.max_loss,
        )
        return
    state = orders.open_position(engine, selection, view)
    outcome = "rejected" if state.status is OrderStatus.REJECTED else "accepted"
    recorder.entry(
        view.time,
        candidate,
        outcome,
        state.message or f"{verdict.reason}; {selection.reason}",
        order_ref=state.order_ref,
        net_price=selection.net_mid,
        max_loss=verdict.max_loss,
    )
    if outcome == "accepted":
        engine.workflow.accept(token)
