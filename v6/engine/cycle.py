"""The engine cycle: one pass of observe → sync → classify → exit → enter → persist.

The engine holds ports (market data, broker, store) and plugins, and does not know
whether it trades a simulation, a replay or Interactive Brokers. Each step is a method
so the order of the cycle is readable in :meth:`Engine.run_cycle` alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import attrs
from attrs import define, field

from v6.config import TradingConfig
from v6.domain.account import AccountSnapshot
from v6.domain.alerts import Alert, Severity
from v6.domain.contracts import Leg
from v6.domain.decisions import (
    DecisionRecord,
    ExitAction,
    ExitDecision,
    RegimeReading,
    RuleVerdict,
)
from v6.domain.market import MarketHistory, MarketView
from v6.domain.orders import BrokerUpdate, ComboOrder, OrderIntent, OrderState, OrderStatus
from v6.domain.positions import Position, PositionMark, PositionStatus
from v6.domain.risk import PortfolioRisk
from v6.engine.book import PositionBook
from v6.engine.decision_engine import DecisionEngine
from v6.engine.entries import EntryWorkflow
from v6.engine.history import HistoryRecorder
from v6.engine.marks import mark_positions
from v6.engine.recorder import Recorder
from v6.engine.tracks import MarkTracker, track_row
from v6.entry.strategy_registry import StrategyRegistry
from v6.execution.combo_executor import ComboExecutor, round_to_tick
from v6.execution.pre_trade import combo_quotes
from v6.market.quality import QualityReport, validate_market
from v6.plugin_manager import ActivePlugin, ActivePlugins, PluginCallError
from v6.ports import Broker, MarketData
from v6.risk.breaker_log import BreakerResetInbox
from v6.risk.circuit_breakers import BreakerEvent, CircuitBreakers, CycleObservation
from v6.risk.portfolio_risk import PortfolioRiskCalculator

log = logging.getLogger(__name__)

LIVE = (PositionStatus.OPENING, PositionStatus.OPEN, PositionStatus.CLOSING)


@define
class CycleReport:
    """What one cycle did, for the status line and for tests."""

    cycle: int
    time: datetime
    regimes: dict[str, str]
    open_positions: int
    net_liquidation: float
    pnl: float
    orders_sent: int = 0
    fills: int = 0
    alerts: int = 0
    rejected_quotes: int = 0
    decisions: dict[str, int] = field(factory=dict)
    breakers_tripped: tuple[str, ...] = ()


def legs_text(legs: tuple[Leg, ...]) -> str:
    """``SPY 20260220 580P x-1, ...`` for logs and alerts."""
    return ", ".join(f"{leg.contract.key} x{leg.ratio}" for leg in legs)


class Engine:
    """Runs cycles against whatever adapters it is given."""

    def __init__(
        self,
        config: TradingConfig,
        plugins: ActivePlugins,
        market: MarketData,
        broker: Broker,
        recorder: Recorder,
        *,
        breaker_inbox: BreakerResetInbox | None = None,
        write_ahead: bool = False,
    ) -> None:
        self.config = config
        self.plugins = plugins
        self.market = market
        self.broker = broker
        self.recorder = recorder
        self.book = PositionBook()
        self.executor = ComboExecutor(broker, config.execution)
        self.history = HistoryRecorder(
            list(market.symbols), max_quote_age=config.cycle.max_quote_age_seconds
        )
        self.risk_calculator = PortfolioRiskCalculator(config.risk)
        self.decisions = DecisionEngine(plugins, self._rule_failed)
        self.workflow = EntryWorkflow(config.limits, self.risk_calculator)
        self.registry = StrategyRegistry(config.slots)
        self.breakers = CircuitBreakers(config.breakers)
        self.breaker_inbox = breaker_inbox
        # With a real broker an order row (status pending) is stored before the order is
        # sent, so a crash between sending and hearing back leaves its reference in the
        # store for recovery to look up. A simulated broker dies with the process.
        self.write_ahead = write_ahead
        self.tracks = MarkTracker()
        self.regimes: dict[str, RegimeReading] = {}
        self.risk: PortfolioRisk = PortfolioRisk.empty(
            datetime.min.replace(tzinfo=UTC), self.risk_calculator.scenarios
        )
        self.market_history: MarketHistory | None = None
        self.blocked_underlyings: set[str] = set()
        self.cycle = 0
        self.initial_net_liquidation: float | None = None
        self.last_account: AccountSnapshot | None = None
        self._sequence = 0
        self._report: CycleReport | None = None
        self._account: AccountSnapshot | None = None
        self._unusable: tuple[str, ...] = ()
        self._rejections = 0
        self._closed_pnls: list[float] = []
        self._closers: list[Callable[[], None]] = []
        self._external: set[str] = set()  # broker contracts V6 never traded, reported
        self._alerting: dict[str, str] = {}  # position -> rule whose alert is standing
        self._failed_rules: set[str] = set()  # rules that raised this cycle (one alert each)

    # -- the cycle ------------------------------------------------------------------

    def run_cycle(self, now: datetime, *, entries_allowed: bool = True) -> CycleReport:
        """Run one full cycle at ``now`` and persist what happened."""
        view = self._begin(now)
        self._reconcile(view)
        self._detect_regimes(view)
        self._measure_risk(view)
        self._check_breakers(view)
        self._exits(view)
        if entries_allowed and view.market_open:
            self._entries(view)
        for state in self.executor.work(view, self.cycle, now):
            self._record_state(state, view)
        self._apply(self.broker.poll(view), view)
        self._unwind_legged(view)
        self._persist(view)
        return self._report

    def flatten(self, now: datetime) -> CycleReport:
        """Close every open position at the natural price (end of a simulation)."""
        view = self._begin(now)
        for position in self.book.positions([PositionStatus.OPEN]):
            if self.book.has_working_order(position.position_id):
                continue
            decision = ExitDecision(
                action=ExitAction.CLOSE,
                reason="flatten at end of session",
                rule="flatten",
                priority=0,
            )
            self._record_decision(position, decision, now, ())
            self._close(position, view, decision, at_natural=True)
        self._apply(self.broker.poll(view), view)
        self._persist(view)
        return self._report

    def on_close(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` when the engine closes (after the final flush)."""
        self._closers.append(callback)

    def close(self) -> None:
        """Flush everything still buffered, then release what the adapters hold."""
        self.recorder.flush()
        for callback in self._closers:
            callback()

    # -- steps ----------------------------------------------------------------------

    def _begin(self, now: datetime) -> MarketView:
        """Start a cycle: a fresh report, the gated market, and what the broker reported."""
        self.cycle += 1
        self._report = CycleReport(
            cycle=self.cycle,
            time=now,
            regimes=dict(self.regime_summary),
            open_positions=0,
            net_liquidation=0.0,
            pnl=0.0,
        )
        self._failed_rules.clear()
        self.registry.begin_cycle()
        view = self._observe(now)
        if self.initial_net_liquidation is None:
            self.initial_net_liquidation = self.broker.account(view).net_liquidation
        self._apply(self.broker.poll(view), view)
        return view

    def _observe(self, now: datetime) -> MarketView:
        raw = self.market.snapshot(now)
        view, reports = validate_market(raw, self.config.cycle.max_quote_age_seconds)
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
        self.recorder.data_quality(now, reports)
        self._unusable = self._unusable_underlyings(view, reports)
        if self.cycle % self.config.store.chain_snapshot_every_cycles == 0:
            self.recorder.chains(view)
        self._report.rejected_quotes = rejected
        return view

    def _apply(self, update: BrokerUpdate, view: MarketView) -> None:
        """Book fills (before states, so a finished order sees its fills) and states."""
        for fill in update.fills:
            attributed = self.book.apply_fill(fill)
            if not attributed:
                self.alert(
                    Severity.WARNING,
                    "book",
                    "unattributed_fill",
                    f"fill {fill.exec_id} ({fill.contract.key} x{fill.quantity}) belongs to no "
                    "V6 order: left alone",
                    view.time,
                )
                self.recorder.fill(fill, position_id="", strategy="")
            for position_id, part in attributed:
                position = self.book.position(position_id)
                self.recorder.fill(part, position_id=position_id, strategy=position.strategy)
                self._report.fills += 1
        for state in update.states:
            self._record_state(state, view)

    def _record_state(self, state: OrderState, view: MarketView) -> None:
        order = self.book.order(state.order_ref)
        if order is None:
            return
        self.recorder.order(order, state)
        self.executor.on_state(state)
        if state.status is OrderStatus.REJECTED:
            self._rejections += 1
            self.alert(
                Severity.WARNING,
                "execution",
                "order_rejected",
                f"order {state.order_ref} rejected: {state.message}",
                view.time,
            )
        if state.status.is_done:
            self.book.order_done(state.order_ref, state.time)

    def _reconcile(self, view: MarketView) -> None:
        """Compare V6's book with the broker; block entries where they disagree.

        A contract V6 has never traded is someone else's position (opened by hand or by
        another program): it is reported once and left alone. A contract V6 does hold in
        a different quantity than the broker is a mismatch: an alert, and no new entries
        on that underlying until the two agree again.
        """
        if not getattr(self.broker, "connected", True):
            return  # no word from the broker is not a disagreement: keep the last verdict
        ours = self.book.net_contracts()
        known = self.book.contract_keys()
        theirs: dict[str, int] = {}
        for held in self.broker.positions():
            if not held.quantity:
                continue
            if held.contract_key not in known:
                if held.contract_key not in self._external:
                    self._external.add(held.contract_key)
                    self.alert(
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
                    "position mismatch %s: V6 %s broker %s",
                    key,
                    ours.get(key, 0),
                    theirs.get(key, 0),
                )
        for underlying in sorted(mismatched - self.blocked_underlyings):
            self.alert(
                Severity.ERROR,
                "sync",
                "position_mismatch",
                f"V6 and the broker disagree on {underlying} positions: entries blocked",
                view.time,
            )
        for underlying in sorted(self.blocked_underlyings - mismatched):
            self.alert(
                Severity.INFO,
                "sync",
                "position_reconciled",
                f"{underlying} positions agree again: entries resume",
                view.time,
            )
        self.blocked_underlyings = mismatched

    def _detect_regimes(self, view: MarketView) -> None:
        history = self.history.record(view)
        self.market_history = history
        regime = self.plugins.regime
        readings = self._call(
            regime,
            "v6_detect_regime",
            view.time,
            market=view,
            history=history,
            previous=dict(self.regimes),
        )
        if readings:
            self.regimes = dict(readings)
            self.recorder.regimes(view.time, self.regimes.values())
        self._report.regimes = {s: r.regime.value for s, r in self.regimes.items()}

    def _measure_risk(self, view: MarketView) -> None:
        """The whole book's Greeks and stress P&L, once per cycle, for rules and entries."""
        self.risk = self.risk_calculator.compute(self._at_risk(), view)
        self._account = self.broker.account(view)

    def _at_risk(self) -> list[Position]:
        """Live positions sized as the risk they may become: an entry still working
        counts its whole order quantity, not only what has filled so far."""
        out = []
        for position in self.book.positions(LIVE):
            pending = self.book.working_open_quantity(position.position_id)
            if pending > position.quantity:
                per_unit = position.max_loss / max(position.quantity, 1)
                position = attrs.evolve(position, quantity=pending, max_loss=per_unit * pending)
            out.append(position)
        return out

    def _check_breakers(self, view: MarketView) -> None:
        """Apply reset requests, feed the breakers this cycle's facts, store what changed."""
        account = self._account or self.broker.account(view)
        events: list[BreakerEvent] = []
        if self.breaker_inbox is not None:
            for request in self.breaker_inbox.take():
                event = self.breakers.reset(
                    request.breaker, view.time, net_liquidation=account.net_liquidation
                )
                if event is not None:
                    events.append(event)
        events += self.breakers.observe(
            CycleObservation(
                time=view.time,
                net_liquidation=account.net_liquidation,
                broker_connected=bool(getattr(self.broker, "connected", True)),
                unusable_underlyings=self._unusable,
                rejections=self._rejections,
                closed_pnls=tuple(self._closed_pnls),
            )
        )
        self._rejections = 0
        self._closed_pnls.clear()
        for event in events:
            tripped = event.event == "trip"
            self.alert(
                Severity.CRITICAL if tripped else Severity.INFO,
                "breakers",
                f"breaker_{event.event}",
                f"circuit breaker {event.breaker} "
                f"{'tripped' if tripped else 'reset'} ({event.source}): {event.reason}",
                view.time,
            )
            self.recorder.breaker_event(event)
        self._report.breakers_tripped = tuple(self.breakers.tripped())

    def _exits(self, view: MarketView) -> None:
        candidates = [
            p
            for p in self.book.positions([PositionStatus.OPEN])
            if not self.book.has_working_order(p.position_id)
            and not self.book.imbalance(p.position_id)
        ]
        for mark, decision, verdicts in self.decide_all(candidates, view):
            position = mark.position
            regime = self.regimes.get(position.underlying)
            self._record_decision(position, decision, view.time, verdicts, regime, mark)
            self._report.decisions[decision.rule or "none"] = (
                self._report.decisions.get(decision.rule or "none", 0) + 1
            )
            self._alert_on_decision(mark, decision, view)
            if decision.action is ExitAction.CLOSE:
                self._close(position, view, decision)

    def decide_all(
        self, positions: list[Position], view: MarketView
    ) -> list[tuple[PositionMark, ExitDecision, tuple[RuleVerdict, ...]]]:
        """One decision pass: mark ``positions``, extend their tracks, run every rule.

        Uses this cycle's portfolio risk, account, breakers and market history, so it runs
        after :meth:`_measure_risk` and :meth:`_check_breakers` in a cycle.
        """
        marks = mark_positions(positions, view)
        tracks = self.tracks.record(marks)
        context = {
            "market": view,
            "history": self.market_history,
            "portfolio": self.risk,
            "account": self._account,
            "breakers": self.breakers.statuses(),
            "limits": self.config.limits,
        }
        results = []
        for mark in marks:
            position = mark.position
            decision, verdicts = self.decisions.decide(
                mark,
                {
                    **context,
                    "regime": self.regimes.get(position.underlying),
                    "track": tracks[position.position_id],
                },
            )
            results.append((mark, decision, verdicts))
        return results

    def _alert_on_decision(
        self, mark: PositionMark, decision: ExitDecision, view: MarketView
    ) -> None:
        """Raise a rule's alert once when it starts asking, not every cycle it holds."""
        pid = mark.position.position_id
        if not decision.alert:
            self._alerting.pop(pid, None)
            return
        if self._alerting.get(pid) == decision.rule:
            return
        self._alerting[pid] = decision.rule
        self.alert(
            Severity.ERROR if decision.action is ExitAction.CLOSE else Severity.WARNING,
            decision.rule,
            f"exit_{decision.action.value}",
            f"{pid}: {decision.reason}",
            view.time,
        )

    def _rule_failed(self, active: ActivePlugin, error: BaseException) -> None:
        """An exit rule raised: log it with its traceback and alert once per cycle."""
        name = active.plugin.name
        if name in self._failed_rules:
            return
        self._failed_rules.add(name)
        log.error("exit rule %s failed: %r", name, error, exc_info=error)
        self.alert(
            Severity.ERROR,
            name,
            "plugin_error",
            f"v6_evaluate_exit raised {type(error).__name__}: {error}",
            self._report.time,
        )

    def _entries(self, view: MarketView) -> None:
        live = self.book.positions(LIVE)
        account = self._account or self.broker.account(view)
        self.workflow.start_cycle(self.risk, live, account, self.blocked_underlyings)
        tripped = self.breakers.tripped()
        for strategy in self.plugins.strategies:
            name = strategy.plugin.name
            own = [p for p in live if p.strategy == name]
            candidates = (
                self._call(
                    strategy,
                    "v6_propose_entries",
                    view.time,
                    market=view,
                    regimes=dict(self.regimes),
                    positions=own,
                    underlyings=list(self.config.underlyings),
                )
                or []
            )
            for candidate in candidates:
                self._consider(candidate, view, tripped)

    def _consider(self, candidate: Any, view: MarketView, tripped: list[str]) -> None:
        """One candidate through breakers, slots, strikes and the risk check to an order."""
        chain = view.chains.get(candidate.underlying)
        if candidate.underlying not in self.config.underlyings or chain is None:
            self.recorder.entry(view.time, candidate, "rejected", "underlying not configured")
            return
        if tripped:
            self.recorder.entry(
                view.time, candidate, "rejected", f"circuit breaker tripped: {', '.join(tripped)}"
            )
            return
        refusal = self.registry.refusal(candidate.strategy, candidate.underlying, view.time)
        if refusal is not None:
            self.recorder.entry(view.time, candidate, "rejected", refusal)
            return
        selection = self._call(
            self.plugins.strike_selector,
            "v6_select_strikes",
            view.time,
            candidate=candidate,
            chain=chain,
        )
        if selection is None:
            self.recorder.entry(view.time, candidate, "rejected", "no acceptable strikes")
            return
        for warning in selection.warnings:
            self.alert(
                Severity.WARNING,
                self.plugins.strike_selector.plugin.name,
                "strike_selection",
                warning,
                view.time,
            )
        verdict, token = self.workflow.assess(selection, view)
        if not verdict.accepted:
            self.recorder.entry(
                view.time,
                candidate,
                "rejected",
                verdict.reason,
                net_price=selection.net_mid,
                max_loss=verdict.max_loss,
            )
            return
        state = self._open(selection, view)
        outcome = "rejected" if state.status is OrderStatus.REJECTED else "accepted"
        self.recorder.entry(
            view.time,
            candidate,
            outcome,
            state.message or f"{verdict.reason}; {selection.reason}",
            order_ref=state.order_ref,
            net_price=selection.net_mid,
            max_loss=verdict.max_loss,
        )
        if outcome == "accepted":
            self.workflow.accept(token)

    # -- orders ---------------------------------------------------------------------

    def continue_ids_after(self, sequence: int) -> None:
        """New position and order ids continue after ``sequence`` (after a restart)."""
        self._sequence = max(self._sequence, sequence)

    def _next_id(self, strategy: str, underlying: str, now: datetime) -> str:
        self._sequence += 1
        return f"{strategy}-{underlying}-{now:%Y%m%dT%H%M}-{self._sequence:04d}"

    def _open(self, selection: Any, view: MarketView) -> OrderState:
        candidate = selection.candidate
        position_id = self._next_id(candidate.strategy, candidate.underlying, view.time)
        regime = self.regimes.get(candidate.underlying)
        self.book.open_position(
            position_id,
            candidate.strategy,
            candidate.underlying,
            candidate.structure,
            selection.legs,
            view.time,
            entry_regime=regime.regime.value if regime is not None else "",
            slot=self.registry.assign(candidate.strategy, candidate.underlying, position_id),
        )
        order = ComboOrder(
            order_ref=f"{position_id}:open",
            position_id=position_id,
            strategy=candidate.strategy,
            underlying=candidate.underlying,
            intent=OrderIntent.OPEN,
            legs=selection.legs,
            quantity=candidate.quantity,
            limit_price=round_to_tick(selection.net_mid, self.config.execution.tick_size, up=True),
            created_at=view.time,
        )
        return self._send(order, view)

    def _close(
        self,
        position: Position,
        view: MarketView,
        decision: ExitDecision,
        *,
        at_natural: bool = False,
    ) -> OrderState | None:
        quantity = self.book.quantity(position.position_id)
        if quantity <= 0:
            return None
        legs = tuple(Leg(contract=leg.contract, ratio=-leg.ratio) for leg in position.legs)
        self._sequence += 1
        order = ComboOrder(
            order_ref=f"{position.position_id}:close:{self._sequence:04d}",
            position_id=position.position_id,
            strategy=position.strategy,
            underlying=position.underlying,
            intent=OrderIntent.CLOSE,
            legs=legs,
            quantity=quantity,
            limit_price=0.0,
            created_at=view.time,
        )
        quotes = combo_quotes(order, view)
        if quotes is None:
            self.alert(
                Severity.ERROR,
                "execution",
                "close_impossible",
                f"cannot price close of {position.position_id}: contract missing",
                view.time,
            )
            return None
        price = quotes[1] if at_natural else self.executor.initial_limit(order, view)
        order = order.with_limit(round_to_tick(price, self.config.execution.tick_size, up=True))
        log.info("closing %s (%s): %s", position.position_id, decision.rule, decision.reason)
        self.book.note_exit(position.position_id, decision.rule)
        return self._send(order, view)

    def _unwind_legged(self, view: MarketView) -> None:
        """Trade away any leg imbalance left after an order ended (never leave a naked short)."""
        for position in self.book.positions(LIVE):
            pid = position.position_id
            if self.book.has_working_order(pid):
                continue
            fixes = self.book.imbalance(pid)
            if not fixes:
                continue
            self.alert(
                Severity.ERROR,
                "execution",
                "legged_position",
                f"{pid} is legged: unwinding {legs_text(fixes)}",
                view.time,
            )
            self._sequence += 1
            order = ComboOrder(
                order_ref=f"{pid}:unwind:{self._sequence:04d}",
                position_id=pid,
                strategy=position.strategy,
                underlying=position.underlying,
                intent=OrderIntent.UNWIND,
                legs=fixes,
                quantity=1,
                limit_price=0.0,
                created_at=view.time,
            )
            price = self.executor.initial_limit(order, view)
            if price is None:
                continue
            self.book.note_exit(pid, "unwind", keep_existing=True)
            self._send(order.with_limit(price), view)

    def _send(self, order: ComboOrder, view: MarketView) -> OrderState:
        self.book.track_order(order)
        if self.write_ahead:
            self.recorder.order(
                order,
                OrderState(
                    order_ref=order.order_ref,
                    status=OrderStatus.PENDING,
                    filled_quantity=0,
                    remaining_quantity=order.quantity,
                    avg_fill_price=None,
                    time=view.time,
                    limit_price=order.limit_price,
                    message="about to send",
                ),
            )
            self.recorder.position(self.book.position(order.position_id), view.time)
            self.recorder.flush_orders()
        state = self.executor.submit(order, view, self.cycle)
        self._report.orders_sent += 1
        self._record_state(state, view)
        self.recorder.flush_orders()
        return state

    # -- plugins, alerts, persistence -------------------------------------------------

    def _call(self, active: ActivePlugin, hook: str, now: datetime, **kwargs: Any) -> Any:
        """Call one plugin; a plugin that raises is isolated and reported, never fatal."""
        try:
            return self.plugins.call(active, hook, **kwargs)
        except PluginCallError as exc:
            log.error(
                "plugin %s failed in %s: %r",
                active.plugin.name,
                hook,
                exc.original,
                exc_info=exc.original,
            )
            self.alert(
                Severity.ERROR,
                active.plugin.name,
                "plugin_error",
                f"{hook} raised {type(exc.original).__name__}: {exc.original}",
                now,
            )
            return None

    def alert(
        self, severity: Severity, source: str, code: str, message: str, time: datetime
    ) -> None:
        """Log and store an alert."""
        level = logging.WARNING if severity in (Severity.INFO, Severity.WARNING) else logging.ERROR
        log.log(level, "[%s] %s: %s", source, code, message)
        self.recorder.alert(
            Alert(time=time, severity=severity, source=source, code=code, message=message)
        )
        if self._report is not None:
            self._report.alerts += 1

    def _record_decision(
        self,
        position: Position,
        decision: ExitDecision,
        now: datetime,
        verdicts: tuple[RuleVerdict, ...],
        regime: RegimeReading | None = None,
        mark: PositionMark | None = None,
    ) -> None:
        numbers = {}
        if mark is not None:
            pnl, fraction, half_spread, spot = track_row(mark)
            numbers = {
                "unrealized_pnl": pnl,
                "pnl_fraction": fraction,
                "half_spread": half_spread,
                "spot": spot,
            }
        self.recorder.decision(
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

    def _unusable_underlyings(
        self, view: MarketView, reports: list[QualityReport]
    ) -> tuple[str, ...]:
        """Underlyings whose data this cycle is not fit to trade on (for stale_data)."""
        share = self.config.breakers.max_rejected_quote_share
        seen = {r.underlying for r in reports}
        bad = {
            r.underlying
            for r in reports
            if r.total == 0 or "bad_underlying" in r.rejected or r.rejected_total > share * r.total
        }
        bad |= {u for u in self.config.underlyings if u not in seen and u not in view.chains}
        return tuple(sorted(bad))

    def _persist(self, view: MarketView) -> None:
        for position_id in self.book.drain_changed():
            position = self.book.position(position_id)
            self.recorder.position(position, view.time)
            if position.status is PositionStatus.CLOSED and self.registry.slot_of(position_id):
                self.registry.release(position, view.time)
                self.tracks.forget(position_id)
                self._alerting.pop(position_id, None)
                if self.book.was_filled(position_id):
                    self._closed_pnls.append(position.realized_pnl)
        account = self.broker.account(view)
        self.last_account = account
        self.recorder.account(account, self.cycle)
        self._report.open_positions = len(self.book.positions(LIVE))
        self._report.net_liquidation = account.net_liquidation
        self._report.pnl = account.net_liquidation - (self.initial_net_liquidation or 0.0)
        self.recorder.end_cycle(self.cycle)

    @property
    def regime_summary(self) -> Mapping[str, str]:
        return {s: r.regime.value for s, r in self.regimes.items()}
