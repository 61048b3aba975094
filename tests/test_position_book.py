"""The position book attributes every fill to the order, and so the strategy, it belongs to."""

from __future__ import annotations

import pytest
from builders import NOW, contract, iron_condor

from v6.domain.contracts import Leg
from v6.domain.orders import ComboOrder, Fill, OrderIntent
from v6.domain.positions import PositionStatus
from v6.engine.book import PositionBook


def order(position_id, legs, intent=OrderIntent.OPEN, qty=1, suffix="open"):
    return ComboOrder(
        order_ref=f"{position_id}:{suffix}",
        position_id=position_id,
        strategy="s",
        underlying="SPY",
        intent=intent,
        legs=legs,
        quantity=qty,
        limit_price=-1.0,
    )


def fills_for(o, prices, units=None, commission=0.65):
    units = units or o.quantity
    return [
        Fill(
            exec_id=f"{o.order_ref}:{i}",
            order_ref=o.order_ref,
            contract=leg.contract,
            quantity=leg.ratio * units,
            price=p,
            commission=commission * units,
            time=NOW,
        )
        for i, (leg, p) in enumerate(zip(o.legs, prices, strict=True))
    ]


def open_condor(book, pid="ic-1", strategy="iron_condor", qty=2):
    legs = iron_condor()
    book.open_position(pid, strategy, "SPY", "iron_condor", legs, NOW)
    o = order(pid, legs, qty=qty)
    book.track_order(o)
    for f in fills_for(o, [0.50, 1.20, 1.10, 0.40]):
        book.apply_fill(f)
    book.order_done(o.order_ref, NOW)
    return legs


def test_filled_condor_opens_with_entry_credit_and_defined_risk():
    book = PositionBook()
    open_condor(book)
    p = book.position("ic-1")
    assert p.status is PositionStatus.OPEN
    assert p.quantity == 2
    assert p.entry_price == pytest.approx(-1.40)  # 0.50 - 1.20 - 1.10 + 0.40
    assert p.max_profit == pytest.approx(1.40 * 100 * 2)
    assert p.max_loss == pytest.approx((5 - 1.40) * 100 * 2)
    assert p.commissions == pytest.approx(4 * 0.65 * 2)


def test_closing_realizes_exactly_the_cash_of_its_fills():
    book = PositionBook()
    legs = open_condor(book)
    close = order(
        "ic-1",
        tuple(Leg(leg.contract, -leg.ratio) for leg in legs),
        OrderIntent.CLOSE,
        qty=2,
        suffix="close",
    )
    book.track_order(close)
    assert book.position("ic-1").status is PositionStatus.CLOSING
    close_fills = fills_for(close, [0.10, 0.30, 0.25, 0.05])
    for f in close_fills:
        book.apply_fill(f)
    book.order_done(close.order_ref, NOW)
    p = book.position("ic-1")
    assert p.status is PositionStatus.CLOSED
    assert p.quantity == 0
    assert p.exit_price == pytest.approx(0.40)
    # credit 1.40, debit 0.40 -> 1.00 x 100 x 2 = 200, less 16 contracts x 0.65 x ... commissions
    assert p.realized_pnl == pytest.approx(200 - p.commissions)
    assert book.net_contracts() == {}


def test_two_strategies_in_one_account_each_own_their_fills():
    book = PositionBook()
    open_condor(book, "a", "iron_condor", qty=1)
    legs = (Leg(contract(95, "P"), -1), Leg(contract(90, "P"), 1))  # same contracts
    book.open_position("b", "bull_put_spread", "SPY", "bull_put_spread", legs, NOW)
    o = order("b", legs, qty=3)
    book.track_order(o)
    for f in fills_for(o, [1.20, 0.50]):
        book.apply_fill(f)
    book.order_done(o.order_ref, NOW)
    assert book.position("a").quantity == 1
    assert book.position("b").quantity == 3
    assert book.position("b").strategy == "bull_put_spread"
    assert book.net_contracts()[contract(95, "P").key] == -4


def test_a_legged_entry_is_reported_as_an_imbalance_that_only_closes_exposure():
    book = PositionBook()
    legs = (Leg(contract(95, "P"), -1), Leg(contract(90, "P"), 1))
    book.open_position("v", "bull_put_spread", "SPY", "bull_put_spread", legs, NOW)
    o = order("v", legs, qty=2)
    book.track_order(o)
    short_only = fills_for(o, [1.20, 0.50])[0]  # the short put filled, the wing did not
    book.apply_fill(short_only)
    book.order_done(o.order_ref, NOW)
    fixes = book.imbalance("v")
    assert fixes == (Leg(contract(95, "P"), 2),)  # buy back both naked shorts
    assert book.quantity("v") == 0


def test_fills_of_orders_v6_did_not_send_are_not_booked():
    book = PositionBook()
    stray = Fill("x1", "someone-else", contract(95, "P"), -1, 1.0, 0.65, NOW)
    assert book.apply_fill(stray) == []
    assert book.net_contracts() == {}


def test_expiration_is_shared_among_the_positions_holding_the_contract():
    book = PositionBook()
    open_condor(book, "a", qty=1)
    open_condor(book, "b", qty=2)
    settle = Fill("exp1", "expiration", contract(95, "P"), 3, 0.0, 0.0, NOW, kind="expiration")
    parts = book.apply_fill(settle)
    assert sorted((pid, f.quantity) for pid, f in parts) == [("a", 1), ("b", 2)]
    assert contract(95, "P").key not in book.net_contracts()


def test_a_fill_for_a_position_settled_closed_reopens_it_and_counts_again():
    """An entry settled as "unfilled" (no fills seen) whose fills then arrive: the
    position is live again, holds the contracts, and V6's net holdings show them, so
    reconciliation with the broker agrees and exit rules watch it."""
    book = PositionBook()
    legs = iron_condor()
    book.open_position("ic-1", "iron_condor", "SPY", "iron_condor", legs, NOW)
    o = order("ic-1", legs)
    book.track_order(o)
    book.order_done(o.order_ref, NOW)
    assert book.position("ic-1").status is PositionStatus.CLOSED
    assert book.position("ic-1").exit_rule == "unfilled"
    assert book.net_contracts() == {}
    for f in fills_for(o, [0.50, 1.20, 1.10, 0.40]):
        book.apply_fill(f)
    assert book.take_reopened() == ["ic-1"]
    book.settle_if_idle("ic-1", NOW)
    p = book.position("ic-1")
    assert p.status is PositionStatus.OPEN and p.quantity == 1
    assert p.exit_rule == "" and p.closed_at is None
    assert book.net_contracts() == {leg.contract.key: leg.ratio for leg in legs}
    assert book.take_reopened() == []


def test_a_late_commission_for_a_closed_position_corrects_its_pnl_without_reopening_it():
    book = PositionBook()
    legs = open_condor(book, qty=1)
    close = order(
        "ic-1",
        tuple(Leg(leg.contract, -leg.ratio) for leg in legs),
        OrderIntent.CLOSE,
        suffix="close:1",
    )
    book.track_order(close)
    for f in fills_for(close, [0.20, 0.60, 0.50, 0.10], commission=0.0):
        book.apply_fill(f)
    book.order_done(close.order_ref, NOW)
    before = book.position("ic-1")
    assert before.status is PositionStatus.CLOSED
    correction = Fill(
        exec_id=f"{close.order_ref}:0:commission",
        order_ref=close.order_ref,
        contract=legs[0].contract,
        quantity=0,
        price=0.0,
        commission=2.60,
        time=NOW,
        kind="commission",
    )
    book.apply_fill(correction)
    after = book.position("ic-1")
    assert after.status is PositionStatus.CLOSED and book.take_reopened() == []
    assert after.realized_pnl == pytest.approx(before.realized_pnl - 2.60)
    assert after.commissions == pytest.approx(before.commissions + 2.60)


def test_snapshots_asked_after_every_event_match_a_book_asked_only_once():
    """The book keeps each position's snapshot until its ledger changes: after every kind
    of event (open, partial fill, close order, exit rule, partial close, expiration, a
    late fill reopening it), what it answers equals what a book that was never asked
    before answers, and its live positions are the not-closed ones, in book order."""
    legs = iron_condor()
    entry = order("ic-1", legs, qty=2)
    close = order(
        "ic-1",
        tuple(Leg(leg.contract, -leg.ratio) for leg in legs),
        OrderIntent.CLOSE,
        qty=2,
        suffix="close:1",
    )
    entry_fills = fills_for(entry, [0.50, 1.20, 1.10, 0.40], units=1)
    more = [
        Fill(f"{f.exec_id}:b", f.order_ref, f.contract, f.quantity, f.price, f.commission, NOW)
        for f in entry_fills
    ]
    close_fills = fills_for(close, [0.20, 0.60, 0.50, 0.10], units=1)
    expiry_put = Fill("exp1", "expiration", legs[0].contract, -1, 0.0, 0.0, NOW, kind="expiration")
    events = [
        lambda b: b.open_position("other", "s2", "SPY", "iron_condor", legs, NOW),
        lambda b: b.open_position("ic-1", "iron_condor", "SPY", "iron_condor", legs, NOW),
        lambda b: b.track_order(entry),
        *[lambda b, f=f: b.apply_fill(f) for f in entry_fills],
        *[lambda b, f=f: b.apply_fill(f) for f in more],
        lambda b: b.order_done(entry.order_ref, NOW),
        lambda b: b.note_exit("ic-1", "stop_loss"),
        lambda b: b.track_order(close),
        *[lambda b, f=f: b.apply_fill(f) for f in close_fills],
        lambda b: b.order_done(close.order_ref, NOW),
        lambda b: b.apply_fill(expiry_put),
        lambda b: b.settle_if_idle("ic-1", NOW),
    ]
    asked = PositionBook()
    seen = set()
    for done in range(1, len(events) + 1):
        events[done - 1](asked)
        fresh = PositionBook()
        for event in events[:done]:
            event(fresh)
        for pid in ("other", "ic-1"):
            if fresh.knows(pid):
                assert asked.position(pid) == fresh.position(pid), (done, pid)
        live = [PositionStatus.OPENING, PositionStatus.OPEN, PositionStatus.CLOSING]
        assert asked.positions(live) == [p for p in fresh.positions() if p.status in live]
        assert asked.net_contracts() == fresh.net_contracts()
        if asked.knows("ic-1"):
            p = asked.position("ic-1")
            seen.add((p.status, p.quantity, p.exit_rule))
    # The events took the position through every state a snapshot can go stale in.
    assert {(s, q) for s, q, _ in seen} >= {
        (PositionStatus.OPENING, 0),
        (PositionStatus.OPENING, 1),
        (PositionStatus.OPEN, 2),
        (PositionStatus.CLOSING, 2),
        (PositionStatus.CLOSING, 1),
        (PositionStatus.OPEN, 1),
        (PositionStatus.OPEN, 0),
    }
    assert any(rule == "stop_loss" for _, _, rule in seen)
