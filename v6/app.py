"""Assemble adapters for the configured mode and run a trading session.

This is the only place that knows which adapters exist; the engine is handed ports.
"""

from __future__ import annotations

import logging
import signal
import sys
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from types import FrameType
from typing import TextIO
from zoneinfo import ZoneInfo

import yaml

from v6.config import Mode, TradingConfig
from v6.conversion import unstructure
from v6.engine.cycle import CycleReport, Engine
from v6.engine.recorder import Recorder
from v6.plugin_manager import discover, select
from v6.risk.breaker_log import BreakerResetInbox
from v6.store.delta_store import DeltaStore

log = logging.getLogger(__name__)
NEW_YORK = ZoneInfo("America/New_York")


class StopRequest:
    """Ctrl-C finishes the current cycle, flushes and exits; a second Ctrl-C aborts."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def __enter__(self) -> StopRequest:
        self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGINT, self._previous)

    def _handle(self, _signum: int, _frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nstopping after this cycle (Ctrl-C again to abort)", file=sys.stderr)


class StatusLine:
    """One live line per cycle: rewritten in place on a terminal, appended otherwise."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()

    def show(self, report: CycleReport) -> None:
        regimes = " ".join(f"{s}:{r}" for s, r in sorted(report.regimes.items())) or "-"
        line = (
            f"{report.time.astimezone(NEW_YORK):%Y-%m-%d %H:%M} ET  "
            f"cycle {report.cycle:4d}  regime {regimes}  "
            f"open {report.open_positions:2d}  P&L {report.pnl:+10.2f}  "
            f"orders {report.orders_sent}  fills {report.fills}  alerts {report.alerts}"
        )
        if report.breakers_tripped:
            line += f"  BREAKER {','.join(report.breakers_tripped)}"
        if self.tty:
            self.stream.write("\r" + line.ljust(120))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def done(self) -> None:
        if self.tty:
            self.stream.write("\n")


def build_engine(
    config: TradingConfig, run_id: str, extra_plugins: Iterable[tuple[str, object]] = ()
) -> tuple[Engine, object]:
    """Engine and clock for ``config.mode``.

    ``extra_plugins`` registers plugin objects besides the installed entry points (tests
    use it the way datasette's tests register a plugin for one test).
    """
    discovery = discover(extra=extra_plugins)
    for error in discovery.errors:
        log.warning("%s", error)
    plugins = select(discovery, config.plugins)
    store = DeltaStore(config.store.path)
    recorder = Recorder(store, config.store, run_id)
    if config.mode is not Mode.SIM:
        return _build_ib_engine(config, plugins, store, recorder)
    from v6.brokers.sim import SimBroker
    from v6.market.calendar import ExchangeCalendar
    from v6.market.sim_clock import SimClock
    from v6.market.sim_market import SimMarket

    calendar = ExchangeCalendar()
    clock = SimClock(
        calendar,
        config.sim.start,
        config.sim.days,
        config.cycle.interval_seconds,
        config.sim.speed,
    )
    market = SimMarket(config.sim, list(config.underlyings), calendar)
    broker = SimBroker(config.sim.broker, config.sim.initial_cash, config.sim.seed)
    # `v6 breaker reset NAME` leaves a request in the store; the running engine picks it up.
    inbox = BreakerResetInbox(store)
    engine = Engine(config, plugins, market, broker, recorder, breaker_inbox=inbox)
    continue_ids(engine, store)
    return engine, clock


def continue_ids(engine: Engine, store: DeltaStore) -> None:
    """Position ids and order references are unique per store, not per run: a new sim
    run numbers on after every id earlier runs left (each sim run starts on the same
    simulated dates, so its ids would otherwise repeat theirs)."""
    from v6.engine.recovery import last_counter

    ids = store.read("positions", columns=["position_id"])["position_id"].tolist()
    refs = store.read("orders", columns=["order_ref"])["order_ref"].tolist()
    engine.continue_ids_after(last_counter(ids + refs))


def _build_ib_engine(
    config: TradingConfig, plugins: object, store: DeltaStore, recorder: Recorder
) -> tuple[Engine, object]:
    """Paper or live: one IB connection shared by market data, orders and the clock.

    Connects first and refuses a paper run on a live account (and the reverse) before
    anything else happens; then restores the book from the store and settles every
    order that was in flight when V6 last stopped.
    """
    from v6.brokers.ib.broker import IBBroker
    from v6.brokers.ib.clock import BrokerClock
    from v6.brokers.ib.connection import IBConnectionManager
    from v6.brokers.ib.contracts import IBContracts
    from v6.brokers.ib.market_data import IBMarketData
    from v6.engine.cycle import LIVE
    from v6.engine.recovery import recover
    from v6.market.calendar import ExchangeCalendar

    connection = IBConnectionManager(config.ib)
    connection.connect()
    try:
        connection.check_account_type(live=config.mode is Mode.LIVE)
    except Exception:
        connection.disconnect()
        raise
    calendar = ExchangeCalendar()
    contracts = IBContracts(connection.ib)
    market = IBMarketData(
        connection, contracts, list(config.underlyings), config.ib, config.risk, calendar
    )
    broker = IBBroker(connection, contracts)
    engine = Engine(
        config,
        plugins,  # type: ignore[arg-type]
        market,
        broker,
        recorder,
        breaker_inbox=BreakerResetInbox(store),
    )
    market.held_contracts = lambda: [
        leg.contract for p in engine.book.positions(LIVE) for leg in p.legs
    ]
    clock = BrokerClock(connection, calendar, config.cycle.interval_seconds)
    engine.on_close(connection.disconnect)
    recover(engine, store, clock.now())
    return engine, clock


def run_session(
    config: TradingConfig,
    *,
    cycles: int | None = None,
    live: bool = False,
    verbose: bool = False,
    out: TextIO | None = None,
    extra_plugins: Iterable[tuple[str, object]] = (),
) -> int:
    """Run cycles until the clock ends, ``cycles`` are done, or Ctrl-C; returns 0."""
    del live, verbose  # checked by the CLI before we get here
    out = out or sys.stdout
    run_id = uuid.uuid4().hex[:12]
    engine, clock = build_engine(config, run_id, extra_plugins)

    config_yaml = yaml.safe_dump(unstructure(config), sort_keys=False)
    engine.recorder.run_event(
        datetime.now(UTC), "start", config.mode.value, config_yaml, config.sim.seed
    )
    status = StatusLine(out)
    reports: list[CycleReport] = []
    last_time = None
    try:
        with StopRequest() as stop:
            if hasattr(clock, "should_stop"):  # a wall clock waits: let Ctrl-C end the wait
                clock.should_stop = lambda: stop.requested
            while not stop.requested and (cycles is None or len(reports) < cycles):
                now = clock.next_cycle()
                if now is None:
                    break
                report = engine.run_cycle(now)
                reports.append(report)
                last_time = now
                status.show(report)
            if config.mode is Mode.SIM and config.sim.flatten_at_end and last_time is not None:
                status.show(engine.flatten(last_time))
    finally:
        status.done()
        engine.close()
        engine.recorder.run_event(
            datetime.now(UTC),
            "stop",
            config.mode.value,
            config_yaml,
            config.sim.seed,
            f"{len(reports)} cycles",
        )
    print_summary(engine, reports, config, run_id, out)
    return 0


def print_summary(
    engine: Engine, reports: list[CycleReport], config: TradingConfig, run_id: str, out: TextIO
) -> None:
    """The end-of-session summary a trader reads first."""
    from v6.domain.positions import PositionStatus

    positions = engine.book.positions()
    opened = [p for p in positions if engine.book.was_filled(p.position_id)]
    closed = [p for p in positions if p.status is PositionStatus.CLOSED]
    still_open = [p for p in positions if p.status is not PositionStatus.CLOSED]
    realized = sum(p.realized_pnl for p in closed)
    commissions = sum(p.commissions for p in positions)
    account = engine.last_account
    lines = [
        "",
        f"V6 {config.mode.value} session {run_id}: {len(reports)} cycles",
        f"  positions opened {len(opened)}, closed {len(closed)}, still open {len(still_open)}",
        "  by strategy: "
        + ", ".join(
            f"{s} {sum(1 for p in opened if p.strategy == s)}"
            for s in sorted({p.strategy for p in opened})
        ),
        f"  realized P&L {realized:+.2f} (commissions {commissions:.2f})",
    ]
    if account is not None and engine.initial_net_liquidation is not None:
        lines.append(
            f"  net liquidation {account.net_liquidation:,.2f} "
            f"({account.net_liquidation - engine.initial_net_liquidation:+.2f})"
        )
    lines.append(f"  tables: {config.store.path}/ (run_id {run_id})")
    out.write("\n".join(lines) + "\n")
