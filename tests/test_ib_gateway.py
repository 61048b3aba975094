"""The fake IB Gateway talks to the real ib_async client: connect, account, orders, data.

Every test drives ib_async's synchronous API from the main thread against a gateway
running on its own event loop in a daemon thread, all on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from ib_async import IB, Bag, ComboLeg, Index, LimitOrder, Option, Stock

from v6.market.calendar import ExchangeCalendar
from v6.testing.ib_gateway import FakeGateway, SimQuotes
from v6.testing.ib_wire import BAG_CON_ID, GatewayContract, option, parse_place_order

ACCOUNT = "DU123456"
START = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)  # 10:00 New York, a Monday


@pytest.fixture(scope="module")
def calendar() -> ExchangeCalendar:
    return ExchangeCalendar()


@pytest.fixture
def quotes(calendar) -> SimQuotes:
    return SimQuotes.from_config(START, calendar=calendar)


@pytest.fixture
def gateway(quotes) -> Iterator[FakeGateway]:
    gw = FakeGateway(account=ACCOUNT, next_order_id=42, quotes=quotes)
    gw.run_in_thread()
    yield gw
    gw.stop_thread()
    assert gw.protocol_errors == []


@pytest.fixture
def ib(gateway) -> Iterator[IB]:
    client = IB()
    client.connect("127.0.0.1", gateway.port, clientId=7, timeout=5)
    yield client
    client.disconnect()


def wait_until(ib: IB, condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Let ib_async process messages until ``condition`` holds (fails after ``timeout``).

    In ib_async's blocking API a dropped socket surfaces as ConnectionError out of
    whatever call is waiting (here ``ib.sleep``); the drop itself is what we wait for.
    """
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        with contextlib.suppress(ConnectionError):
            ib.sleep(0.01)
    raise AssertionError("condition not reached")


def iron_condor(quotes: SimQuotes, days: int = 30) -> tuple[list[GatewayContract], float]:
    """SPY iron condor near ``days`` DTE (shorts 20 points out, 5-point wings), mid credit."""
    chain = quotes.view.chains["SPY"]
    expiries = chain.expiries()
    dte = (expiries - np.datetime64(START.date(), "D")).astype(int)
    expiry = str(expiries[int(np.argmin(np.abs(dte - days)))]).replace("-", "")
    spot = chain.spot
    legs = [
        option("SPY", expiry, round(spot - 20), "P"),
        option("SPY", expiry, round(spot - 25), "P"),
        option("SPY", expiry, round(spot + 20), "C"),
        option("SPY", expiry, round(spot + 25), "C"),
    ]
    mids = [quotes.quote(leg).mid for leg in legs]
    credit = round(-mids[0] + mids[1] - mids[2] + mids[3], 2)
    return legs, credit


def condor_bag(legs) -> Bag:
    actions = ["SELL", "BUY", "SELL", "BUY"]
    combo = [
        ComboLeg(conId=c.con_id, ratio=1, action=a, exchange="SMART")
        for c, a in zip(legs, actions, strict=True)
    ]
    return Bag(symbol="SPY", exchange="SMART", currency="USD", comboLegs=combo)


def leg_fills(ib: IB, order_id: int):
    return [
        f for f in ib.fills() if f.execution.orderId == order_id and f.contract.secType == "OPT"
    ]


# -- connecting and the account ---------------------------------------------------------


def test_connect_completes_with_managed_account_and_next_order_id(gateway, ib):
    assert ib.isConnected()
    assert ib.managedAccounts() == [ACCOUNT]
    # The client numbers its requests from nextValidId on: the first one is 42.
    (multi,) = [fields for msg_id, fields in gateway.frames if msg_id == 76]
    assert multi[2] == "42"
    start_api = [fields for msg_id, fields in gateway.frames if msg_id == 71]
    assert start_api == [["71", "2", "7", ""]]
    # connectAsync synchronised everything without waiting out a timeout.
    assert {msg_id for msg_id, _ in gateway.frames} >= {61, 5, 99, 6, 76, 7}


def test_positions_and_account_values_are_there_after_connect(gateway):
    gateway.set_position("SPY", "STK", 756733, 100, 58_000.0, primary_exchange="ARCA")
    put = option("SPY", "20260213", 560.0, "P")
    gateway.set_position(
        "SPY", "OPT", put.con_id, -2, 310.0, expiry="20260213", strike=560.0, right="P",
        multiplier="100", local_symbol=put.local_symbol, trading_class="SPY",
    )  # fmt: skip
    ib = IB()
    ib.connect("127.0.0.1", gateway.port, clientId=3, timeout=5)
    try:
        held = {p.contract.conId: (p.position, p.avgCost) for p in ib.positions()}
        assert held == {756733: (100.0, 58_000.0), put.con_id: (-2.0, 310.0)}
        values = {(v.tag, v.currency): v.value for v in ib.accountValues()}
        for tag in ("NetLiquidation", "TotalCashValue", "BuyingPower", "MaintMarginReq"):
            assert (tag, "USD") in values
        assert {tag for tag, _ in values} >= {"ExcessLiquidity", "AvailableFunds"}
        assert {p.contract.conId for p in ib.portfolio()} == {756733, put.con_id}
        summary = {v.tag: v.value for v in ib.accountSummary()}
        assert float(summary["NetLiquidation"]) == 100_000.0
        gateway.set_account_value("MaintMarginReq", 1234.5)
        wait_until(
            ib,
            lambda: ("MaintMarginReq", "1234.50") in [(v.tag, v.value) for v in ib.accountValues()],
        )
    finally:
        ib.disconnect()


def test_second_client_with_the_same_id_is_refused(gateway, ib):
    other = IB()
    with pytest.raises(TimeoutError):
        other.connect("127.0.0.1", gateway.port, clientId=7, timeout=0.5)
    assert ib.isConnected()


# -- orders -----------------------------------------------------------------------------


def test_iron_condor_fills_per_leg_with_order_ref_and_commissions(gateway, ib, quotes):
    legs, credit = iron_condor(quotes)
    trade = ib.placeOrder(condor_bag(legs), LimitOrder("BUY", 2, credit, orderRef="v6-ic-1"))
    wait_until(ib, lambda: trade.orderStatus.status == "Filled")

    fills = leg_fills(ib, trade.order.orderId)
    assert len(fills) == 4
    assert {f.contract.conId for f in fills} == {leg.con_id for leg in legs}
    assert all(f.execution.orderRef == "v6-ic-1" for f in fills)
    assert all(f.commissionReport.commission == pytest.approx(0.65 * 2) for f in fills)
    sides = {f.contract.conId: f.execution.side for f in fills}
    assert [sides[leg.con_id] for leg in legs] == ["SLD", "BOT", "SLD", "BOT"]
    signed = sum((1 if f.execution.side == "BOT" else -1) * f.execution.price for f in fills)
    assert signed == pytest.approx(credit)
    assert all(f.execution.price > 0 for f in fills)
    assert len({f.execution.execId for f in ib.fills()}) == len(ib.fills()) == 5
    # ib_async counts only the combo-level (BAG) execution toward Trade.filled().
    assert trade.filled() == 2 and trade.remaining() == 0
    assert trade.orderStatus.avgFillPrice == pytest.approx(credit)

    wait_until(ib, lambda: len(ib.positions()) == 4)
    held = {p.contract.conId: p.position for p in ib.positions()}
    assert [held[leg.con_id] for leg in legs] == [-2.0, 2.0, -2.0, 2.0]

    order = gateway.orders[trade.order.orderId]
    assert (order.status, order.filled, order.remaining) == ("Filled", 2.0, 0.0)
    assert [(leg.con_id, leg.action, leg.ratio) for leg in order.legs] == [
        (c.con_id, a, 1) for c, a in zip(legs, ["SELL", "BUY", "SELL", "BUY"], strict=True)
    ]
    assert order.limit_price == credit and order.order_ref == "v6-ic-1"
    assert len(gateway.placed_order_frames()) == 1


def test_placed_order_frame_parses_field_for_field(gateway, ib, quotes):
    legs, credit = iron_condor(quotes)
    ib.placeOrder(condor_bag(legs), LimitOrder("BUY", 1, credit, orderRef="ref-x", tif="DAY"))
    wait_until(ib, lambda: len(gateway.placed_order_frames()) == 1)
    fields = gateway.placed_order_frames()[0]
    assert fields[35] == "4"  # BAG leg count at field 35, then 8 fields per leg
    assert fields[36:44] == [str(legs[0].con_id), "1", "SELL", "SMART", "0", "0", "", "-1"]
    placed = parse_place_order(fields)
    assert (placed.action, placed.quantity, placed.limit_price) == ("BUY", 1.0, credit)
    assert (placed.order_ref, placed.tif, placed.sec_type) == ("ref-x", "DAY", "BAG")
    with pytest.raises(ValueError):
        parse_place_order([*fields, "extra"])


def test_partial_fill_keeps_working_until_release(gateway, ib, quotes):
    legs, credit = iron_condor(quotes)
    gateway.fill_next("partial", units=1)
    trade = ib.placeOrder(condor_bag(legs), LimitOrder("BUY", 3, credit, orderRef="p"))
    wait_until(ib, lambda: trade.filled() == 1)
    assert trade.orderStatus.status == "Submitted"
    assert trade.orderStatus.remaining == 2
    assert len(leg_fills(ib, trade.order.orderId)) == 4

    gateway.release(trade.order.orderId)
    wait_until(ib, lambda: trade.orderStatus.status == "Filled")
    assert trade.filled() == 3
    assert sum(f.execution.shares for f in leg_fills(ib, trade.order.orderId)) == 12
    wait_until(ib, lambda: {p.position for p in ib.positions()} == {-3.0, 3.0})


def test_legged_combo_fills_only_the_scripted_legs(gateway, ib, quotes):
    legs, credit = iron_condor(quotes)
    gateway.fill_next("legs", indices=[0, 2])
    trade = ib.placeOrder(condor_bag(legs), LimitOrder("BUY", 1, credit, orderRef="leg"))
    wait_until(ib, lambda: len(leg_fills(ib, trade.order.orderId)) == 2)
    ib.sleep(0.1)
    assert {f.contract.conId for f in leg_fills(ib, trade.order.orderId)} == {
        legs[0].con_id,
        legs[2].con_id,
    }
    assert trade.orderStatus.status == "Submitted" and trade.filled() == 0
    wait_until(ib, lambda: len(ib.positions()) == 2)
    assert {p.contract.conId: p.position for p in ib.positions()} == {
        legs[0].con_id: -1.0,
        legs[2].con_id: -1.0,
    }


def test_held_order_is_modified_in_place_then_released(gateway, ib, quotes):
    legs, credit = iron_condor(quotes)
    gateway.fill_next("hold")
    order = LimitOrder("BUY", 1, credit, orderRef="hold")
    trade = ib.placeOrder(condor_bag(legs), order)
    wait_until(ib, lambda: trade.orderStatus.status == "Submitted")
    assert ib.fills() == []

    order.lmtPrice = round(credit + 0.05, 2)
    ib.placeOrder(trade.contract, order)
    wait_until(ib, lambda: gateway.orders[order.orderId].limit_price == order.lmtPrice)
    assert list(gateway.orders) == [order.orderId]
    assert len(gateway.placed_order_frames()) == 2

    gateway.release(order.orderId)
    wait_until(ib, lambda: trade.orderStatus.status == "Filled")
    assert trade.orderStatus.avgFillPrice == pytest.approx(credit + 0.05)


def test_rejection_arrives_as_error_event_and_the_trade_ends_done(gateway, ib, quotes):
    legs, credit = iron_condor(quotes)
    errors = []
    ib.errorEvent += lambda req_id, code, msg, contract: errors.append((req_id, code, msg))
    gateway.reject_next(201, "Order rejected - reason: margin")
    trade = ib.placeOrder(condor_bag(legs), LimitOrder("BUY", 1, credit, orderRef="r"))
    wait_until(ib, lambda: trade.isDone())
    ib.sleep(0.05)
    assert errors == [(trade.order.orderId, 201, "Order rejected - reason: margin")]
    assert trade.orderStatus.status in {"Cancelled", "Inactive"}
    assert ib.fills() == [] and ib.positions() == []
    assert gateway.orders[trade.order.orderId].status == "Inactive"


def test_cancel_ends_a_working_order_and_an_unknown_cancel_is_refused(gateway, ib, quotes):
    legs, credit = iron_condor(quotes)
    errors = []
    ib.errorEvent += lambda req_id, code, msg, contract: errors.append((req_id, code))
    gateway.fill_next("none")
    trade = ib.placeOrder(condor_bag(legs), LimitOrder("BUY", 1, credit))
    wait_until(ib, lambda: trade.orderStatus.status == "Submitted")
    ib.cancelOrder(trade.order)
    wait_until(ib, lambda: trade.orderStatus.status == "Cancelled")
    assert gateway.orders[trade.order.orderId].status == "Cancelled"

    ib.client.cancelOrder(999)
    wait_until(ib, lambda: (999, 10147) in errors)
    assert (trade.order.orderId, 202) in errors


def test_single_option_order_fills_at_its_limit(gateway, ib, quotes):
    legs, _ = iron_condor(quotes)
    put = Option("SPY", legs[0].expiry, legs[0].strike, "P", "SMART")
    ib.qualifyContracts(put)
    trade = ib.placeOrder(put, LimitOrder("SELL", 1, 2.5, orderRef="single"))
    wait_until(ib, lambda: trade.orderStatus.status == "Filled")
    (fill,) = ib.fills()
    assert (fill.execution.side, fill.execution.price, fill.execution.orderRef) == (
        "SLD",
        2.5,
        "single",
    )
    wait_until(ib, lambda: len(ib.positions()) == 1)
    assert ib.positions()[0].position == -1


def test_latency_delays_the_answer_to_an_order(gateway, ib, quotes):
    legs, credit = iron_condor(quotes)
    gateway.latency_seconds = 0.3
    trade = ib.placeOrder(condor_bag(legs), LimitOrder("BUY", 1, credit))
    ib.sleep(0.05)
    assert trade.orderStatus.status == "PendingSubmit"
    wait_until(ib, lambda: trade.orderStatus.status == "Filled")


# -- connection loss and restart --------------------------------------------------------


def test_dropped_connection_fires_disconnected_event(gateway, ib):
    dropped = []
    ib.disconnectedEvent += lambda: dropped.append(True)
    gateway.run(gateway.drop_connections())
    wait_until(ib, lambda: dropped == [True])
    assert not ib.isConnected()
    ib.connect("127.0.0.1", gateway.port, clientId=7, timeout=5)
    assert ib.isConnected()


def test_restart_keeps_orders_positions_and_executions_for_a_reconnect(gateway, ib, quotes):
    legs, credit = iron_condor(quotes)
    filled = ib.placeOrder(condor_bag(legs), LimitOrder("BUY", 1, credit, orderRef="done"))
    wait_until(ib, lambda: filled.isDone())
    gateway.fill_next("hold")  # scripts apply to the next order the gateway receives
    held = ib.placeOrder(condor_bag(legs), LimitOrder("BUY", 1, credit, orderRef="held"))
    wait_until(ib, lambda: held.orderStatus.status == "Submitted")
    exec_ids = {f.execution.execId for f in ib.fills()}

    gateway.run(gateway.restart())
    wait_until(ib, lambda: not ib.isConnected())
    ib.connect("127.0.0.1", gateway.port, clientId=7, timeout=5)

    (working,) = ib.openTrades()
    assert (working.order.orderId, working.order.orderRef) == (held.order.orderId, "held")
    assert working.order.permId == gateway.orders[held.order.orderId].perm_id
    assert {f.execution.execId for f in ib.fills()} == exec_ids
    assert {f.execution.orderRef for f in ib.fills()} == {"done"}
    assert {p.contract.conId for p in ib.positions()} == {leg.con_id for leg in legs}
    assert [t.order.orderId for t in ib.reqAllOpenOrders()] == [held.order.orderId]
    assert len(ib.reqExecutions()) == 5

    gateway.release(held.order.orderId)
    wait_until(ib, lambda: working.orderStatus.status == "Filled")
    assert len(leg_fills(ib, held.order.orderId)) == 4
    assert len(gateway.placed_order_frames()) == 2


# -- contracts and market data ----------------------------------------------------------


def test_contract_details_option_chain_and_streaming_quotes(gateway, ib, quotes):
    spy = Stock("SPY", "SMART", "USD")
    ib.qualifyContracts(spy)
    assert spy.conId > 0 and spy.primaryExchange == "ARCA"
    (chain,) = ib.reqSecDefOptParams("SPY", "", "STK", spy.conId)
    listed = quotes.view.chains["SPY"]
    assert len(chain.expirations) == len(listed.expiries())
    assert sorted(chain.strikes) == sorted(set(listed.strike.tolist()))

    legs, _ = iron_condor(quotes)
    put = Option("SPY", legs[0].expiry, legs[0].strike, "P", "SMART")
    (details,) = ib.reqContractDetails(put)
    ib.qualifyContracts(put)
    assert details.contract.conId == legs[0].con_id
    assert details.contract.multiplier == "100"

    stock_ticker = ib.reqMktData(spy)
    ticker = ib.reqMktData(put)
    wait_until(ib, lambda: ticker.modelGreeks is not None and not math.isnan(stock_ticker.ask))
    quote = quotes.quote(legs[0])
    assert (ticker.bid, ticker.ask) == (quote.bid, quote.ask)
    assert ticker.modelGreeks.delta == pytest.approx(quote.greeks.delta)
    assert -0.5 < ticker.modelGreeks.delta < 0
    assert ticker.modelGreeks.vega == pytest.approx(quote.greeks.vega)
    assert ticker.modelGreeks.undPrice == quotes.view.chains["SPY"].spot
    assert stock_ticker.bid == quotes.view.underlyings["SPY"].bid

    quotes.advance(START + timedelta(hours=2))
    gateway.push_quotes()
    moved = quotes.view.underlyings["SPY"]
    wait_until(ib, lambda: (stock_ticker.bid, stock_ticker.ask) == (moved.bid, moved.ask))
    wait_until(ib, lambda: ticker.modelGreeks.undPrice == quotes.view.chains["SPY"].spot)


def test_vix_is_an_index_quoted_by_its_last_price(gateway, ib, quotes):
    vix = Index("VIX", "CBOE", "USD")
    ib.qualifyContracts(vix)
    ticker = ib.reqMktData(vix)
    wait_until(ib, lambda: not math.isnan(ticker.last))
    assert ticker.last == quotes.view.vix
    assert math.isnan(ticker.bid) and math.isnan(ticker.ask)


def test_nan_greeks_for_reports_not_computed_greeks(gateway, ib, quotes):
    legs, _ = iron_condor(quotes)
    gateway.nan_greeks_for([legs[1].con_id])
    ticker = ib.reqMktData(Option(conId=legs[1].con_id, exchange="SMART"))
    wait_until(ib, lambda: ticker.modelGreeks is not None)
    greeks = ticker.modelGreeks
    assert greeks.impliedVol is None and greeks.delta is None and greeks.gamma is None
    assert greeks.optPrice is None and greeks.undPrice is None
    # ib_async 2.1.0 leaves vega and theta at IB's -2 "not computed" sentinel.
    assert greeks.vega == -2 and greeks.theta == -2
    assert not math.isnan(ticker.bid)


def test_model_greeks_for_sends_the_given_greeks_with_the_quote_unchanged(gateway, ib, quotes):
    legs, _ = iron_condor(quotes)
    served = quotes.quote(legs[1])
    gateway.model_greeks_for([legs[1].con_id], delta=-5.0, iv=0.0)
    ticker = ib.reqMktData(Option(conId=legs[1].con_id, exchange="SMART"))
    wait_until(ib, lambda: ticker.modelGreeks is not None)
    greeks = ticker.modelGreeks
    assert greeks.delta == -5.0 and greeks.impliedVol == 0.0
    assert greeks.gamma == pytest.approx(served.greeks.gamma)
    assert (ticker.bid, ticker.ask) == (served.bid, served.ask)
    with pytest.raises(ValueError, match="no Greek named rho"):
        gateway.model_greeks_for([legs[1].con_id], rho=1.0)


def test_unknown_contract_gets_error_200(gateway, ib):
    errors = []
    ib.errorEvent += lambda req_id, code, msg, contract: errors.append((code, msg))
    assert ib.reqContractDetails(Option("SPY", "20991217", 1.0, "C", "SMART")) == []
    assert (200, "No security definition has been found for the request") in errors


def test_combo_level_execution_can_be_switched_off(gateway, ib, quotes):
    gateway.report_combo_execution = False
    legs, credit = iron_condor(quotes)
    trade = ib.placeOrder(condor_bag(legs), LimitOrder("BUY", 1, credit))
    wait_until(ib, lambda: trade.orderStatus.status == "Filled")
    assert len(ib.fills()) == 4
    assert BAG_CON_ID not in {f.contract.conId for f in ib.fills()}


def test_what_if_order_reports_margin_and_trades_nothing(gateway, ib, quotes):
    legs, credit = iron_condor(quotes)
    gateway.what_if_margin_change = 450.0
    state = ib.whatIfOrder(condor_bag(legs), LimitOrder("BUY", 1, credit))
    assert float(state.initMarginChange) == 450.0
    assert float(state.maintMarginAfter) == 450.0
    assert gateway.orders == {} and ib.fills() == []


def test_futures_have_contract_details_and_quotes(ib: IB, quotes: SimQuotes) -> None:
    from ib_async import Future

    details = ib.reqContractDetails(Future("ES", exchange="CME"))
    expiries = sorted(d.contract.lastTradeDateOrContractMonth for d in details)
    assert expiries == ["20260320", "20260619", "20260918"]  # the next three quarterlies
    assert {d.contract.secType for d in details} == {"FUT"}
    assert {d.contract.multiplier for d in details} == {"50"}
    ticker = ib.reqMktData(details[0].contract, "", False, False)
    wait_until(ib, lambda: ticker.bid == ticker.bid and ticker.ask == ticker.ask and ticker.ask > 0)
    spx = quotes.view.underlyings["SPY"].mid * 10
    assert ticker.ask - ticker.bid == pytest.approx(0.25)
    assert spx < ticker.ask < spx * 1.02  # carry above the index


# -- completed orders and late commission reports ---------------------------------------


def test_completed_orders_carry_the_filled_quantity_in_the_order_as_tws_does(gateway, ib, quotes):
    legs, credit = iron_condor(quotes)
    filled = ib.placeOrder(condor_bag(legs), LimitOrder("BUY", 2, credit, orderRef="done"))
    wait_until(ib, lambda: filled.isDone())
    gateway.fill_next("partial", units=1)
    partial = ib.placeOrder(condor_bag(legs), LimitOrder("BUY", 2, credit, orderRef="part"))
    wait_until(ib, lambda: partial.orderStatus.filled == 1)
    gateway.cancel_at_broker(partial.order.orderId)  # e.g. a DAY order at the close
    wait_until(ib, lambda: partial.isDone())
    gateway.run(gateway.restart())
    wait_until(ib, lambda: not ib.isConnected())
    ib.connect("127.0.0.1", gateway.port, clientId=7, timeout=5)

    completed = {t.order.orderRef: t for t in ib.trades()}
    done, part = completed["done"], completed["part"]
    # ib_async builds these from completedOrder: no order status, so orderStatus.filled
    # stays 0; the quantity is order.filledQuantity (what issue 9 found real TWS does).
    assert (done.orderStatus.status, done.orderStatus.filled) == ("Filled", 0.0)
    assert done.order.filledQuantity == 2.0 and done.order.totalQuantity == 2.0
    assert (part.orderStatus.status, part.order.filledQuantity) == ("Cancelled", 1.0)
    assert done.order.permId == gateway.orders[filled.order.orderId].perm_id
    assert done.order.lmtPrice == credit and done.order.orderId == 0
    assert [leg.conId for leg in done.contract.comboLegs] == [leg.con_id for leg in legs]
    assert len(leg_fills(ib, filled.order.orderId)) == 4  # executions found their trade
    assert all(f in done.fills for f in leg_fills(ib, filled.order.orderId))
    assert [t.order.orderRef for t in ib.reqCompletedOrders(apiOnly=False)] == ["done", "part"]


def test_commission_reports_can_come_late(gateway, ib, quotes):
    gateway.commission_delay_seconds = 0.4
    legs, credit = iron_condor(quotes)
    trade = ib.placeOrder(condor_bag(legs), LimitOrder("BUY", 1, credit))
    wait_until(ib, lambda: len(leg_fills(ib, trade.order.orderId)) == 4)
    fills = leg_fills(ib, trade.order.orderId)
    assert all(f.commissionReport.execId == "" for f in fills)
    wait_until(ib, lambda: all(f.commissionReport.execId for f in fills))
    assert [f.commissionReport.commission for f in fills] == [0.65] * 4


def test_withheld_commission_reports_come_when_released_even_after_a_restart(gateway, ib, quotes):
    gateway.withhold_commissions = True
    legs, credit = iron_condor(quotes)
    trade = ib.placeOrder(condor_bag(legs), LimitOrder("BUY", 1, credit))
    wait_until(ib, lambda: trade.isDone())
    ib.sleep(0.2)
    assert all(not f.commissionReport.execId for f in ib.fills())
    gateway.run(gateway.restart())  # between the executions and their commissions
    wait_until(ib, lambda: not ib.isConnected())
    ib.connect("127.0.0.1", gateway.port, clientId=7, timeout=5)
    fills = leg_fills(ib, trade.order.orderId)
    assert len(fills) == 4 and all(not f.commissionReport.execId for f in fills)
    released = gateway.release_commissions([fills[0].execution.execId])
    assert released == [fills[0].execution.execId]
    wait_until(ib, lambda: fills[0].commissionReport.execId != "")
    assert fills[0].commissionReport.commission == 0.65
    assert all(not f.commissionReport.execId for f in fills[1:])
    assert len(gateway.release_commissions()) == 4  # three legs and the BAG report
    wait_until(ib, lambda: all(f.commissionReport.execId for f in fills))
    # Released reports also come with the executions from now on (to a fresh client:
    # ib_async keeps the fills it knows and returns unreported copies from reqExecutions).
    other = IB()
    other.connect("127.0.0.1", gateway.port, clientId=8, timeout=5)
    try:
        again = [f for f in other.fills() if f.contract.secType == "OPT"]
        assert len(again) == 4 and all(f.commissionReport.commission == 0.65 for f in again)
    finally:
        other.disconnect()
