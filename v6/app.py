"""Assemble adapters for the configured mode and run a trading session.

This is the only place that knows which adapters exist; the engine is handed ports.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, TextIO
from zoneinfo import ZoneInfo

import attrs
import yaml

from v6.config import Mode, StoreSettings, TradingConfig
from v6.conversion import unstructure
from v6.engine import heartbeat
from v6.engine.cycle import CycleReport, Engine
from v6.engine.recorder import Recorder
from v6.ops.notify import attach as attach_notifier
from v6.ops.sd_notify import SystemdNotifier
from v6.ops.secrets import masked_config, notify_urls
from v6.plugin_manager import discover, select
from v6.risk.breaker_log import BreakerResetInbox
from v6.risk.manual_halt import ManualCommandInbox
from v6.store.delta_store import DeltaStore
from v6.store.integrity import check_store_path
from v6.store.run_log import mark_crashed_runs
from v6.store.writer_lock import WriterLock

log = logging.getLogger(__name__)
NEW_YORK = ZoneInfo("America/New_York")


STOP_SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)
"""Ctrl-C, ``systemctl stop`` / ``kill`` and a closed terminal all stop a session in order."""


class SessionAborted(BaseException):
    """A second stop signal while cycling: the cycle in progress is abandoned.

    A BaseException, so no plugin isolation (``except Exception``) swallows it. The session
    still closes in order: buffered rows are flushed and the stop record written.
    """


class StopRequest:
    """SIGINT, SIGTERM and SIGHUP end a session in order, whenever they arrive.

    - The first signal asks for a stop: the current cycle finishes, then the session
      closes (flatten in sim, final flush, stop record) and exits 0.
    - A second signal while cycling aborts the cycle in progress (``SessionAborted``), for
      a cycle stuck waiting on the network; the session still closes in order. Inside
      :meth:`shield` (a store commit) the abort waits until the commit is done, so a
      committed batch is never left in the buffer to be written twice.
    - Any signal once closing has begun is only acknowledged: the final flush and the
      stop record are always written.

    On exit the previous handlers come back, or with ``then_ignore`` the signals stay
    ignored: for a process that only exits after the session, so a late signal cannot
    turn a finished session into a kill (exit -15) or an interrupt (exit 130).
    """

    def __init__(self, *, then_ignore: bool = False) -> None:
        self.then_ignore = then_ignore
        self.requested = False
        self.reason = ""  # the first signal's name
        self.aborted_by = ""  # the name of the signal that aborted a cycle
        self._cycling = False
        self._closing = False
        self._told_closing = False
        self._shields = 0
        self._abort_pending = ""  # the name of a signal whose abort waits for a commit
        self._previous: dict[signal.Signals, object] = {}

    def __enter__(self) -> StopRequest:
        for signum in STOP_SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self._previous.items():
            restored = signal.SIG_IGN if self.then_ignore else previous
            signal.signal(signum, restored)  # type: ignore[arg-type]
        self._previous.clear()

    # -- phases -----------------------------------------------------------------------

    def cycling(self) -> None:
        """From here a second signal aborts the cycle in progress."""
        self._cycling = True

    def done_cycling(self) -> None:
        """From here no signal raises (call inside the try that catches SessionAborted)."""
        self._cycling = False
        self._abort_pending = ""

    def closing(self) -> None:
        """The session is flushing and recording its stop: signals are only acknowledged."""
        self.done_cycling()
        self._closing = True

    def shield(self) -> _Shield:
        """A block (a store commit) that a second signal never interrupts halfway."""
        return _Shield(self)

    # -- the handler ------------------------------------------------------------------

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        again = "Ctrl-C" if signum == signal.SIGINT else name
        if self._closing:
            if not self._told_closing:  # once: a storm of signals is not a storm of lines
                self._told_closing = True
                _say(f"{name}: already stopping; writing the tables and the stop record first")
            return
        if not self.requested:
            self.requested = True
            self.reason = name
            _say(f"\n{name}: stopping after this cycle ({again} again to abort the cycle)")
            return
        if not self._cycling or self._abort_pending:
            _say(f"{name}: already stopping")
            return
        if self._shields:
            self._abort_pending = name  # raised when the commit in progress is done
            return
        self._abort(name)

    def _abort(self, name: str) -> None:
        self.done_cycling()
        self.aborted_by = name
        _say(f"{name}: aborting the cycle; writing the tables and the stop record")
        raise SessionAborted(name)

    def describe(self) -> str:
        """How the signals ended the session, for the stop record ("" if none came)."""
        if not self.requested:
            return ""
        text = f"stopped by {self.reason}"
        if self.aborted_by:
            text += f", the cycle in progress aborted by a second {self.aborted_by}"
        return text

    def _leave_shield(self) -> None:
        self._shields -= 1
        if not self._shields and self._abort_pending and self._cycling:
            self._abort(self._abort_pending)


class _Shield:
    """Context manager of :meth:`StopRequest.shield`."""

    def __init__(self, stop: StopRequest) -> None:
        self.stop = stop

    def __enter__(self) -> None:
        self.stop._shields += 1

    def __exit__(self, *exc: object) -> None:
        self.stop._leave_shield()


def _say(text: str) -> None:
    """A message to stderr that never raises (stderr may be a closed terminal)."""
    with contextlib.suppress(OSError, ValueError, RuntimeError):
        print(text, file=sys.stderr, flush=True)


class ShieldedStore(DeltaStore):
    """A DeltaStore whose commits a stop signal never interrupts halfway.

    An exception raised between a Delta commit and the store's bookkeeping would leave the
    committed rows buffered, to be written a second time by the final flush.
    """

    def __init__(self, root: str | Path, stop: StopRequest) -> None:
        super().__init__(root)
        self._stop = stop

    def flush(self, *args: Any, **kwargs: Any) -> dict[str, int]:
        # Only the engine's thread is shielded: signals are handled there, and a deferred
        # abort must be raised there. Maintenance (compaction, vacuum) runs on its own
        # thread, buffers nothing and commits atomically, so it needs no shield.
        if threading.current_thread() is not threading.main_thread():
            return super().flush(*args, **kwargs)
        with self._stop.shield():
            return super().flush(*args, **kwargs)


class Console:
    """The session's standard output, which may go away at any moment.

    A closed pipe (``v6 run | head -1``), a full device or a lost terminal must never stop
    the engine: the first failed write is logged once, and later output is dropped. If the
    stream is the process's stdout, its descriptor is pointed at /dev/null so Python's own
    flush at exit does not fail again ("Exception ignored ... BrokenPipeError").
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.lost = False
        try:
            self.tty = stream.isatty()
        except (OSError, ValueError):
            self.tty = False

    def write(self, text: str) -> None:
        """Write and flush ``text``; never raises."""
        if self.lost:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError) as exc:
            self.lost = True
            log.warning(
                "standard output failed (%s): no more status lines or summary; "
                "the session goes on and its tables are written as usual",
                exc,
            )
            self._silence()

    def _silence(self) -> None:
        if self.stream is not sys.stdout and self.stream is not sys.__stdout__:
            return
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, self.stream.fileno())
            finally:
                os.close(devnull)


class StatusLine:
    """One live line per cycle: rewritten in place on a terminal, appended otherwise."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.tty = console.tty

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
            self.console.write("\r" + line.ljust(120))
        else:
            self.console.write(line + "\n")

    def done(self) -> None:
        if self.tty:
            self.console.write("\n")


def recorded_store_settings(config: TradingConfig) -> StoreSettings:
    """How the engine's recorder flushes: paper and live write every cycle's rows at its end.

    Buffering cycles (``store.flush_every_cycles``) is for simulated time, where a cycle
    lasts milliseconds. At 15-minute cycles a buffer of 20 would keep five hours of
    decisions, alerts and account snapshots in memory: lost in a crash, and a dashboard
    showing hours-old Greeks and alerts beside a fresh heartbeat.
    """
    if config.mode is Mode.SIM:
        return config.store
    return attrs.evolve(config.store, flush_every_cycles=1)


def build_engine(
    config: TradingConfig,
    run_id: str,
    extra_plugins: Iterable[tuple[str, object]] = (),
    store: DeltaStore | None = None,
) -> tuple[Engine, object]:
    """Engine and clock for ``config.mode``.

    ``extra_plugins`` registers plugin objects besides the installed entry points (tests
    use it the way datasette's tests register a plugin for one test). ``store`` defaults
    to a plain DeltaStore on ``config.store.path``.
    """
    discovery = discover(extra=extra_plugins)
    plugins = select(discovery, config.plugins)  # a selected plugin that failed raises here
    report_unselected_failures(discovery, config)
    store = store if store is not None else DeltaStore(config.store.path)
    recorder = Recorder(store, recorded_store_settings(config), run_id)
    if config.mode is not Mode.SIM:
        return _build_ib_engine(config, plugins, store, recorder)
    from v6.brokers.sim import SimBroker
    from v6.engine.recovery import close_ended_sim_worlds
    from v6.market.calendar import ExchangeCalendar
    from v6.market.sim_bad_data import BadDataFeed
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
    # Without futures there is nothing for the simulated ETFs to lag behind.
    lead = config.sim.futures.lead_cycles if config.futures.enabled else 0
    market = SimMarket(config.sim, list(config.underlyings), calendar, lead_cycles=lead)
    market.on_snapshot = recorder.sim_truth  # the hidden regime, beside the detected one
    # The engine reads the exchange through a feed that now and then breaks a quote.
    feed = BadDataFeed(market, config.sim.bad_data, config.sim.seed)
    broker = SimBroker(config.sim.broker, config.sim.initial_cash, config.sim.seed, run_id)
    # `v6 breaker reset NAME` leaves a request in the store; the running engine picks it up.
    inbox = BreakerResetInbox(store)
    futures = sim_futures(config, market)
    engine = Engine(
        config,
        plugins,
        feed,
        broker,
        recorder,
        breaker_inbox=inbox,
        command_inbox=ManualCommandInbox(store),  # the dashboard's "halt entries"
        futures=futures,
    )
    continue_ids(engine, store)
    close_ended_sim_worlds(engine, store, datetime.now(UTC))
    catch_up_predictions(engine, store, datetime.now(UTC))
    return engine, clock


def sim_futures(config: TradingConfig, market: Any) -> Any:
    """The futures observer of sim mode, on ``market``'s leading index path (None when
    ``futures.enabled`` is false)."""
    if not config.futures.enabled:
        return None
    from v6.futures.hours import FuturesHours
    from v6.futures.observer import FuturesObserver
    from v6.futures.sim_feed import SimFuturesFeed

    hours = FuturesHours()
    feed = SimFuturesFeed(market, config.sim, config.futures, hours.cme)
    return FuturesObserver(
        config.futures,
        feed,
        hours,
        config.cycle.interval_seconds,
        config.underlyings,
        config.cycle.max_quote_age_seconds,
    )


def ib_futures(config: TradingConfig, connection: Any) -> Any:
    """The futures observer of paper and live, on the shared IB connection (None when
    ``futures.enabled`` is false)."""
    if not config.futures.enabled:
        return None
    from v6.brokers.ib.futures import IBFuturesFeed
    from v6.futures.hours import FuturesHours
    from v6.futures.observer import FuturesObserver

    feed = IBFuturesFeed(connection, config.ib)
    return FuturesObserver(
        config.futures,
        feed,
        FuturesHours(),
        config.cycle.interval_seconds,
        config.underlyings,
        config.cycle.max_quote_age_seconds,
    )


def seed_futures(engine: Engine, store: DeltaStore, now: datetime) -> None:
    """After a paper or live restart, the futures observer takes up the snapshots of the
    last days (its change metrics look back up to one CME trading day, plus weekends and
    holidays)."""
    if engine.futures is None:
        return
    from datetime import timedelta

    since = (now - timedelta(days=SEED_DAYS)).strftime("%Y-%m-%d")
    frame = store.read(
        "futures_snapshots",
        columns=["time", "symbol", "local_symbol", "expiry", "price", "roll_ratio"],
        filters=[("date", ">=", since)],
    )
    frame = frame[frame["time"] < now]
    taken = engine.futures.seed(frame)
    if taken:
        log.info("futures: took up %d stored snapshots since %s", taken, since)


SEED_DAYS = 6


def catch_up_predictions(engine: Engine, store: DeltaStore, now: datetime) -> None:
    """Reload the store's predictions and grade those whose position closed meanwhile."""
    from v6.engine.predictions import catch_up

    catch_up(engine, store, now)


def report_unselected_failures(discovery: Any, config: TradingConfig) -> None:
    """Log the plugins that failed to load: a warning only when this config selects the
    name (a clash: another plugin of that name runs), INFO when it does not care."""
    sections = (getattr(config.plugins, f.name) for f in attrs.fields(type(config.plugins)))
    selected = {name for section in sections if isinstance(section, dict) for name in section}
    for error in discovery.errors:
        if error.plugin in selected:
            log.warning("%s", error)
        else:
            log.info("%s (not selected by this config)", error)


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
        futures=ib_futures(config, connection),
        command_inbox=ManualCommandInbox(store),
    )
    market.held_contracts = lambda: [
        leg.contract for p in engine.book.positions(LIVE) for leg in p.legs
    ]
    clock = BrokerClock(connection, calendar, config.cycle.interval_seconds)
    engine.on_close(connection.disconnect)
    recover(engine, store, clock.now())
    seed_futures(engine, store, clock.now())
    catch_up_predictions(engine, store, clock.now())
    return engine, clock


def sim_days_for_cycles(config: TradingConfig, cycles: int | None) -> TradingConfig:
    """``config`` with ``sim.days`` raised so the simulated market lasts ``cycles`` cycles.

    A trader who asks for ``--cycles 200`` means 200 cycles: a simulated market of 5 days
    has only 130 at the default 15-minute cycle, so the run is extended by whole trading
    sessions (early closes counted) and a warning says so. The extension stops at the end
    of the exchange calendar; a warning then says how many cycles the market has, and the
    session's summary says it ended there. Other modes, no ``cycles``, or enough days
    already: ``config`` unchanged.
    """
    if config.mode is not Mode.SIM or cycles is None:
        return config
    from v6.market.calendar import ExchangeCalendar
    from v6.market.sim_clock import session_cycles

    sim, interval = config.sim, config.cycle.interval_seconds
    calendar = ExchangeCalendar()
    sessions = calendar.sessions_between(sim.start, calendar.end)
    days = total = 0
    for session in sessions:  # whole sessions until they hold the cycles asked for
        days += 1
        total += len(session_cycles(*calendar.open_close(session), interval))
        if total >= cycles:
            break
    if days <= sim.days:
        return config
    asked = f"--cycles {cycles} from sim.start {sim.start}"
    if total >= cycles:
        log.warning(
            "%s needs %d simulated trading days; sim.days %d extended to %d",
            asked,
            days,
            sim.days,
            days,
        )
    else:
        log.warning(
            "%s: the exchange calendar ends %s, so the simulated market has only %d cycles "
            "(sim.days %d extended to %d); the session stops there",
            asked,
            calendar.end,
            total,
            sim.days,
            days,
        )
    return attrs.evolve(config, sim=attrs.evolve(sim, days=days))


def run_session(
    config: TradingConfig,
    *,
    cycles: int | None = None,
    live: bool = False,
    verbose: bool = False,
    out: TextIO | None = None,
    extra_plugins: Iterable[tuple[str, object]] = (),
    exiting_after: bool = False,
) -> int:
    """Run cycles until the clock ends, ``cycles`` are done, or a stop signal; returns 0.

    In sim, a ``cycles`` the simulated days cannot hold extends ``sim.days``
    (:func:`sim_days_for_cycles`), with a warning.

    The session holds the store's writer lock from before its first write until after its
    last (StoreInUseError if another session holds it), refuses a store path that is a
    file (NotAStoreError) or a store with a damaged table (DamagedTableError), marks runs
    that never stopped as crashed, and ends in order on SIGINT, SIGTERM or SIGHUP (see
    :class:`StopRequest`).
    Output that cannot be written is dropped, never fatal (see :class:`Console`).
    ``exiting_after`` (the CLI) leaves those signals ignored once the session is over.
    """
    del live, verbose  # checked by the CLI before we get here
    config = sim_days_for_cycles(config, cycles)
    console = Console(out or sys.stdout)
    run_id = uuid.uuid4().hex[:12]
    check_store_path(config.store.path)
    # Handlers first: from the moment the lock is held, a signal means an orderly stop.
    with StopRequest(then_ignore=exiting_after) as stop, WriterLock(config.store.path, run_id):
        # A damaged table stops the session before anything is written: appending to it
        # would start a fresh table over its rows (see v6.store.integrity).
        DeltaStore(config.store.path).verify_all()
        crashed = mark_crashed_runs(DeltaStore(config.store.path), datetime.now(UTC), run_id)
        for old in crashed:
            log.warning(
                "run %s never wrote a stop record (killed or crashed): marked crashed in %s",
                old,
                config.store.path,
            )
        store = ShieldedStore(config.store.path, stop)
        engine, clock = build_engine(config, run_id, extra_plugins, store=store)
        attach_notifier(engine, config.notify, notify_urls(), label=f"V6 {config.mode.value}")
        # Ready only now: in paper and live, build_engine has reconciled with the broker.
        systemd = SystemdNotifier()
        systemd.ready(f"run {run_id} ({config.mode.value}) on {config.store.path}")
        reports, ending = _cycle_until_stopped(
            engine, clock, config, cycles, stop, console, systemd
        )
        print_summary(engine, reports, config, run_id, console, ending)
    return 0


def _cycle_until_stopped(
    engine: Engine,
    clock: Any,
    config: TradingConfig,
    cycles: int | None,
    stop: StopRequest,
    console: Console,
    systemd: SystemdNotifier | None = None,
) -> tuple[list[CycleReport], str]:
    """The session between its start and stop records; returns its reports and how it ended.

    Whatever happens while cycling (a stop signal, an abort, a bug), the buffered rows are
    flushed and the stop record written before this returns or raises. ``systemd``'s
    watchdog is fed after every cycle and from every step of the clock's wait (also the
    long wait for the next open outside market hours); it hears STOPPING when cycling ends.
    """
    systemd = systemd or SystemdNotifier({})
    # The runs table keeps the config; the IB account from the environment is a secret.
    config_yaml = yaml.safe_dump(masked_config(unstructure(config)), sort_keys=False)
    engine.recorder.run_event(
        datetime.now(UTC), "start", config.mode.value, config_yaml, config.sim.seed
    )
    status = StatusLine(console)
    reports: list[CycleReport] = []
    last_time = None
    failure = ""
    market_ended = False
    try:
        stop.cycling()
        if hasattr(clock, "should_stop"):  # a wall clock waits: let a stop signal end the wait

            def should_stop() -> bool:
                systemd.watchdog()  # the engine's thread is alive, waiting
                heartbeat.waiting(engine)  # and says so to /health, once a minute
                return stop.requested

            clock.should_stop = should_stop
        while not stop.requested and (cycles is None or len(reports) < cycles):
            now = clock.next_cycle()
            market_ended = now is None
            if now is None or stop.requested:  # a stop while waiting starts no new cycle
                break
            report = engine.run_cycle(now)
            systemd.watchdog()  # a cycle finished, with its heartbeat row
            reports.append(report)
            last_time = now
            status.show(report)
        if config.mode is Mode.SIM and config.sim.flatten_at_end and last_time is not None:
            status.show(engine.flatten(last_time))
        stop.done_cycling()
    except SessionAborted:
        pass  # the cycle in progress is abandoned; everything before it is written below
    except Exception as exc:
        failure = f"failed: {type(exc).__name__}: {exc}"
        raise
    finally:
        # From here no signal interrupts: the final flush and the stop record are written.
        stop.closing()
        systemd.stopping("flushing the store and stopping")
        status.done()
        ending = failure or stop.describe()
        if not ending and market_ended and cycles is not None and len(reports) < cycles:
            ending = f"the simulated market ended after {len(reports)} of {cycles} cycles"
        try:
            engine.close()
        finally:
            engine.recorder.run_event(
                datetime.now(UTC),
                "stop",
                config.mode.value,
                config_yaml,
                config.sim.seed,
                f"{len(reports)} cycles" + (f"; {ending}" if ending else ""),
            )
    return reports, ending


def print_summary(
    engine: Engine,
    reports: list[CycleReport],
    config: TradingConfig,
    run_id: str,
    out: TextIO | Console,
    ending: str = "",
) -> None:
    """The end-of-session summary a trader reads first; ``ending`` says why it stopped."""
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
        f"V6 {config.mode.value} session {run_id}: {len(reports)} cycles"
        + (f" ({ending})" if ending else ""),
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
