"""What IB reports late, out of band, or differently than it did live (issue 9), with the
engine wired for paper mode, the real ib_async client and the fake gateway:

- a commission report that comes after the fill was booked (seconds later, after a
  reconnect, after a gateway or V6 restart) or never;
- an order that comes back through IB's completed orders, where ib_async leaves
  ``orderStatus.filled`` at 0 and the quantity is in ``order.filledQuantity``;
- the time of a fill: IB's execution time, live or recovered.
"""

from __future__ import annotations

import logging
import time

import attrs
import pytest
from ib_harness import (
    START,
    STEP,
    advance,
    assert_sound,
    ib_engine,
    paper_config,
    run_cycles,
    running_gateway,
)
from sessions import table

from v6.config import PluginBlock
from v6.domain.orders import BrokerUpdate
from v6.store.rows import orders_from_frame, positions_from_frame

pytestmark = pytest.mark.slow

PER_CONTRACT = 2.60  # what IB charged per leg in issue 9
ALERT_SECONDS = 3.0  # ib.commission_alert_seconds in these tests


@pytest.fixture(autouse=True)
def quiet_ib_async(caplog):
    caplog.set_level(logging.CRITICAL, logger="ib_async")


@pytest.fixture
def gateway():
    with running_gateway() as gw:
        gw.commission_per_contract = PER_CONTRACT
        yield gw


def spy_config(tmp_path, gateway, quantity: int = 1, **ib):
    """One iron condor on SPY at most, so every test knows exactly what was sent."""
    cfg = paper_config(tmp_path / "store", gateway.port, **ib)
    strategy = {"min_dte": 14, "max_dte": 45, "quantity": quantity}
    return attrs.evolve(
        cfg,
        underlyings=["SPY"],
        plugins=attrs.evolve(cfg.plugins, strategies={"iron_condor": PluginBlock(strategy)}),
        limits=attrs.evolve(cfg.limits, max_open_positions=1),
    )


@pytest.fixture
def session(tmp_path, gateway):
    cfg = spy_config(tmp_path, gateway, commission_alert_seconds=ALERT_SECONDS)
    engine, clock = ib_engine(cfg)
    yield cfg, engine, clock
    engine.close()


def updates_of(engine) -> list[BrokerUpdate]:
    """Every update the engine receives from its broker from now on."""
    seen: list[BrokerUpdate] = []
    poll = engine.broker.poll

    def recorded(market):
        update = poll(market)
        seen.append(update)
        return update

    engine.broker.poll = recorded
    return seen


def wait(engine, seconds: float) -> None:
    """Real time passing while the client keeps processing messages."""
    engine.market.connection.pump(seconds)


def wait_for_reports(engine, timeout: float = 10.0) -> None:
    """Until every leg execution the client knows has its commission report."""
    deadline = time.monotonic() + timeout
    while True:
        fills = [f for f in engine.broker.ib.fills() if f.contract.secType == "OPT"]
        if fills and all(f.commissionReport.execId for f in fills):
            return
        assert time.monotonic() < deadline, "commission reports did not arrive"
        wait(engine, 0.05)


def book_without_commissions(engine, clock, gateway) -> None:
    """Cycles until the fills are booked without their (withheld or late) commission:
    a fill is held back ``order_ack_seconds`` for its report, then booked without."""
    run_cycles(engine, clock, gateway, 1)
    wait(engine, engine.broker.connection.settings.order_ack_seconds + 0.1)
    run_cycles(engine, clock, gateway, 1)
    fills = table_fills(engine)
    assert len(fills[fills.kind == "trade"]) == 4
    assert (fills.commission == 0.0).all()


def table_fills(engine):
    engine.recorder.flush()
    return table(engine.config, "fills")


def leg_executions(gateway) -> dict:
    return {e.exec_id: e for o in gateway.orders.values() for e in o.leg_executions}


def assert_commissions_corrected(cfg, engine, gateway) -> None:
    """Each leg's trade row without commission plus one correction row of IB's 2.60
    (its cash flow included), the position's commissions in the book and the positions
    table following, and nothing booked twice."""
    fills = table_fills(engine)
    corrections = fills[fills.kind == "commission"].set_index("exec_id")
    executions = leg_executions(gateway)
    assert len(executions) == 4
    assert set(corrections.index) == {f"{e}:commission" for e in executions}
    assert (corrections.commission == PER_CONTRACT).all()
    assert (corrections.quantity == 0).all() and (corrections.price == 0.0).all()
    assert (corrections.cash_flow == -PER_CONTRACT).all()
    for exec_id, execution in executions.items():
        # Stamped with the execution's time: the commission belongs to that trade.
        assert corrections.loc[f"{exec_id}:commission", "time"] == execution.time
    (position,) = engine.book.positions()
    assert position.commissions == pytest.approx(4 * PER_CONTRACT)
    latest = positions_from_frame(table(cfg, "positions"))
    assert [p.commissions for p in latest] == [pytest.approx(4 * PER_CONTRACT)]
    assert_sound(cfg, engine, gateway)


# -- commissions ----------------------------------------------------------------------------


def test_a_commission_report_later_than_the_order_ack_is_booked_as_a_correction(session, gateway):
    cfg, engine, clock = session
    gateway.commission_delay_seconds = 5.0  # order_ack_seconds is 1.0
    book_without_commissions(engine, clock, gateway)
    wait_for_reports(engine)
    run_cycles(engine, clock, gateway, 1)
    assert_commissions_corrected(cfg, engine, gateway)
    assert engine.broker.account(engine.market.snapshot(clock.now())).commissions == (
        pytest.approx(4 * PER_CONTRACT)
    )
    run_cycles(engine, clock, gateway, 2)  # later polls book nothing more
    assert_commissions_corrected(cfg, engine, gateway)


def test_a_commission_that_never_comes_is_alerted_once_and_still_booked_if_it_comes(
    session, gateway
):
    cfg, engine, clock = session
    updates = updates_of(engine)
    gateway.withhold_commissions = True
    book_without_commissions(engine, clock, gateway)
    assert not [a for u in updates for a in u.alerts]  # not yet: the window is 3 s
    wait(engine, ALERT_SECONDS)
    run_cycles(engine, clock, gateway, 2)
    alerts = [a for u in updates for a in u.alerts]
    assert [(a.severity.value, a.source, a.code) for a in alerts] == [
        ("warning", "broker", "commission_missing")
    ]  # one alert for the order's four executions, not repeated
    (order,) = gateway.orders.values()
    assert order.order_ref in alerts[0].message
    assert all(e in alerts[0].message for e in leg_executions(gateway))
    assert (table_fills(engine).commission == 0.0).all()

    gateway.release_commissions()  # much later, IB sends them after all
    wait_for_reports(engine)
    run_cycles(engine, clock, gateway, 1)
    assert_commissions_corrected(cfg, engine, gateway)
    late = [a for u in updates for a in u.alerts][1:]
    assert [a.code for a in late] == ["commission_received"] * 4


def test_a_commission_report_of_a_different_amount_is_booked_as_the_difference(session, gateway):
    """A fill booked with a commission later reported differently (IB revises a report,
    or the run before a restart booked a partial amount) books only the difference."""
    cfg, engine, clock = session
    run_cycles(engine, clock, gateway, 1)
    fills = table_fills(engine)
    assert (fills.commission == PER_CONTRACT).all() and len(fills) == 4
    (order,) = gateway.orders.values()
    first = order.leg_executions[0]
    gateway.revise_commission(first.exec_id, 3.10)
    wait(engine, 0.2)
    run_cycles(engine, clock, gateway, 2)
    fills = table_fills(engine).set_index("exec_id")
    assert fills.loc[f"{first.exec_id}:commission", "commission"] == pytest.approx(0.50)
    assert (fills.kind == "commission").sum() == 1
    assert engine.book.positions()[0].commissions == pytest.approx(3 * PER_CONTRACT + 3.10)
    assert_sound(cfg, engine, gateway)


def test_a_corrected_execution_reverses_its_late_commission_too(session, gateway):
    cfg, engine, clock = session
    gateway.withhold_commissions = True
    book_without_commissions(engine, clock, gateway)
    gateway.release_commissions()
    wait_for_reports(engine)
    run_cycles(engine, clock, gateway, 1)  # the late commissions, as corrections
    (order,) = gateway.orders.values()
    original = order.leg_executions[0]
    corrected = gateway.correct_execution(original.exec_id, round(original.price + 0.05, 2))
    wait(engine, 0.2)
    run_cycles(engine, clock, gateway, 1)
    fills = table_fills(engine).set_index("exec_id")
    # The reversal takes back everything booked for the original: its trade row's 0.00
    # and the 2.60 that came late; the corrected execution brings its own 2.60.
    assert fills.loc[f"{original.exec_id}:reversed", "commission"] == -PER_CONTRACT
    assert fills.loc[corrected, "commission"] == PER_CONTRACT
    leg = fills[fills.contract_key == fills.loc[corrected, "contract_key"]]
    assert leg.commission.sum() == pytest.approx(PER_CONTRACT)
    assert engine.book.positions()[0].commissions == pytest.approx(4 * PER_CONTRACT)
    assert_sound(cfg, engine, gateway)


@pytest.mark.parametrize(
    ("fault", "released_while_down"),
    [("drop_connections", True), ("drop_connections", False), ("restart", True)],
)
def test_a_commission_after_a_reconnect_is_booked_once(
    session, gateway, fault, released_while_down
):
    cfg, engine, clock = session
    gateway.withhold_commissions = True
    book_without_commissions(engine, clock, gateway)
    gateway.run(getattr(gateway, fault)())  # between the executions and their reports
    if released_while_down:
        gateway.release_commissions()  # then they come with the executions on reconnect
    run_cycles(engine, clock, gateway, 1)
    assert engine.broker.connected
    if not released_while_down:
        gateway.release_commissions()  # pushed live to the new connection
        wait_for_reports(engine)
    run_cycles(engine, clock, gateway, 2)
    assert_commissions_corrected(cfg, engine, gateway)


def test_a_commission_that_comes_while_v6_is_down_is_booked_once_after_restarts(tmp_path, gateway):
    cfg = spy_config(tmp_path, gateway, commission_alert_seconds=ALERT_SECONDS)
    gateway.withhold_commissions = True
    engine, clock = ib_engine(cfg)
    try:
        book_without_commissions(engine, clock, gateway)
    finally:
        engine.close()  # V6 stops between the executions and their commission reports

    engine, clock = ib_engine(cfg)  # recovery: the fills are booked, without commission
    try:
        updates = updates_of(engine)
        run_cycles(engine, clock, gateway, 1)
        assert (table_fills(engine).kind == "trade").all()
        wait(engine, ALERT_SECONDS)
        run_cycles(engine, clock, gateway, 1)
        alerts = [a.code for u in updates for a in u.alerts]
        assert alerts == ["commission_missing"]  # still owed after the restart
        gateway.release_commissions()
        wait_for_reports(engine)
        run_cycles(engine, clock, gateway, 1)
        assert_commissions_corrected(cfg, engine, gateway)
    finally:
        engine.close()

    # Restarted again: IB resends the reports with the executions; what was corrected
    # before is not corrected twice, and the position's commissions are replayed whole.
    engine, clock = ib_engine(cfg)
    try:
        (position,) = engine.book.positions()
        assert position.commissions == pytest.approx(4 * PER_CONTRACT)
        run_cycles(engine, clock, gateway, 2)
        assert_commissions_corrected(cfg, engine, gateway)
    finally:
        engine.close()


def test_a_commission_released_before_a_restart_is_corrected_by_the_next_run(tmp_path, gateway):
    cfg = spy_config(tmp_path, gateway)
    gateway.withhold_commissions = True
    engine, clock = ib_engine(cfg)
    try:
        book_without_commissions(engine, clock, gateway)
    finally:
        engine.close()
    gateway.release_commissions()  # while V6 is down
    engine, clock = ib_engine(cfg)
    try:
        run_cycles(engine, clock, gateway, 1)
        assert_commissions_corrected(cfg, engine, gateway)
    finally:
        engine.close()


# -- completed orders ---------------------------------------------------------------------


def last_state(cfg, order_ref: str):
    stored = [o.state for o in orders_from_frame(table(cfg, "orders"))]
    return [s for s in stored if s.order_ref == order_ref][-1]


def test_an_order_filled_while_disconnected_is_stored_with_its_filled_quantity(session, gateway):
    cfg, engine, clock = session
    gateway.fill_next("hold")
    run_cycles(engine, clock, gateway, 1)
    (order,) = gateway.orders.values()
    gateway.run(gateway.drop_connections())
    gateway.release(order.order_id)  # fills while V6 is away: IB's completed orders
    run_cycles(engine, clock, gateway, 2)
    state = last_state(cfg, order.order_ref)
    assert (state.status.value, state.filled_quantity, state.remaining_quantity) == (
        "filled",
        1,
        0,
    )
    assert state.avg_fill_price == pytest.approx(order.avg_fill_price)  # from the legs
    assert state.broker_order_id == str(order.order_id)
    (position,) = engine.book.positions()
    assert (position.status.value, position.quantity) == ("open", 1)
    assert_sound(cfg, engine, gateway)


def test_an_order_cancelled_by_ib_while_disconnected_keeps_its_partial_fill(tmp_path, gateway):
    cfg = spy_config(tmp_path, gateway, quantity=2)
    engine, clock = ib_engine(cfg)
    try:
        gateway.fill_next("partial", units=1)
        run_cycles(engine, clock, gateway, 1)
        (order,) = gateway.orders.values()
        gateway.run(gateway.drop_connections())
        gateway.cancel_at_broker(order.order_id)  # e.g. TWS cancels a DAY order
        run_cycles(engine, clock, gateway, 2)
        state = last_state(cfg, order.order_ref)
        assert (state.status.value, state.filled_quantity) == ("cancelled", 1)
        assert "order_rejected" not in set(table(cfg, "alerts").code)
        (position,) = engine.book.positions()
        assert (position.status.value, position.quantity) == ("open", 1)
        assert_sound(cfg, engine, gateway)
    finally:
        engine.close()


def test_an_unfilled_order_cancelled_by_ib_while_disconnected_is_not_a_rejection(session, gateway):
    cfg, engine, clock = session
    gateway.fill_next("none")
    run_cycles(engine, clock, gateway, 1)
    (order,) = gateway.orders.values()
    gateway.run(gateway.drop_connections())
    gateway.cancel_at_broker(order.order_id)
    run_cycles(engine, clock, gateway, 1)
    state = last_state(cfg, order.order_ref)
    assert (state.status.value, state.filled_quantity) == ("cancelled", 0)
    assert "while V6 was away" in state.message
    assert "order_rejected" not in set(table(cfg, "alerts").code)
    latest = {p.position_id: p for p in positions_from_frame(table(cfg, "positions"))}
    first = latest[order.order_ref.split(":")[0]]
    assert (first.status.value, first.exit_rule) == ("closed", "unfilled")


def test_an_order_filled_while_v6_was_down_is_adopted_with_its_filled_quantity(tmp_path, gateway):
    cfg = spy_config(tmp_path, gateway)
    gateway.fill_next("hold")
    engine, clock = ib_engine(cfg)
    try:
        run_cycles(engine, clock, gateway, 1)
    finally:
        engine.close()
    (order,) = gateway.orders.values()
    gateway.release(order.order_id)
    advance(gateway)
    engine, clock = ib_engine(cfg)  # recovery adopts it from IB's completed orders
    try:
        run_cycles(engine, clock, gateway, 2)
        state = last_state(cfg, order.order_ref)
        assert (state.status.value, state.filled_quantity) == ("filled", 1)
        assert state.avg_fill_price == pytest.approx(order.avg_fill_price)
        (position,) = engine.book.positions()
        assert (position.status.value, position.quantity) == ("open", 1)
        assert_sound(cfg, engine, gateway)
    finally:
        engine.close()


def test_a_partly_booked_order_completed_while_v6_was_down_counts_every_unit(tmp_path, gateway):
    """One unit's fills were booked before the restart, the other filled while V6 was
    down: the completed order's two units are settled, not held back for fills that
    were booked by the previous run."""
    cfg = spy_config(tmp_path, gateway, quantity=2)
    gateway.fill_next("partial", units=1)
    engine, clock = ib_engine(cfg)
    try:
        run_cycles(engine, clock, gateway, 1)
    finally:
        engine.close()
    (order,) = gateway.orders.values()
    gateway.release(order.order_id)
    engine, clock = ib_engine(cfg)
    try:
        run_cycles(engine, clock, gateway, 2)
        state = last_state(cfg, order.order_ref)
        assert (state.status.value, state.filled_quantity) == ("filled", 2)
        (position,) = engine.book.positions()
        assert (position.status.value, position.quantity) == ("open", 2)
        assert_sound(cfg, engine, gateway)
    finally:
        engine.close()


# -- execution times ----------------------------------------------------------------------


def test_fills_carry_ibs_execution_time_live_and_after_a_reconnect(tmp_path, gateway):
    cfg = spy_config(tmp_path, gateway, quantity=2)
    engine, clock = ib_engine(cfg)
    try:
        gateway.fill_next("partial", units=1)
        run_cycles(engine, clock, gateway, 1)  # one unit filled live
        live = set(leg_executions(gateway))
        gateway.run(gateway.drop_connections())
        advance(gateway)
        (order,) = gateway.orders.values()
        gateway.release(order.order_id)  # the other while V6 is disconnected
        run_cycles(engine, clock, gateway, 2)
        executions = leg_executions(gateway)
        recovered = set(executions) - live
        assert len(live) == len(recovered) == 4
        fills = table_fills(engine).set_index("exec_id")
        assert set(fills.index) == set(executions)
        for exec_id, execution in executions.items():
            assert fills.loc[exec_id, "time"] == execution.time, exec_id
        # IB's times, the simulated market's: not when the client happened to read them.
        assert {executions[e].time for e in live} == {START}
        assert {executions[e].time for e in recovered} == {START + 2 * STEP}
        assert_sound(cfg, engine, gateway)
    finally:
        engine.close()


def test_a_late_commission_for_a_position_closed_before_a_restart_lands_on_that_position(
    tmp_path, gateway
):
    """The position opened and closed, V6 stopped, and only then did IB send the
    commissions: the restart no longer holds the closed position, yet each correction is
    booked onto it (its P&L is its fills' cash again), never left unattributed."""
    cfg = spy_config(tmp_path, gateway)
    rules = dict(cfg.plugins.exit_rules)
    rules["days_to_expiry"] = PluginBlock({"close_at_dte": 60, "itm_close_dte": 60})
    cfg = attrs.evolve(cfg, plugins=attrs.evolve(cfg.plugins, exit_rules=rules))
    gateway.withhold_commissions = True
    engine, clock = ib_engine(cfg)
    try:
        for _ in range(6):
            run_cycles(engine, clock, gateway, 1)
            wait(engine, engine.broker.connection.settings.order_ack_seconds + 0.1)
            if any(p.status.value == "closed" for p in engine.book.positions()):
                break
        (closed,) = [p for p in engine.book.positions() if p.status.value == "closed"]
    finally:
        engine.close()
    gateway.release_commissions()  # while V6 is down
    engine, clock = ib_engine(cfg)
    try:
        assert closed.position_id not in {p.position_id for p in engine.book.positions()}
        run_cycles(engine, clock, gateway, 2)
    finally:
        engine.close()
    fills = table(cfg, "fills")
    mine = fills[fills.position_id == closed.position_id]
    assert len(mine[mine.kind == "commission"]) == 8  # four legs opened, four closed
    assert "unattributed_fill" not in set(table(cfg, "alerts")["code"])
    stored = positions_from_frame(table(cfg, "positions"))
    (latest,) = [p for p in stored if p.position_id == closed.position_id]
    assert latest.status.value == "closed"
    assert latest.commissions == pytest.approx(8 * PER_CONTRACT)
    assert latest.realized_pnl == pytest.approx(round(mine.cash_flow.sum(), 2), abs=0.005)
