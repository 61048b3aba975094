"""A small, scriptable fake TWS / IB Gateway for driving the real ib_async client in tests.

It listens on 127.0.0.1, speaks the TWS text protocol at server version 178 (the layouts
live in :mod:`v6.testing.ib_wire`) and keeps an account: orders, executions, positions
and account values survive a :meth:`FakeGateway.restart` the way they survive a real
gateway restart, while connections, subscriptions and client state do not. Tests script
it from the main thread: reject or fill the next order in a given way, hold an order and
release it, serve quotes from V6's simulated market and push fresh ticks, drop sockets,
send commission reports late or not at all. Done orders come back through completed
orders as TWS sends them (the filled quantity in the order, no order status).
Every frame a client sends is recorded in :attr:`FakeGateway.frames`, so a test can
prove an order was sent exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
from collections import deque
from collections.abc import Callable, Coroutine, Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any, ClassVar, Protocol, runtime_checkable

import attrs
import numpy as np
from attrs import Factory, define, frozen

from v6.testing import ib_wire as wire
from v6.testing.ib_wire import (
    Field,
    GatewayContract,
    OpenOrderView,
    PlacedLeg,
    PlacedOrder,
    WireError,
    contract_id,
)

WORKING = frozenset({"PendingSubmit", "PreSubmitted", "Submitted"})
COMPLETED = frozenset({"Filled", "Cancelled", "ApiCancelled"})  # in reqCompletedOrders
FILL_MODES = frozenset({"full", "partial", "legs", "hold", "none"})
ACCOUNT_TAGS = (
    "NetLiquidation",
    "TotalCashValue",
    "BuyingPower",
    "MaintMarginReq",
    "ExcessLiquidity",
    "AvailableFunds",
)
CLIENT_ID_IN_USE = (
    "Unable to connect as the client id is already in use. Retry with a unique client id."
)
NO_SECURITY = "No security definition has been found for the request"
FUTURE_MULTIPLIERS = {"ES": "50", "NQ": "20", "RTY": "50"}


# -- quotes -------------------------------------------------------------------------------


@frozen(slots=True)
class GatewayGreeks:
    """Model Greeks as IB reports them: per share, vega per vol point, theta per day."""

    iv: float
    delta: float
    gamma: float
    vega: float
    theta: float
    opt_price: float
    und_price: float
    pv_dividend: float = 0.0

    def wire_values(self) -> tuple[float, ...]:
        """The eight numbers in tickOptionComputation's order."""
        return (
            self.iv,
            self.delta,
            self.opt_price,
            self.pv_dividend,
            self.gamma,
            self.vega,
            self.theta,
            self.und_price,
        )


@frozen(slots=True)
class GatewayQuote:
    """Top of book (None = that side is not quoted) and, for options, model Greeks."""

    bid: float | None
    ask: float | None
    last: float | None = None
    bid_size: float = 10.0
    ask_size: float = 10.0
    last_size: float = 1.0
    greeks: GatewayGreeks | None = None

    @property
    def mid(self) -> float | None:
        if self.bid is not None and self.ask is not None:
            return (self.bid + self.ask) / 2.0
        return self.last


@runtime_checkable
class QuoteSource(Protocol):
    """Where the gateway's contracts and market data come from."""

    def now(self) -> datetime:
        """The market time (timezone-aware); executions are stamped with it."""
        ...

    def underlyings(self) -> Sequence[GatewayContract]:
        """Stocks, ETFs and indices the source quotes."""
        ...

    def options(self, symbol: str) -> Sequence[GatewayContract]:
        """Options listed on ``symbol`` now."""
        ...

    def quote(self, contract: GatewayContract) -> GatewayQuote | None:
        """The current quote of ``contract``, or None when the source has none."""
        ...


class SimQuotes:
    """V6's simulated market (:class:`v6.market.sim_market.SimMarket`) as a quote source.

    Serves STK quotes for the simulated underlyings, VIX as an IND (last only, as indices
    quote) and full option chains with IB-style model Greeks. :meth:`advance` moves the
    market forward; follow it with :meth:`FakeGateway.push_quotes` to stream the change.
    """

    def __init__(self, market: Any, time: datetime) -> None:
        self.market = market
        self._options: dict[str, list[GatewayContract]] = {}
        self._feed: Any = None
        self.advance(time)

    @classmethod
    def from_config(
        cls, time: datetime, symbols: Sequence[str] = ("SPY", "QQQ", "IWM"), calendar: Any = None
    ) -> SimQuotes:
        """The default configuration's simulated market at ``time``."""
        from v6.config_loader import load_config
        from v6.market.calendar import ExchangeCalendar
        from v6.market.sim_market import SimMarket

        sim = load_config(None).sim
        return cls(SimMarket(sim, list(symbols), calendar or ExchangeCalendar()), time)

    @property
    def view(self) -> Any:
        """The :class:`v6.domain.market.MarketView` being served."""
        return self._view

    def advance(self, time: datetime) -> None:
        """Move the simulated market to ``time`` (forward only)."""
        self._view = self.market.snapshot(time)
        self._options.clear()

    def now(self) -> datetime:
        return self._view.time

    def underlyings(self) -> Sequence[GatewayContract]:
        return [
            *(wire.stock(s) for s in self.market.symbols),
            wire.index("VIX"),
            *self.futures(),
        ]

    def futures(self) -> list[GatewayContract]:
        """The index futures of the default config (ES, NQ, RTY) whose ETF is simulated,
        the next three quarterlies each (third Friday of Mar, Jun, Sep, Dec), priced by
        V6's simulated futures feed from the market's leading index path."""
        feed = self._futures_feed()
        today = self._view.time.date()
        out = []
        for settings in feed._contracts.values():
            if settings.etf not in self.market.symbols:
                continue
            for c in feed.listed(settings.symbol, settings.exchange, today):
                future = wire.future(
                    c.symbol,
                    c.expiry.strftime("%Y%m%d"),
                    settings.exchange,
                    FUTURE_MULTIPLIERS.get(c.symbol, "50"),
                )
                out.append(attrs.evolve(future, local_symbol=c.local_symbol))
        return out

    def _futures_feed(self) -> Any:
        if self._feed is None:
            from v6.config import FuturesSettings
            from v6.futures.hours import FuturesHours
            from v6.futures.sim_feed import SimFuturesFeed

            market = self.market
            self._feed = SimFuturesFeed(
                market, market.settings, FuturesSettings(), FuturesHours().cme
            )
        return self._feed

    def options(self, symbol: str) -> Sequence[GatewayContract]:
        if symbol not in self._options:
            chain = self._view.chains.get(symbol)
            if chain is None:
                return []
            expiries = np.char.replace(np.datetime_as_string(chain.expiry, unit="D"), "-", "")
            rights = np.where(chain.is_call, "C", "P")
            self._options[symbol] = [
                wire.option(symbol, str(e), float(k), str(r))
                for e, k, r in zip(expiries, chain.strike, rights, strict=True)
            ]
        return self._options[symbol]

    def quote(self, contract: GatewayContract) -> GatewayQuote | None:
        view = self._view
        if contract.sec_type == "STK":
            u = view.underlyings.get(contract.symbol)
            if u is None:
                return None
            return GatewayQuote(u.bid, u.ask, u.last, 100.0, 100.0, 100.0)
        if contract.sec_type == "IND" and contract.symbol == "VIX":
            return GatewayQuote(None, None, view.vix, last_size=0.0)
        if contract.sec_type == "FUT":
            from v6.domain.futures import FutureContract

            expiry = date(
                int(contract.expiry[:4]), int(contract.expiry[4:6]), int(contract.expiry[6:])
            )
            ours = FutureContract(contract.symbol, contract.local_symbol, expiry)
            quote = self._futures_feed().quotes(view.time, [ours]).get(contract.local_symbol)
            if quote is None:
                return None
            return GatewayQuote(quote.bid, quote.ask, quote.last, 25.0, 25.0, 1.0)
        if contract.sec_type != "OPT":
            return None
        chain = view.chains.get(contract.symbol)
        if chain is None:
            return None
        rows = np.flatnonzero(
            (
                chain.expiry
                == np.datetime64(
                    f"{contract.expiry[:4]}-{contract.expiry[4:6]}-{contract.expiry[6:8]}"
                )
            )
            & (chain.strike == contract.strike)
            & (chain.is_call == (contract.right == "C"))
        )
        if rows.size == 0:
            return None
        i = int(rows[0])
        bid, ask = float(chain.bid[i]), float(chain.ask[i])
        numbers = (chain.iv[i], chain.delta[i], chain.gamma[i], chain.vega[i], chain.theta[i])
        greeks = None
        if bool(chain.valid[i]) and all(math.isfinite(float(x)) for x in numbers):
            greeks = GatewayGreeks(
                iv=float(chain.iv[i]),
                delta=float(chain.delta[i]),
                gamma=float(chain.gamma[i]),
                vega=float(chain.vega[i]) / 100.0,  # IB: per 1 point of volatility
                theta=float(chain.theta[i]),
                opt_price=(bid + ask) / 2.0,
                und_price=float(chain.spot),
            )
        return GatewayQuote(bid, ask, None, 10.0 if bid > 0 else 0.0, 10.0, 0.0, greeks)


# -- the account ----------------------------------------------------------------------------


@define
class GatewayLeg:
    """One combo leg of a placed order."""

    con_id: int
    ratio: int
    action: str  # BUY / SELL
    exchange: str


@define
class GatewayExecution:
    """One execution: a leg fill (or, for a combo, the combo-level report with sec_type BAG)."""

    exec_id: str
    order_id: int
    client_id: int
    perm_id: int
    con_id: int
    sec_type: str
    symbol: str
    side: str  # BOT / SLD
    shares: float
    price: float
    time: datetime
    commission: float
    order_ref: str
    cum_qty: float
    avg_price: float
    realized_pnl: float | None = None
    commission_pending: bool = False  # its commission report has not been sent yet


@define
class GatewayOrder:
    """Every placeOrder the gateway received, parsed, with its state and executions."""

    order_id: int
    client_id: int
    action: str
    quantity: float
    order_type: str
    limit_price: float | None
    order_ref: str
    sec_type: str
    symbol: str
    legs: list[GatewayLeg]
    status: str
    filled: float = 0.0
    remaining: float = 0.0
    avg_fill_price: float = 0.0
    executions: list[GatewayExecution] = Factory(list)
    perm_id: int = 0
    contract: GatewayContract | None = None
    account: str = ""
    tif: str = ""
    mode: str = "full"
    leg_filled: list[float] = Factory(list)
    placed: PlacedOrder | None = None
    completed_at: datetime | None = None  # when it was filled or cancelled

    @property
    def leg_executions(self) -> list[GatewayExecution]:
        """Executions of the legs (or of the single contract), without combo-level reports."""
        return [e for e in self.executions if e.sec_type != "BAG"]


@define
class GatewayPosition:
    """A position per conId; avg_cost per contract including the multiplier, as IB reports it."""

    contract: GatewayContract
    quantity: float
    avg_cost: float
    realized_pnl: float = 0.0


@frozen(slots=True)
class _FillScript:
    mode: str = "full"
    units: float = 0.0
    indices: tuple[int, ...] = ()
    price: float | None = None


@define
class _Subscription:
    contract: GatewayContract | None
    legs: tuple[PlacedLeg, ...] = ()


@define(eq=False)
class _Connection:
    writer: asyncio.StreamWriter
    client_id: int | None = None
    subscriptions: dict[int, _Subscription] = Factory(dict)
    positions_subscribed: bool = False
    account_subscribed: bool = False
    multi_account_requests: set[int] = Factory(set)
    market_data_type: int = 1

    def send(self, fields: Sequence[Field]) -> None:
        if not self.writer.is_closing():
            self.writer.write(wire.encode_frame(fields))


class _Buffered:
    """Collects the frames of one fill so they can be sent in a chosen order."""

    def __init__(self) -> None:
        self.sent: list[Sequence[Field]] = []

    def send(self, fields: Sequence[Field]) -> None:
        self.sent.append(fields)


def _identity(c: GatewayContract) -> tuple[str, str, str, float, str]:
    return (c.symbol, c.sec_type, c.expiry, c.strike, c.right)


# -- the gateway ----------------------------------------------------------------------------


class FakeGateway:
    """A scriptable TWS/IB Gateway on 127.0.0.1 at server version 178 (see module docs)."""

    def __init__(
        self,
        *,
        account: str = "DU123456",
        next_order_id: int = 1,
        quotes: QuoteSource | None = None,
    ) -> None:
        self.account = account
        self.quotes = quotes
        self.latency_seconds = 0.0
        self.commission_per_contract = 0.65
        # TWS reports a combo fill per leg and once for the BAG itself; ib_async counts
        # only the BAG executions in Trade.filled(). Set False for leg reports only.
        self.report_combo_execution = True
        # Send orderStatus before the executions it counts (TWS does this at times).
        self.status_first = False
        self.execution_delay_seconds = 0.0  # with status_first: executions this much later
        # Commission reports: each goes out this long after its execution (0: with it) ...
        self.commission_delay_seconds = 0.0
        # ... or not at all (live or on reqExecutions) until release_commissions().
        self.withhold_commissions = False
        # Initial and maintenance margin change a what-if order reports.
        self.what_if_margin_change = 2_000.0
        self.orders: dict[int, GatewayOrder] = {}
        self.frames: list[tuple[int, list[str]]] = []
        self.positions: dict[int, GatewayPosition] = {}
        self.account_values: dict[str, float] = {
            "NetLiquidation": 100_000.0,
            "TotalCashValue": 100_000.0,
            "BuyingPower": 400_000.0,
            "MaintMarginReq": 0.0,
            "ExcessLiquidity": 100_000.0,
            "AvailableFunds": 100_000.0,
        }
        self.protocol_errors: list[str] = []
        self._next_order_id = next_order_id
        self._next_perm_id = 1_000_001
        self._exec_seq = 0
        self._contracts: dict[int, GatewayContract] = {}
        self._nan_greeks: set[int] = set()
        self._greek_overrides: dict[int, dict[str, float]] = {}
        self._quote_overrides: dict[int, GatewayQuote | None] = {}
        self._scripts: deque[_FillScript] = deque()
        self._rejects: deque[tuple[int, str]] = deque()
        self._lock = threading.Lock()
        self._conns: set[_Connection] = set()
        self._server: asyncio.Server | None = None
        self._port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port the gateway listens (or last listened) on."""
        return self._port

    async def start(self, port: int = 0) -> int:
        """Listen on 127.0.0.1 (``port`` 0 picks a free one); returns the port."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        self._port = self._server.sockets[0].getsockname()[1]
        return self._port

    async def stop(self) -> None:
        """Close the server and every client connection."""
        if self._server is not None:
            self._server.close()
        await self.drop_connections()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def drop_connections(self) -> None:
        """Close every client socket (a dropped connection) but keep listening."""
        conns = list(self._conns)
        self._conns.clear()
        for conn in conns:
            conn.writer.close()
        for conn in conns:
            with contextlib.suppress(ConnectionError, OSError):
                await conn.writer.wait_closed()

    async def restart(self) -> None:
        """Stop, then listen on the same port again; the account state survives."""
        await self.stop()
        await self.start(self._port)

    def run_in_thread(self) -> int:
        """Start the gateway on its own event loop in a daemon thread; returns the port."""
        loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=loop.run_forever, name="fake-ib-gateway", daemon=True
        )
        self._thread.start()
        return asyncio.run_coroutine_threadsafe(self.start(), loop).result(10)

    def stop_thread(self) -> None:
        """Stop the gateway started by :meth:`run_in_thread` and its thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        self._thread = None
        self._loop = None

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run one of the gateway's coroutines (restart, drop_connections) on its thread."""
        if self._loop is None or self._thread is None:
            raise RuntimeError("run() is for a gateway started with run_in_thread()")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    def _on_loop(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the gateway's loop (it touches sockets), waiting when called
        from another thread; directly when on the loop or when nothing is running."""
        loop = self._loop
        if loop is None or not loop.is_running() or threading.get_ident() == self._loop_thread:
            return fn()

        async def call() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), loop).result(10)

    # -- scripting ------------------------------------------------------------------------

    def reject_next(self, code: int = 201, message: str = "Order rejected - reason: test") -> None:
        """Reject the next newly placed order with this error."""
        with self._lock:
            self._rejects.append((code, message))

    def fill_next(self, mode: str, **kw: Any) -> None:
        """How the next newly placed order fills.

        ``full`` at once at the limit price (``price=`` overrides the combo price);
        ``partial`` ``units=N`` of the combo at once, the rest stays working;
        ``legs`` ``indices=[...]``: only those legs execute (a legged combo);
        ``hold`` nothing until :meth:`release`; ``none`` never fills by itself.
        """
        if mode not in FILL_MODES:
            raise ValueError(f"fill mode {mode!r}: expected one of {sorted(FILL_MODES)}")
        unknown = set(kw) - {"units", "indices", "price"}
        if unknown:
            raise TypeError(f"fill_next got unexpected options {sorted(unknown)}")
        if mode == "partial" and float(kw.get("units", 0)) <= 0:
            raise ValueError("fill_next('partial') needs units=N > 0")
        script = _FillScript(
            mode=mode,
            units=float(kw.get("units", 0.0)),
            indices=tuple(int(i) for i in kw.get("indices", ())),
            price=None if kw.get("price") is None else float(kw["price"]),
        )
        with self._lock:
            self._scripts.append(script)

    def release(self, order_id: int) -> None:
        """Fill a held, partial or legged order completely now."""

        def fill() -> None:
            order = self.orders[order_id]
            if order.status not in WORKING:
                raise ValueError(f"order {order_id} is {order.status}, not working")
            self._fill(order, [order.quantity] * len(order.leg_filled))

        self._on_loop(fill)

    def set_position(
        self,
        symbol: str,
        sec_type: str,
        con_id: int,
        quantity: float,
        avg_cost: float,
        **contract_fields: Any,
    ) -> None:
        """Hold a position (e.g. one opened outside V6); pushed to subscribed clients."""
        contract = GatewayContract(
            con_id=con_id, symbol=symbol, sec_type=sec_type, **contract_fields
        )

        def apply() -> None:
            self._register(contract)
            self.positions[con_id] = GatewayPosition(contract, float(quantity), float(avg_cost))
            self._push_position(con_id)

        self._on_loop(apply)

    def set_account_value(self, tag: str, value: float) -> None:
        """Set one account value (e.g. MaintMarginReq) and push it to subscribed clients."""

        def apply() -> None:
            self.account_values[tag] = float(value)
            self._push_account_values()

        self._on_loop(apply)

    def nan_greeks_for(self, con_ids: Iterable[int]) -> None:
        """These options report IB's "not computed" Greeks (-1 / -2) from now on."""
        with self._lock:
            self._nan_greeks.update(int(c) for c in con_ids)

    def model_greeks_for(self, con_ids: Iterable[int], **values: float) -> None:
        """These options report these model Greeks from now on, whatever the quote source
        computes; the quote itself is unchanged. ``values`` are :class:`GatewayGreeks`
        fields as IB sends them (``iv``, ``delta``, ``gamma``, ``vega`` per vol point,
        ``theta``), e.g. ``delta=-5.0, iv=0.0`` for the impossible Greeks IB has sent."""
        unknown = set(values) - set(attrs.fields_dict(GatewayGreeks))
        if unknown:
            raise ValueError(f"model_greeks_for: no Greek named {', '.join(sorted(unknown))}")
        with self._lock:
            for c in con_ids:
                self._greek_overrides.setdefault(int(c), {}).update(values)

    def override_quote(self, con_id: int, quote: GatewayQuote | None) -> None:
        """Serve ``quote`` for a contract instead of the source's (None: no ticks at all),
        e.g. IB's empty-side -1 or a zero price; push_quotes streams it."""
        with self._lock:
            self._quote_overrides[con_id] = quote

    def clear_quote_override(self, con_id: int) -> None:
        """Serve the source's quote for the contract again."""
        with self._lock:
            self._quote_overrides.pop(con_id, None)

    def push_quotes(self) -> None:
        """Send fresh ticks for every live market-data subscription (after advancing quotes)."""

        def push() -> None:
            for conn in list(self._conns):
                for req_id, sub in list(conn.subscriptions.items()):
                    self._send_ticks(conn, req_id, sub)

        self._on_loop(push)

    def announce(self, code: int, message: str) -> None:
        """Send a system message to every client, as TWS does for its own connectivity
        (1100 lost, 1101/1102 restored, 2110 TWS-server connectivity broken)."""

        def send() -> None:
            for conn in list(self._conns):
                conn.send(wire.error_message(-1, code, message))

        self._on_loop(send)

    def order_error(self, order_id: int, code: int, message: str) -> None:
        """An error about a live order that leaves it working (a refused modification,
        a cancel that raced a fill): TWS sends the error and no new status."""

        def send() -> None:
            order = self.orders[order_id]
            owner = self._owner(order)
            if owner is not None:
                owner.send(wire.error_message(order_id, code, message))

        self._on_loop(send)

    def correct_execution(self, exec_id: str, price: float) -> str:
        """Correct a leg execution's price, as IB does: a new execution whose id repeats
        the old one's with the last part incremented (``.01`` -> ``.02``) replaces it.
        Returns the new execution id."""

        def correct() -> str:
            for order in self.orders.values():
                for i, ex in enumerate(order.executions):
                    if ex.exec_id != exec_id:
                        continue
                    head, tail = exec_id.rsplit(".", 1)
                    fixed = attrs.evolve(ex, exec_id=f"{head}.{int(tail) + 1:02d}", price=price)
                    signed = ex.shares if ex.side == "BOT" else -ex.shares
                    contract = self.contract(ex.con_id)
                    assert contract is not None
                    self._book(contract, -signed, ex.price, 0.0)  # undo the old price
                    self._book(contract, signed, price, 0.0)
                    order.executions[i] = fixed
                    owner = self._owner(order)
                    if owner is not None:
                        self._send_execution(owner, -1, order, fixed)
                    return fixed.exec_id
            raise KeyError(exec_id)

        return self._on_loop(correct)

    def release_commissions(self, exec_ids: Iterable[str] | None = None) -> list[str]:
        """Send the commission reports not sent yet (all, or those of ``exec_ids``) to the
        client that placed each order, if connected; from now on they also come with
        reqExecutions. Returns the execution ids released."""
        wanted = None if exec_ids is None else set(exec_ids)

        def release() -> list[str]:
            released = []
            for order in self.orders.values():
                for ex in order.executions:
                    if ex.commission_pending and (wanted is None or ex.exec_id in wanted):
                        self._release_commission(order, ex)
                        released.append(ex.exec_id)
            return released

        return self._on_loop(release)

    def revise_commission(self, exec_id: str, commission: float) -> None:
        """Report a different commission for an execution (a new report for the same
        execId) to the client that placed the order, if connected."""

        def revise() -> None:
            for order in self.orders.values():
                for ex in order.executions:
                    if ex.exec_id == exec_id:
                        ex.commission = float(commission)
                        ex.commission_pending = True
                        self._release_commission(order, ex)
                        return
            raise KeyError(exec_id)

        self._on_loop(revise)

    def cancel_at_broker(self, order_id: int) -> None:
        """TWS cancels a working order by itself (a DAY order at the close, a cancel
        typed in TWS): status Cancelled and error 202 to its client, if connected."""

        def cancel() -> None:
            order = self.orders[order_id]
            if order.status not in WORKING:
                raise ValueError(f"order {order_id} is {order.status}, not working")
            self._cancel(order)

        self._on_loop(cancel)

    def placed_order_frames(self) -> list[list[str]]:
        """Every placeOrder frame received, in order."""
        return [fields for msg_id, fields in self.frames if msg_id == 3]

    def contract(self, con_id: int) -> GatewayContract | None:
        """The contract behind ``con_id`` (from positions, orders or the quote source)."""
        found = self._contracts.get(con_id)
        if found is None and self.quotes is not None:
            for c in self._universe():
                self._register(c)
            found = self._contracts.get(con_id)
        return found

    # -- connection handling --------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Connection(writer)
        self._conns.add(conn)
        try:
            if await reader.readexactly(4) != b"API\0":
                return
            versions = await wire.read_frame(reader)
            if not self._version_ok(versions):
                return
            conn.send(wire.handshake(self._now()))
            while True:
                fields = await wire.read_frame(reader)
                if not fields:
                    continue
                try:
                    msg_id = int(fields[0])
                except ValueError:
                    self.protocol_errors.append(f"bad message id {fields[0]!r}")
                    continue
                self.frames.append((msg_id, fields))
                await self._dispatch(conn, msg_id, fields)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            self._conns.discard(conn)
            writer.close()

    def _version_ok(self, versions: list[str]) -> bool:
        text = versions[0] if versions else ""
        try:
            low, high = (int(v) for v in text.lstrip("v").split(" ")[0].split(".."))
        except ValueError:
            self.protocol_errors.append(f"bad version range {text!r}")
            return False
        return low <= wire.SERVER_VERSION <= high

    async def _dispatch(self, conn: _Connection, msg_id: int, f: list[str]) -> None:
        if msg_id == 71:
            self._start_api(conn, f)
            return
        if conn.client_id is None:
            return
        if msg_id in (3, 4) and self.latency_seconds > 0:
            await asyncio.sleep(self.latency_seconds)
        handler = self._handlers.get(msg_id)
        if handler is None:
            return
        try:
            handler(self, conn, f)
        except (WireError, ValueError, IndexError) as e:
            self.protocol_errors.append(f"message {msg_id}: {e}")

    def _start_api(self, conn: _Connection, f: list[str]) -> None:
        client_id = int(f[2])
        if any(c.client_id == client_id for c in self._conns if c is not conn):
            conn.send(wire.error_message(-1, 326, CLIENT_ID_IN_USE))
            conn.writer.close()
            return
        conn.client_id = client_id
        conn.send([9, 1, self._next_order_id])
        conn.send([15, 1, self.account])

    # -- account requests -----------------------------------------------------------------

    def _req_positions(self, conn: _Connection, f: list[str]) -> None:
        conn.positions_subscribed = True
        for pos in self.positions.values():
            if pos.quantity != 0:
                conn.send(
                    wire.position_message(self.account, pos.contract, pos.quantity, pos.avg_cost)
                )
        conn.send([62, 1])

    def _cancel_positions(self, conn: _Connection, f: list[str]) -> None:
        conn.positions_subscribed = False

    def _req_account_updates(self, conn: _Connection, f: list[str]) -> None:
        conn.account_subscribed = f[2] == "1"
        if not conn.account_subscribed:
            return
        self._send_account_values(conn)
        for con_id, pos in self.positions.items():
            if pos.quantity != 0:
                conn.send(self._portfolio_message(con_id))
        conn.send([8, 1, f"{self._now():%H:%M}"])
        conn.send([54, 1, self.account])

    def _req_account_updates_multi(self, conn: _Connection, f: list[str]) -> None:
        req_id = int(f[2])
        conn.multi_account_requests.add(req_id)
        for tag in ACCOUNT_TAGS:
            conn.send([73, 1, req_id, self.account, "", tag, self._value_text(tag), "USD"])
        conn.send([74, 1, req_id])

    def _cancel_account_updates_multi(self, conn: _Connection, f: list[str]) -> None:
        conn.multi_account_requests.discard(int(f[2]))

    def _req_account_summary(self, conn: _Connection, f: list[str]) -> None:
        req_id, tags = int(f[2]), f[4].split(",")
        for tag in ACCOUNT_TAGS:
            if tag in tags or "All" in tags:
                conn.send([63, 1, req_id, self.account, tag, self._value_text(tag), "USD"])
        conn.send([64, 1, req_id])

    def _req_open_orders(self, conn: _Connection, f: list[str]) -> None:
        everyone = f[0] == "16" or conn.client_id == 0
        for order in self.orders.values():
            if order.status in WORKING and (everyone or order.client_id == conn.client_id):
                conn.send(self._open_order_message(order))
                conn.send(self._status_message(order))
        conn.send([53, 1])

    def _req_auto_open_orders(self, conn: _Connection, f: list[str]) -> None:
        # TWS only binds future manual orders to client 0; it answers nothing now. An
        # openOrderEnd here would end the client's concurrent reqOpenOrders early.
        return

    def _req_completed_orders(self, conn: _Connection, f: list[str]) -> None:
        # The account's filled and cancelled orders, whichever client placed them.
        for order in self.orders.values():
            if order.status in COMPLETED and order.contract is not None:
                conn.send(self._completed_order_message(order))
        conn.send([102])

    def _req_executions(self, conn: _Connection, f: list[str]) -> None:
        req_id, client_id = int(f[2]), int(f[3] or 0)
        symbol, sec_type, side = f[6], f[7], f[9]
        wanted_side = {"BUY": "BOT", "SELL": "SLD"}.get(side, side)
        for order in self.orders.values():
            for ex in order.executions:
                if client_id and ex.client_id != client_id:
                    continue
                if (symbol and ex.symbol != symbol) or (sec_type and ex.sec_type != sec_type):
                    continue
                if wanted_side and ex.side != wanted_side:
                    continue
                self._send_execution(conn, req_id, order, ex)
        conn.send([55, 1, req_id])

    def _req_ids(self, conn: _Connection, f: list[str]) -> None:
        conn.send([9, 1, self._next_order_id])

    def _req_current_time(self, conn: _Connection, f: list[str]) -> None:
        conn.send([49, 1, int(self._now().timestamp())])

    def _req_managed_accounts(self, conn: _Connection, f: list[str]) -> None:
        conn.send([15, 1, self.account])

    # -- contracts and market data --------------------------------------------------------

    def _req_contract_details(self, conn: _Connection, f: list[str]) -> None:
        req_id = int(f[2])
        matches = self._resolve(f[3:15])
        if not matches:
            conn.send(wire.error_message(req_id, 200, NO_SECURITY))
            return
        for c in matches:
            under = contract_id(c.symbol, "STK") if c.sec_type == "OPT" else 0
            conn.send(wire.contract_details(req_id, c, under, c.local_symbol or c.symbol))
        conn.send([52, 1, req_id])

    def _req_sec_def_opt_params(self, conn: _Connection, f: list[str]) -> None:
        req_id, symbol = int(f[1]), f[2]
        options = self.quotes.options(symbol) if self.quotes is not None else []
        if options:
            expirations = sorted({c.expiry for c in options})
            strikes = sorted({c.strike for c in options})
            under = contract_id(symbol, "STK")
            conn.send(wire.option_parameters(req_id, under, symbol, expirations, strikes))
        conn.send([76, req_id])

    def _req_market_data_type(self, conn: _Connection, f: list[str]) -> None:
        conn.market_data_type = int(f[2])

    def _req_mkt_data(self, conn: _Connection, f: list[str]) -> None:
        req_id = int(f[2])
        i = 15
        sub: _Subscription
        if f[5] == "BAG":
            n = int(f[i])
            legs = tuple(
                PlacedLeg(int(f[j]), int(f[j + 1]), f[j + 2], f[j + 3])
                for j in range(i + 1, i + 1 + 4 * n, 4)
            )
            i += 1 + 4 * n
            if any(self.contract(leg.con_id) is None for leg in legs):
                conn.send(wire.error_message(req_id, 200, NO_SECURITY))
                return
            sub = _Subscription(None, legs)
        else:
            matches = self._resolve(f[3:15])
            if len(matches) != 1:
                conn.send(wire.error_message(req_id, 200, NO_SECURITY))
                return
            sub = _Subscription(matches[0])
        i += 4 if f[i] == "1" else 1  # delta-neutral contract
        snapshot = f[i + 1] == "1"
        conn.send([58, 1, req_id, conn.market_data_type])
        self._send_ticks(conn, req_id, sub)
        if snapshot:
            conn.send([57, 1, req_id])
        else:
            conn.subscriptions[req_id] = sub

    def _cancel_mkt_data(self, conn: _Connection, f: list[str]) -> None:
        conn.subscriptions.pop(int(f[2]), None)

    def _send_ticks(self, conn: _Connection, req_id: int, sub: _Subscription) -> None:
        quote = self._combo_quote(sub.legs) if sub.contract is None else self._quote(sub.contract)
        if quote is None:
            return
        if quote.bid is not None:
            size = quote.bid_size if quote.bid > 0 else 0.0
            conn.send(wire.tick_price(req_id, 1, quote.bid, size))
        if quote.ask is not None:
            conn.send(wire.tick_price(req_id, 2, quote.ask, quote.ask_size))
        if quote.last is not None:
            conn.send(wire.tick_price(req_id, 4, quote.last, quote.last_size))
        if quote.bid is not None and quote.bid > 0:
            conn.send(wire.tick_size(req_id, 0, quote.bid_size))
        if quote.ask is not None:
            conn.send(wire.tick_size(req_id, 3, quote.ask_size))
        c = sub.contract
        if c is not None and c.sec_type == "OPT":
            greeks = None if c.con_id in self._nan_greeks or quote.greeks is None else quote.greeks
            override = self._greek_overrides.get(c.con_id)
            if greeks is not None and override:
                greeks = attrs.evolve(greeks, **override)
            values = None if greeks is None else greeks.wire_values()
            conn.send(wire.tick_option_computation(req_id, 13, values))

    def _quote(self, contract: GatewayContract) -> GatewayQuote | None:
        if contract.con_id in self._quote_overrides:
            return self._quote_overrides[contract.con_id]
        return None if self.quotes is None else self.quotes.quote(contract)

    def _combo_quote(self, legs: Sequence[PlacedLeg]) -> GatewayQuote | None:
        """The natural combo market: pay the asks of bought legs, hit the bids of sold ones."""
        bid = ask = 0.0
        for leg in legs:
            contract = self.contract(leg.con_id)
            q = None if contract is None else self._quote(contract)
            if q is None or q.bid is None or q.ask is None:
                return None
            if leg.action == "BUY":
                bid, ask = bid + leg.ratio * q.bid, ask + leg.ratio * q.ask
            else:
                bid, ask = bid - leg.ratio * q.ask, ask - leg.ratio * q.bid
        return GatewayQuote(round(bid, 4), round(ask, 4), None, 1.0, 1.0)

    # -- orders ---------------------------------------------------------------------------

    def _place_order(self, conn: _Connection, f: list[str]) -> None:
        try:
            placed = wire.parse_place_order(f)
        except WireError as e:
            self.protocol_errors.append(str(e))
            order_id = int(f[1]) if len(f) > 1 and f[1].isdigit() else -1
            conn.send(wire.error_message(order_id, 321, f"Error validating request: {e}"))
            return
        if placed.what_if:
            self._what_if(conn, placed)
            return
        existing = self.orders.get(placed.order_id)
        if existing is not None:
            self._modify(conn, existing, placed)
            return
        self._next_order_id = max(self._next_order_id, placed.order_id + 1)
        contract = self._order_contract(placed)
        order = GatewayOrder(
            order_id=placed.order_id,
            client_id=conn.client_id or 0,
            action=placed.action,
            quantity=placed.quantity,
            order_type=placed.order_type,
            limit_price=placed.limit_price,
            order_ref=placed.order_ref,
            sec_type=placed.sec_type,
            symbol=placed.symbol,
            legs=[
                GatewayLeg(leg.con_id, leg.ratio, leg.action, leg.exchange) for leg in placed.legs
            ],
            status="PendingSubmit",
            remaining=placed.quantity,
            perm_id=self._next_perm_id,
            contract=contract,
            account=placed.account or self.account,
            tif=placed.tif,
            leg_filled=[0.0] * max(1, len(placed.legs)),
            placed=placed,
        )
        self._next_perm_id += 1
        self.orders[order.order_id] = order
        if contract is None:
            self._reject(conn, order, 200, NO_SECURITY)
            return
        with self._lock:
            reject = self._rejects.popleft() if self._rejects else None
            script = (
                None if reject else (self._scripts.popleft() if self._scripts else _FillScript())
            )
        if reject is not None:
            self._reject(conn, order, *reject)
            return
        assert script is not None
        order.mode = script.mode
        order.status = "Submitted"
        conn.send(self._open_order_message(order))
        conn.send(self._status_message(order))
        n = len(order.leg_filled)
        if script.mode == "full":
            self._fill(order, [order.quantity] * n, script.price)
        elif script.mode == "partial":
            units = min(script.units, order.quantity)
            self._fill(order, [units] * n, script.price)
        elif script.mode == "legs":
            targets = [order.quantity if i in script.indices else 0.0 for i in range(n)]
            self._fill(order, targets, script.price)

    def _what_if(self, conn: _Connection, placed: PlacedOrder) -> None:
        """Answer a what-if order with its margin impact; nothing is placed or recorded."""
        contract = self._order_contract(placed)
        if contract is None:
            conn.send(wire.error_message(placed.order_id, 200, NO_SECURITY))
            return
        init = self.account_values["MaintMarginReq"]
        equity = self.account_values["NetLiquidation"]
        change = self.what_if_margin_change
        view = OpenOrderView(
            order_id=placed.order_id,
            client_id=conn.client_id or 0,
            perm_id=0,
            contract=contract,
            legs=placed.legs,
            action=placed.action,
            quantity=placed.quantity,
            order_type=placed.order_type,
            limit_price=placed.limit_price,
            aux_price=placed.aux_price,
            tif=placed.tif,
            account=placed.account or self.account,
            order_ref=placed.order_ref,
            status="PreSubmitted",
            what_if_margin=(
                init,
                init,
                equity,
                change,
                change,
                0.0,
                init + change,
                init + change,
                equity,
            ),
        )
        conn.send(wire.open_order(view))

    def _order_contract(self, placed: PlacedOrder) -> GatewayContract | None:
        """The traded contract: the BAG when every leg is known, else the single contract."""
        if placed.sec_type == "BAG":
            known = placed.legs and all(self.contract(leg.con_id) for leg in placed.legs)
            return wire.bag(placed.symbol) if known else None
        v = placed.values
        matches = self._resolve([v[name] for name in wire.CONTRACT_FIELDS])
        return matches[0] if len(matches) == 1 else None

    def _reject(self, conn: _Connection, order: GatewayOrder, code: int, message: str) -> None:
        order.status = "Inactive"
        conn.send(wire.error_message(order.order_id, code, message))
        conn.send(self._status_message(order))

    def _modify(self, conn: _Connection, order: GatewayOrder, placed: PlacedOrder) -> None:
        if order.client_id != conn.client_id:
            conn.send(wire.error_message(placed.order_id, 103, "Duplicate order id"))
            return
        if order.status not in WORKING:
            conn.send(
                wire.error_message(
                    placed.order_id, 104, f"Cannot modify a {order.status.lower()} order."
                )
            )
            return
        order.limit_price = placed.limit_price
        order.order_type = placed.order_type
        order.quantity = placed.quantity
        order.remaining = max(placed.quantity - order.filled, 0.0)
        order.order_ref = placed.order_ref
        order.placed = placed
        conn.send(self._open_order_message(order))
        conn.send(self._status_message(order))

    def _cancel_order(self, conn: _Connection, f: list[str]) -> None:
        order_id = int(f[2])
        order = self.orders.get(order_id)
        if order is None:
            conn.send(
                wire.error_message(
                    order_id, 10147, f"OrderId {order_id} that needs to be cancelled is not found."
                )
            )
            return
        if order.status not in WORKING:
            text = (
                f"OrderId {order_id} that needs to be cancelled cannot be cancelled, "
                f"state: {order.status}."
            )
            conn.send(wire.error_message(order_id, 10148, text))
            return
        self._cancel(order)

    def _global_cancel(self, conn: _Connection, f: list[str]) -> None:
        for order in list(self.orders.values()):
            if order.status in WORKING:
                self._cancel(order)

    def _cancel(self, order: GatewayOrder) -> None:
        order.status = "Cancelled"
        order.completed_at = self._now()
        owner = self._owner(order)
        if owner is not None:
            owner.send(self._status_message(order))
            owner.send(wire.error_message(order.order_id, 202, "Order Canceled - reason:"))

    # -- fills ----------------------------------------------------------------------------

    def _fill(
        self, order: GatewayOrder, targets: Sequence[float], price: float | None = None
    ) -> None:
        """Execute each leg up to ``targets`` combo units, then report the order's state.

        With ``status_first`` the order status goes out before the executions, as TWS
        often does: a client must not take "Filled" to mean its fills have arrived.
        """
        client = self._owner(order)
        owner = _Buffered() if client is not None else None
        assert order.contract is not None
        combo_price = self._combo_price(order, price)
        if order.legs:
            leg_prices = self._leg_prices(order, combo_price)
            for i, leg in enumerate(order.legs):
                add = targets[i] - order.leg_filled[i]
                if add <= 0:
                    continue
                contract = self.contract(leg.con_id)
                assert contract is not None
                buys = (leg.action == "BUY") == (order.action == "BUY")
                self._execute(
                    order,
                    contract,
                    "BOT" if buys else "SLD",
                    leg.ratio * add,
                    leg_prices[i],
                    i + 1,
                    owner,
                )
                order.leg_filled[i] = targets[i]
        units = min(order.leg_filled) if order.legs else targets[0]
        added = units - order.filled
        if added > 0:
            side = "BOT" if order.action == "BUY" else "SLD"
            if not order.legs:
                self._execute(order, order.contract, side, added, combo_price, 1, owner)
                order.leg_filled[0] = units
            elif self.report_combo_execution:
                self._execute(order, order.contract, side, added, combo_price, 0, owner, book=False)
            order.avg_fill_price = (
                order.avg_fill_price * order.filled + combo_price * added
            ) / units
            order.filled = units
            order.remaining = max(order.quantity - units, 0.0)
        if order.remaining <= 0:
            order.status = "Filled"
            order.completed_at = self._now()
        if client is not None and owner is not None:
            status = [self._status_message(order, last_fill=combo_price if added > 0 else 0.0)]
            if order.status == "Filled":
                status.append(self._open_order_message(order))
            if self.status_first:
                for message in status:
                    client.send(message)

                def executions(sent: list = owner.sent) -> None:
                    for message in sent:
                        client.send(message)

                if self.execution_delay_seconds > 0 and self._loop is not None:
                    self._loop.call_later(self.execution_delay_seconds, executions)
                else:
                    executions()
            else:
                for message in owner.sent + status:
                    client.send(message)
        self._push_account_values()

    def _combo_price(self, order: GatewayOrder, price: float | None) -> float:
        if price is not None:
            return price
        if order.order_type in {"LMT", "REL", "PEG MID"} and order.limit_price is not None:
            return order.limit_price
        if order.legs:
            total = 0.0
            for leg in order.legs:
                mid = self._mid(leg.con_id)
                total += leg.ratio * mid * (1 if leg.action == "BUY" else -1)
            return round(total, 4)
        return self._mid(order.contract.con_id) if order.contract else 0.0

    def _mid(self, con_id: int) -> float:
        contract = self.contract(con_id)
        q = None if contract is None else self._quote(contract)
        mid = None if q is None else q.mid
        return float(mid) if mid is not None else 0.0

    def _leg_prices(self, order: GatewayOrder, combo_price: float) -> list[float]:
        """Per-leg prices near the quote mids whose signed sum (+ bought, - sold, times
        ratio) is exactly the combo price.

        The gap between the combo price and the legs' mids is spread over every leg
        (bought legs up and sold legs down, or the reverse); if that would push a price
        below zero, one leg whose price rises absorbs the whole gap instead.
        """
        legs = order.legs
        signs = [1.0 if leg.action == "BUY" else -1.0 for leg in legs]
        mids = [self._mid(leg.con_id) for leg in legs]
        residual = combo_price - sum(
            s * leg.ratio * p for s, leg, p in zip(signs, legs, mids, strict=True)
        )
        step = residual / sum(leg.ratio for leg in legs)
        prices = [p + s * step for s, p in zip(signs, mids, strict=True)]
        if min(prices) < 0:
            prices = list(mids)
            wanted = 1.0 if residual > 0 else -1.0
            j = next((k for k, s in enumerate(signs) if s == wanted), 0)
            prices[j] = max(prices[j] + residual / (signs[j] * legs[j].ratio), 0.0)
        return [round(p, 6) for p in prices]

    def _execute(
        self,
        order: GatewayOrder,
        contract: GatewayContract,
        side: str,
        shares: float,
        price: float,
        leg_no: int,
        owner: _Connection | _Buffered | None,
        *,
        book: bool = True,
    ) -> None:
        self._exec_seq += 1
        exec_id = f"{order.perm_id:08x}.{self._exec_seq:08x}.{leg_no:02d}.01"
        commission = round(self.commission_per_contract * shares, 4) if book else 0.0
        realized = (
            self._book(contract, shares if side == "BOT" else -shares, price, commission)
            if book
            else None
        )
        same = [e for e in order.executions if e.con_id == contract.con_id]
        cum = sum(e.shares for e in same) + shares
        avg = (sum(e.shares * e.price for e in same) + shares * price) / cum
        ex = GatewayExecution(
            exec_id=exec_id,
            order_id=order.order_id,
            client_id=order.client_id,
            perm_id=order.perm_id,
            con_id=contract.con_id,
            sec_type=contract.sec_type,
            symbol=contract.symbol,
            side=side,
            shares=shares,
            price=price,
            time=self._now(),
            commission=commission,
            order_ref=order.order_ref,
            cum_qty=cum,
            avg_price=round(avg, 6),
            realized_pnl=realized,
            commission_pending=self.withhold_commissions or self.commission_delay_seconds > 0,
        )
        order.executions.append(ex)
        if owner is not None:
            self._send_execution(owner, -1, order, ex)
        late = self.commission_delay_seconds > 0 and not self.withhold_commissions
        if late and self._loop is not None and self._loop.is_running():
            self._loop.call_later(
                self.commission_delay_seconds, self._release_commission, order, ex
            )

    def _send_execution(
        self,
        conn: _Connection | _Buffered,
        req_id: int,
        order: GatewayOrder,
        ex: GatewayExecution,
    ) -> None:
        contract = order.contract if ex.sec_type == "BAG" else self.contract(ex.con_id)
        assert contract is not None
        conn.send(
            wire.exec_details(
                req_id,
                ex.order_id,
                contract,
                ex.exec_id,
                ex.time,
                order.account,
                ex.side,
                ex.shares,
                ex.price,
                ex.perm_id,
                ex.client_id,
                ex.cum_qty,
                ex.avg_price,
                ex.order_ref,
            )
        )
        if not ex.commission_pending:
            conn.send(wire.commission_report(ex.exec_id, ex.commission, ex.realized_pnl))

    def _release_commission(self, order: GatewayOrder, ex: GatewayExecution) -> None:
        """Send a commission report held back (late or withheld) to the order's client."""
        current = next((e for e in order.executions if e.exec_id == ex.exec_id), None)
        if current is None or not current.commission_pending:
            return  # already released, or replaced by a corrected execution
        current.commission_pending = False
        owner = self._owner(order)
        if owner is not None:
            owner.send(
                wire.commission_report(current.exec_id, current.commission, current.realized_pnl)
            )

    def _book(
        self, contract: GatewayContract, qty: float, price: float, commission: float
    ) -> float | None:
        """Apply a fill to the position and cash; returns realized P&L when it closes some."""
        self._register(contract)
        mult = contract.multiplier_value
        pos = self.positions.get(contract.con_id)
        if pos is None:
            pos = self.positions[contract.con_id] = GatewayPosition(contract, 0.0, 0.0)
        per_contract = price * mult + (commission if qty > 0 else -commission) / abs(qty)
        realized: float | None = None
        if pos.quantity == 0 or (pos.quantity > 0) == (qty > 0):
            total = abs(pos.quantity) + abs(qty)
            pos.avg_cost = (abs(pos.quantity) * pos.avg_cost + abs(qty) * per_contract) / total
            pos.quantity += qty
        else:
            closed = min(abs(qty), abs(pos.quantity))
            direction = 1.0 if pos.quantity > 0 else -1.0
            realized = closed * (price * mult - pos.avg_cost) * direction - commission
            pos.realized_pnl += realized
            pos.quantity += qty
            if abs(qty) > closed:
                pos.avg_cost = per_contract
            elif pos.quantity == 0:
                pos.avg_cost = 0.0
        pos.quantity = round(pos.quantity, 8)
        self.account_values["TotalCashValue"] -= qty * price * mult + commission
        for tag in ("NetLiquidation", "ExcessLiquidity", "AvailableFunds"):
            self.account_values[tag] -= commission
        self._push_position(contract.con_id)
        return None if realized is None else round(realized, 4)

    # -- pushes and messages --------------------------------------------------------------

    def _owner(self, order: GatewayOrder) -> _Connection | None:
        return next((c for c in self._conns if c.client_id == order.client_id), None)

    def _push_position(self, con_id: int) -> None:
        pos = self.positions[con_id]
        for conn in list(self._conns):
            if conn.positions_subscribed:
                conn.send(
                    wire.position_message(self.account, pos.contract, pos.quantity, pos.avg_cost)
                )
            if conn.account_subscribed:
                conn.send(self._portfolio_message(con_id))

    def _push_account_values(self) -> None:
        for conn in list(self._conns):
            if conn.account_subscribed:
                self._send_account_values(conn)
            for req_id in conn.multi_account_requests:
                for tag in ACCOUNT_TAGS:
                    conn.send([73, 1, req_id, self.account, "", tag, self._value_text(tag), "USD"])

    def _send_account_values(self, conn: _Connection) -> None:
        for tag in self.account_values:
            conn.send([6, 2, tag, self._value_text(tag), "USD", self.account])

    def _value_text(self, tag: str) -> str:
        return f"{self.account_values.get(tag, 0.0):.2f}"

    def _portfolio_message(self, con_id: int) -> list[Field]:
        pos = self.positions[con_id]
        mult = pos.contract.multiplier_value
        mark = self._mid(con_id) or (pos.avg_cost / mult if mult else 0.0)
        return wire.portfolio_value(
            self.account, pos.contract, pos.quantity, mark, pos.avg_cost, pos.realized_pnl
        )

    def _open_order_message(self, order: GatewayOrder) -> list[Field]:
        return wire.open_order(self._order_view(order))

    def _order_view(self, order: GatewayOrder) -> OpenOrderView:
        assert order.contract is not None
        placed = order.placed
        legs = placed.legs if placed is not None else ()
        return OpenOrderView(
            order_id=order.order_id,
            client_id=order.client_id,
            perm_id=order.perm_id,
            contract=order.contract,
            legs=legs,
            action=order.action,
            quantity=order.quantity,
            order_type=order.order_type,
            limit_price=order.limit_price,
            aux_price=placed.aux_price if placed is not None else None,
            tif=order.tif,
            account=order.account,
            order_ref=order.order_ref,
            status=order.status,
            parent_id=placed.parent_id if placed is not None else 0,
        )

    def _completed_order_message(self, order: GatewayOrder) -> list[Field]:
        return wire.completed_order(
            self._order_view(order), order.filled, order.completed_at or self._now(), order.status
        )

    def _status_message(self, order: GatewayOrder, last_fill: float = 0.0) -> list[Field]:
        return wire.order_status(
            order.order_id,
            order.status,
            order.filled,
            order.remaining if order.status != "Inactive" else order.quantity,
            order.avg_fill_price,
            order.perm_id,
            order.client_id,
            last_fill_price=last_fill,
        )

    # -- contracts ------------------------------------------------------------------------

    def _now(self) -> datetime:
        return self.quotes.now() if self.quotes is not None else datetime.now(UTC)

    def _register(self, contract: GatewayContract) -> None:
        known = self._contracts.get(contract.con_id)
        if known is None:
            self._contracts[contract.con_id] = contract
        elif _identity(known) != _identity(contract):
            # Two contracts hashed to one conId would make fills land on the wrong leg.
            raise RuntimeError(f"conId {contract.con_id} collides: {known} vs {contract}")

    def _universe(self) -> list[GatewayContract]:
        if self.quotes is None:
            return list(self._contracts.values())
        contracts = list(self.quotes.underlyings())
        for u in list(contracts):
            if u.sec_type == "STK":
                contracts.extend(self.quotes.options(u.symbol))
        return contracts

    def _resolve(self, c: Sequence[str]) -> list[GatewayContract]:
        """Contracts matching the 12 wire contract fields (conId wins when given)."""
        con_id, symbol, sec_type, expiry, strike, right = c[0], c[1], c[2], c[3], c[4], c[5]
        if con_id and int(con_id):
            found = self.contract(int(con_id))
            return [found] if found is not None and sec_type in ("", found.sec_type) else []
        candidates = {k.con_id: k for k in self._contracts.values() if k.symbol == symbol}
        if self.quotes is not None:
            for k in self.quotes.underlyings():
                if k.symbol == symbol:
                    candidates[k.con_id] = k
            if sec_type in ("OPT", ""):
                candidates.update((k.con_id, k) for k in self.quotes.options(symbol))
        wanted_right = {"CALL": "C", "PUT": "P"}.get(right.upper(), right.upper())
        wanted_strike = float(strike or 0.0)
        out = [
            k
            for k in candidates.values()
            if (not sec_type or k.sec_type == sec_type)
            and (not expiry or k.expiry.startswith(expiry))
            and (not wanted_strike or k.strike == wanted_strike)
            and (not wanted_right or k.right == wanted_right)
        ]
        for k in out:
            self._register(k)
        return sorted(out, key=lambda k: (k.sec_type, k.expiry, k.strike, k.right))

    _handlers: ClassVar[dict[int, Callable[[FakeGateway, _Connection, list[str]], None]]] = {
        1: _req_mkt_data,
        2: _cancel_mkt_data,
        3: _place_order,
        4: _cancel_order,
        5: _req_open_orders,
        6: _req_account_updates,
        7: _req_executions,
        8: _req_ids,
        9: _req_contract_details,
        15: _req_auto_open_orders,
        16: _req_open_orders,
        17: _req_managed_accounts,
        49: _req_current_time,
        58: _global_cancel,
        59: _req_market_data_type,
        61: _req_positions,
        62: _req_account_summary,
        64: _cancel_positions,
        76: _req_account_updates_multi,
        77: _cancel_account_updates_multi,
        78: _req_sec_def_opt_params,
        99: _req_completed_orders,
    }
