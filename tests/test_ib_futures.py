"""The index futures through IB: the real ib_async client against the fake gateway on
127.0.0.1, qualifying ES, NQ and RTY by contract details, streaming the front contracts'
quotes, rolling, treating IB's empty prices (NaN, -1, 0) as missing, and the engine in
paper mode writing ``futures_snapshots`` exactly as ``v6 run`` wires it."""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime, timedelta

import pytest
from ib_harness import STEP, ib_engine, paper_config, run_cycles, running_gateway
from sessions import table

from v6.brokers.ib.connection import IBConnectionManager
from v6.brokers.ib.futures import IBFuturesFeed
from v6.config import FuturesSettings, IBSettings
from v6.domain.alerts import Severity
from v6.futures.hours import FuturesHours
from v6.futures.observer import FuturesObserver
from v6.testing.ib_gateway import FakeGateway, GatewayQuote

pytestmark = pytest.mark.slow

CONTRACT_DETAILS, REQ_MKT_DATA, CANCEL_MKT_DATA = 9, 1, 2


@pytest.fixture(autouse=True)
def quiet_ib_async(caplog):
    caplog.set_level(logging.CRITICAL, logger="ib_async")


def observer_on(gateway: FakeGateway, **futures: object):
    """A futures observer on an IB connection to ``gateway`` (as paper mode builds it)."""
    settings = IBSettings(
        port=gateway.port, client_id=7, max_requests_per_second=0, order_ack_seconds=1.0
    )
    connection = IBConnectionManager(settings)
    connection.connect()
    feed = IBFuturesFeed(connection, settings)
    observer = FuturesObserver(FuturesSettings(**futures), feed, FuturesHours(), 900)
    return connection, observer


def step(gateway: FakeGateway, delta: timedelta = STEP) -> datetime:
    quotes = gateway.quotes
    quotes.advance(quotes.now() + delta)
    gateway.push_quotes()
    return quotes.now()


def frames(gateway: FakeGateway, msg_id: int, *fields: str) -> list[list[str]]:
    return [f for i, f in gateway.frames if i == msg_id and all(x in f for x in fields)]


def gateway_future(gateway: FakeGateway, local_symbol: str):
    return next(c for c in gateway.quotes.futures() if c.local_symbol == local_symbol)


def test_front_futures_are_qualified_by_contract_details_and_streamed():
    with running_gateway() as gateway:
        connection, observer = observer_on(gateway)
        try:
            now = gateway.quotes.now()
            observation = observer.observe(now, gateway.quotes.view)
        finally:
            connection.disconnect()
        details = frames(gateway, CONTRACT_DETAILS, "FUT")
        assert sorted(f[4] for f in details) == ["ES", "NQ", "RTY"]  # one request each
        streams = frames(gateway, REQ_MKT_DATA, "FUT")
        assert len(streams) == 3  # one market-data line per future
    readings = observation.readings
    assert {etf: r.local_symbol for etf, r in readings.items()} == {
        "SPY": "ESH6",
        "QQQ": "NQH6",
        "IWM": "RTYH6",
    }
    for etf, reading in readings.items():
        quote = gateway.quotes.quote(gateway_future(gateway, reading.local_symbol))
        assert (reading.bid, reading.ask) == (quote.bid, quote.ask)
        assert reading.price == pytest.approx((quote.bid + quote.ask) / 2)
        ratio = reading.price / gateway.quotes.view.underlyings[etf].mid
        assert {"SPY": 10, "QQQ": 41, "IWM": 10}[etf] * 0.99 < ratio
    row = next(r for r in observation.rows if r["symbol"] == "ES")
    assert row["local_symbol"] == "ESH6" and row["roll_ratio"] == 1.0


def test_a_roll_through_ib_reads_the_old_contract_once_more_then_drops_its_line():
    thursday = datetime(2026, 3, 12, 19, 0, tzinfo=UTC)  # ESH6 expires Friday 03-20
    with running_gateway(start=thursday) as gateway:
        connection, observer = observer_on(gateway)
        try:
            before = observer.observe(thursday, gateway.quotes.view)
            friday = step(gateway, timedelta(hours=19))  # Friday 14:00 UTC, roll day
            at_roll = observer.observe(friday, gateway.quotes.view)
            later = step(gateway)
            after = observer.observe(later, gateway.quotes.view)
            connection.pump(0.2)  # let the cancellations reach the gateway
        finally:
            connection.disconnect()
        old = gateway_future(gateway, "ESH6")
        cancelled = frames(gateway, CANCEL_MKT_DATA)
        streamed = frames(gateway, REQ_MKT_DATA, "FUT")
    assert before.readings["SPY"].local_symbol == "ESH6"
    assert at_roll.readings["SPY"].local_symbol == "ESM6"
    es_roll = next(r for r in at_roll.rows if r["symbol"] == "ES")
    assert 1.004 < es_roll["roll_ratio"] < 1.010  # June over March, same instant
    # The old contract's line is given back the cycle after the roll.
    assert len(streamed) == 3 + 3  # the three fronts, then the three new ones
    assert len(cancelled) == 3 and after.readings["SPY"].local_symbol == "ESM6"
    assert old.con_id not in {int(f[2]) for f in streamed[3:]}
    # Overnight from Thursday's close, on the ratio-adjusted series: no jump.
    overnight = at_roll.readings["SPY"].change_overnight
    assert overnight is None or abs(overnight) < 2.0


@pytest.mark.parametrize(
    "empty",
    [
        GatewayQuote(-1.0, -1.0, -1.0),  # IB's "no price"
        GatewayQuote(0.0, 0.0, 0.0),
        GatewayQuote(math.nan, math.nan, None),
        None,  # no ticks at all
        # An empty book with the session's last trade, as IB sends on every subscription:
        # the trade may be hours old while the stream's time says now.
        GatewayQuote(-1.0, -1.0, 5000.0),
    ],
    ids=["minus_one", "zero", "nan", "silent", "last_trade_only"],
)
def test_empty_ib_prices_are_missing_never_numbers_and_alert_only_while_cme_trades(empty):
    with running_gateway() as gateway:
        front = gateway_future(gateway, "ESH6")
        gateway.override_quote(front.con_id, empty)
        connection, observer = observer_on(gateway, stale_alert_cycles=2)
        try:
            now = gateway.quotes.now()
            cycles = [observer.observe(now, gateway.quotes.view)]
            for _ in range(2):
                now = step(gateway)
                cycles.append(observer.observe(now, gateway.quotes.view))
            gateway.clear_quote_override(front.con_id)
            gateway.push_quotes()
            now = step(gateway)
            back = observer.observe(now, gateway.quotes.view)
        finally:
            connection.disconnect()
    for observation in cycles:
        assert "SPY" not in observation.readings and {"QQQ", "IWM"} <= set(observation.readings)
        assert all(r["symbol"] != "ES" for r in observation.rows)
    assert [a.code for o in cycles for a in o.alerts] == ["futures_stale"]
    assert cycles[1].alerts[0].severity is Severity.WARNING
    assert back.readings["SPY"].price > 0
    assert [a.code for a in back.alerts] == ["futures_resumed"]


def test_no_fetch_and_no_stale_alarm_inside_the_maintenance_break():
    evening = datetime(2026, 1, 5, 21, 45, tzinfo=UTC)  # 16:45 ET, CME still trading
    with running_gateway(start=evening) as gateway:
        connection, observer = observer_on(gateway, stale_alert_cycles=1)
        try:
            first = observer.observe(evening, gateway.quotes.view)
            close = observer.observe(step(gateway), gateway.quotes.view)  # 17:00 ET
            # From here ES quotes IB's empty prices: an alarm on the first cycle it is read.
            empty = GatewayQuote(-1.0, -1.0, -1.0)
            gateway.override_quote(gateway_future(gateway, "ESH6").con_id, empty)
            in_break = [observer.observe(step(gateway), gateway.quotes.view) for _ in range(3)]
            now = step(gateway, timedelta(minutes=30))  # 18:15 ET, CME open again
            resumed = observer.observe(now, gateway.quotes.view)
        finally:
            connection.disconnect()
    assert len(first.rows) == 3 and close.fetched and len(close.rows) == 3
    assert [o.fetched for o in in_break] == [False, False, False]  # 17:15 to 17:45 ET
    assert all(o.alerts == [] and o.rows == [] for o in in_break)
    assert all(not r.market_open for o in in_break for r in o.readings.values())
    assert resumed.fetched and {r["symbol"] for r in resumed.rows} == {"NQ", "RTY"}
    assert [a.code for a in resumed.alerts] == ["futures_stale"]


def test_paper_engine_writes_futures_snapshots_from_ib(tmp_path):
    with running_gateway() as gateway:
        cfg = paper_config(tmp_path / "store", gateway.port)
        engine, clock = ib_engine(cfg)
        try:
            run_cycles(engine, clock, gateway, 2)
        finally:
            engine.close()
        # A restart takes up the stored snapshots: the next changes look back at them.
        again, _ = ib_engine(cfg)
        try:
            assert again.futures.tracker.last_contract("ES") == "ESH6"
        finally:
            again.close()
    rows = table(cfg, "futures_snapshots")
    assert len(rows) == 6
    assert set(rows.local_symbol) == {"ESH6", "NQH6", "RTYH6"}
    assert (rows.price > 0).all() and rows.etf_price.notna().all()
    assert set(rows.etf) == {"SPY", "QQQ", "IWM"}
