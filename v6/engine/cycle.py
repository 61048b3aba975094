"""The engine cycle: observe → reconcile → regimes → risk → breakers → exits → entries →
persist.

The engine holds ports (market data, broker, store) and plugins, and does not know
whether it trades a simulation, a replay or Interactive Brokers. Each phase of a cycle
lives in a module of its own (the way pytest keeps each phase of a run in its own
module), so :meth:`Engine.run_cycle` reads as the list of phases and nothing else. The
engine itself keeps the state the phases share and the services every phase uses:
calling a plugin in isolation (its result checked against its spec, its failures
reported once and then counted, see :mod:`v6.engine.plugin_failures`) and raising an
alert.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from attrs import define, field

from v6.config import TradingConfig
from v6.domain.account import AccountSnapshot
from v6.domain.alerts import Alert, Severity
from v6.domain.decisions import RegimeReading, RuleVerdict
from v6.domain.market import MarketHistory, MarketView
from v6.domain.positions import Position, PositionMark, PositionStatus
from v6.domain.risk import PortfolioRisk
from v6.engine import breakers, entries, exits, observe, orders, persist, reconcile, regimes, risk
from v6.engine.book import PositionBook
from v6.engine.decision_engine import HOOK, DecisionEngine
from v6.engine.history import HistoryRecorder
from v6.engine.plugin_failures import PluginFailures
from v6.engine.predictions import PredictionLedger
from v6.engine.recorder import Recorder
from v6.engine.tracks import MarkTracker
from v6.entry.strategy_registry import StrategyRegistry
from v6.entry.workflow import EntryWorkflow
from v6.execution.combo_executor import ComboExecutor
from v6.futures.observer import FuturesObserver
from v6.plugin_manager import ActivePlugin, ActivePlugins, PluginCallError
from v6.ports import Broker, MarketData
from v6.risk.breaker_log import BreakerResetInbox
from v6.risk.circuit_breakers import CircuitBreakers
from v6.risk.manual_halt import ManualCommandInbox
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
    still_open: tuple[str, ...] = ()  # live positions a flatten could not close


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
        futures: FuturesObserver | None = None,
        command_inbox: ManualCommandInbox | None = None,
    ) -> None:
        self.config = config
        self.plugins = plugins
        self.market = market
        self.broker = broker
        self.recorder = recorder
        self.futures = futures  # index futures read each cycle (None: not configured)
        self.book = PositionBook()
        self.executor = ComboExecutor(broker, config.execution)
        self.history = HistoryRecorder(
            list(market.symbols), max_quote_age=config.cycle.max_quote_age_seconds
        )
        self.risk_calculator = PortfolioRiskCalculator(config.risk)
        self.plugin_failures = PluginFailures(self.alert)
        self.decisions = DecisionEngine(plugins, self._rule_failed)
        self.workflow = EntryWorkflow(config.limits, self.risk_calculator)
        self.registry = StrategyRegistry(config.slots)
        self.breakers = CircuitBreakers(config.breakers)
        self.breaker_inbox = breaker_inbox
        self.command_inbox = command_inbox
        self.tracks = MarkTracker()
        self.predictions = PredictionLedger()  # every position's prediction, to grade at close
        # The driving detector's readings by underlying, and every detector's by name.
        self.regimes: dict[str, RegimeReading] = {}
        self.regimes_by_detector: Mapping[str, Mapping[str, RegimeReading]] = MappingProxyType({})
        self.regime_failing: dict[str, regimes.Failing] = {}  # detectors failing every cycle
        self.risk: PortfolioRisk = PortfolioRisk.empty(
            datetime.min.replace(tzinfo=UTC), self.risk_calculator.scenarios
        )
        self.market_history: MarketHistory | None = None
        self.blocked_underlyings: set[str] = set()
        self.cycle = 0
        self.initial_net_liquidation: float | None = None
        self.last_account: AccountSnapshot | None = None
        # State the phases of one cycle share.
        self.report: CycleReport | None = None
        self.account_now: AccountSnapshot | None = None  # this cycle's, once measured
        self.unusable: tuple[str, ...] = ()  # underlyings whose data is unfit this cycle
        self.rejections = 0  # order rejections since the breakers last looked
        self.closed_pnls: list[float] = []  # losses and gains since the breakers last looked
        self.external: set[str] = set()  # broker contracts V6 never traded, reported
        self.alerting: dict[str, str] = {}  # position -> rule whose alert is standing
        self.blocked_entries_alerted: set[str] = set()  # entries cancelled under a breaker
        self.cycle_started = time.monotonic()  # wall clock at the start of this cycle
        self.heartbeat_flushed = float("-inf")  # wall clock of the last heartbeat commit
        self.last_heartbeat: dict[str, object] | None = None  # repeated while waiting
        self._sequence = 0
        self._closers: list[Callable[[], None]] = []

    # -- the cycle ------------------------------------------------------------------

    def run_cycle(self, now: datetime, *, entries_allowed: bool = True) -> CycleReport:
        """Run one full cycle at ``now`` and persist what happened."""
        view = observe.begin(self, now)
        reconcile.run(self, view)
        regimes.run(self, view)
        risk.run(self, view)
        breakers.run(self, view)
        exits.run(self, view)
        if entries_allowed and view.market_open:
            entries.run(self, view)
        orders.work(self, view)
        persist.run(self, view)
        return self.report

    def flatten(self, now: datetime, *, max_rounds: int = 50) -> CycleReport:
        """Close every live position at the natural price (the end of a simulation).

        Works round after round at ``now`` until nothing is live: entries still working
        are cancelled, partial closes are worked to their timeout and closed again, legged
        remainders unwound. What is still live after ``max_rounds`` is alerted (CRITICAL)
        and returned in the report's ``still_open``, never silently left behind.
        """
        report = self.report
        for _ in range(max_rounds):
            view = observe.begin(self, now)
            exits.flatten(self, view)
            orders.work(self, view)
            persist.run(self, view)
            report = self.report
            if not self.book.positions(LIVE):
                return report
        left = [p.position_id for p in self.book.positions(LIVE)]
        report.still_open = tuple(left)
        self.alert(
            Severity.CRITICAL,
            "flatten",
            "flatten_incomplete",
            f"{len(left)} positions still live after {max_rounds} flatten rounds: "
            + ", ".join(left),
            now,
        )
        self.recorder.flush()
        return report

    def on_close(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` when the engine closes (after the final flush)."""
        self._closers.append(callback)

    def close(self) -> None:
        """Flush everything still buffered, then release what the adapters hold (even if
        the flush failed: the IB connection is closed either way). Plugin failures not
        reported yet are stored first."""
        try:
            if self.report is not None:
                self.plugin_failures.close(self.report.time)
            self.recorder.close()  # every buffered row, then maintenance stopped and joined
        finally:
            for callback in self._closers:
                callback()

    # -- ids ------------------------------------------------------------------------

    def continue_ids_after(self, sequence: int) -> None:
        """New position and order ids continue after ``sequence`` (after a restart)."""
        self._sequence = max(self._sequence, sequence)

    def next_sequence(self) -> int:
        """The next number for a position id or an order reference."""
        self._sequence += 1
        return self._sequence

    # -- services every phase uses ----------------------------------------------------

    def call_plugin(
        self, active: ActivePlugin, hook: str, now: datetime, *, default: Any = None, **kwargs: Any
    ) -> Any:
        """Call one plugin and return its checked result; never fatal.

        A plugin that raises, or returns what its hook's spec does not allow, is isolated
        and reported (see :mod:`v6.engine.plugin_failures`); the call then returns the
        usable part of a bad result (the good candidates of a list), else ``default``.
        """
        self.plugin_failures.called(active.plugin.name, hook)
        try:
            return self.plugins.call(active, hook, **kwargs)
        except PluginCallError as exc:
            self.plugin_failures.failed(active.plugin.name, hook, exc.original, now)
            return exc.kept if exc.kept is not None else default

    def alert(
        self,
        severity: Severity,
        source: str,
        code: str,
        message: str,
        time: datetime,
        *,
        exc_info: BaseException | None = None,
    ) -> None:
        """Log and store an alert (``exc_info``: an exception whose traceback to log)."""
        level = logging.WARNING if severity in (Severity.INFO, Severity.WARNING) else logging.ERROR
        log.log(level, "[%s] %s: %s", source, code, message, exc_info=exc_info)
        self.recorder.alert(
            Alert(time=time, severity=severity, source=source, code=code, message=message)
        )
        if self.report is not None:
            self.report.alerts += 1

    def start_report(self, now: datetime) -> CycleReport:
        """A fresh report for the cycle starting at ``now``."""
        self.cycle += 1
        self.cycle_started = time.monotonic()
        self.report = CycleReport(
            cycle=self.cycle,
            time=now,
            regimes=dict(self.regime_summary),
            open_positions=0,
            net_liquidation=0.0,
            pnl=0.0,
        )
        return self.report

    def _rule_failed(self, active: ActivePlugin, error: BaseException) -> None:
        """An exit rule raised or returned a bad result: one failure of its episode."""
        self.plugin_failures.failed(active.plugin.name, HOOK, error, self.report.time)

    def decide_all(
        self, positions: list[Position], view: MarketView
    ) -> list[tuple[PositionMark, Any, tuple[RuleVerdict, ...]]]:
        """One decision pass over ``positions`` (see :func:`v6.engine.exits.decide_all`)."""
        return exits.decide_all(self, positions, view)

    @property
    def regime_summary(self) -> Mapping[str, str]:
        return {s: r.regime.value for s, r in self.regimes.items()}
