"""Phase 6, exits: every open position through the exit rules, most urgent first.

Every rule's verdict is stored with the decision; a rule that asks for attention raises
its alert once, when it starts asking, not every cycle it holds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from v6.domain.alerts import Severity
from v6.domain.decisions import (
    DecisionRecord,
    ExitAction,
    ExitDecision,
    RegimeReading,
    RuleVerdict,
)
from v6.domain.market import MarketView
from v6.domain.positions import Position, PositionMark, PositionStatus
from v6.engine import orders
from v6.engine.decision_engine import HOOK
from v6.engine.marks import mark_positions
from v6.engine.tracks import track_row

if TYPE_CHECKING:
    from datetime import datetime

    from v6.engine.cycle import Engine

FLATTEN = ExitDecision(
    action=ExitAction.CLOSE, reason="flatten at end of session", rule="flatten", priority=0
)


def run(engine: Engine, view: MarketView) -> None:
    """Decide on every open position that has no working order and is whole."""
    candidates = [
        p
        for p in engine.book.positions([PositionStatus.OPEN])
        if not engine.book.has_working_order(p.position_id)
        and not engine.book.imbalance(p.position_id)
    ]
    for mark, decision, verdicts in decide_all(engine, candidates, view):
        position = mark.position
        regime = engine.regimes.get(position.underlying)
        record_decision(engine, position, decision, view.time, verdicts, regime, mark)
        rule = decision.rule or "none"
        engine.report.decisions[rule] = engine.report.decisions.get(rule, 0) + 1
        _alert_on_decision(engine, mark, decision, view)
        if decision.action is ExitAction.CLOSE:
            orders.close(engine, position, view, decision)


def flatten(engine: Engine, view: MarketView) -> None:
    """One round of closing everything at the natural price: entries still working are
    cancelled, every open position without a working order gets its closing order."""
    for position in engine.book.positions([PositionStatus.OPENING, PositionStatus.OPEN]):
        orders.cancel_entries(engine, position.position_id, view)
    for position in engine.book.positions([PositionStatus.OPEN]):
        if engine.book.has_working_order(position.position_id):
            continue
        if engine.book.imbalance(position.position_id):
            continue  # legged: the unwind at the end of the round makes it whole first
        record_decision(engine, position, FLATTEN, view.time, ())
        orders.close(engine, position, view, FLATTEN, at_natural=True)


def decide_all(
    engine: Engine, positions: list[Position], view: MarketView
) -> list[tuple[PositionMark, ExitDecision, tuple[RuleVerdict, ...]]]:
    """One decision pass: mark ``positions``, extend their tracks, run every rule.

    Uses this cycle's portfolio risk, account, breakers and market history, so it runs
    after the risk and breaker phases in a cycle.
    """
    marks = mark_positions(positions, view)
    tracks = engine.tracks.record(marks)
    context = {
        "market": view,
        "history": engine.market_history,
        "portfolio": engine.risk,
        "account": engine.account_now,
        "breakers": engine.breakers.statuses(),
        "limits": engine.config.limits,
        "regimes_by_detector": engine.regimes_by_detector,
    }
    if marks:  # every rule is asked about every mark: a cycle without error ends an episode
        for rule in engine.plugins.exit_rules:
            engine.plugin_failures.called(rule.plugin.name, HOOK)
    results = []
    for mark in marks:
        position = mark.position
        decision, verdicts = engine.decisions.decide(
            mark,
            {
                **context,
                "regime": engine.regimes.get(position.underlying),
                "track": tracks[position.position_id],
            },
        )
        results.append((mark, decision, verdicts))
    return results


def _alert_on_decision(
    engine: Engine, mark: PositionMark, decision: ExitDecision, view: MarketView
) -> None:
    """Raise a rule's alert once when it starts asking, not every cycle it holds."""
    pid = mark.position.position_id
    if not decision.alert:
        engine.alerting.pop(pid, None)
        return
    if engine.alerting.get(pid) == decision.rule:
        return
    engine.alerting[pid] = decision.rule
    engine.alert(
        Severity.ERROR if decision.action is ExitAction.CLOSE else Severity.WARNING,
        decision.rule,
        f"exit_{decision.action.value}",
        f"{pid}: {decision.reason}",
        view.time,
    )


def record_decision(
    engine: Engine,
    position: Position,
    decision: ExitDecision,
    now: datetime,
    verdicts: tuple[RuleVerdict, ...],
    regime: RegimeReading | None = None,
    mark: PositionMark | None = None,
) -> None:
    """Store a decision with every verdict and, when marked, the numbers rules saw (the
    trailing stop's track is rebuilt from them after a restart)."""
    numbers = {}
    if mark is not None:
        pnl, fraction, half_spread, spot = track_row(mark)
        numbers = {
            "unrealized_pnl": pnl,
            "pnl_fraction": fraction,
            "half_spread": half_spread,
            "spot": spot,
        }
    engine.recorder.decision(
        DecisionRecord(
            time=now,
            position_id=position.position_id,
            rule=decision.rule or "none",
            priority=decision.priority,
            action=decision.action,
            reason=decision.reason,
            inputs=dict(decision.inputs),
            underlying=position.underlying,
            regime=regime.regime.value if regime is not None else "",
            verdicts=verdicts,
            **numbers,
        )
    )
