"""The simulated broker: acknowledgement, matching, leg prices, money, margin, faults."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta

import attrs
import numpy as np
import pytest

from v6.brokers.sim import SimBroker, split_combo_price
from v6.config import SimBrokerSettings
from v6.domain.contracts import Leg, OptionContract, Right
from v6.domain.market import MarketView, OptionChain, UnderlyingQuote
from v6.domain.orders import ComboOrder, Fill, OrderStatus

NOW = datetime(2026, 1, 6, 15, 0, tzinfo=UTC)
EXPIRY = date(2026, 1, 30)
# (strike, right) -> (bid, ask). Iron condor 90/95/105/110: net mid -1.20, natural -1.00.
QUOTES: dict[tuple[float, str], tuple[float, float]] = {
    (90, "P"): (0.40, 0.50),
    (95, "P"): (1.00, 1.10),
    (100, "P"): (2.40, 2.50),
    (100, "C"): (2.45, 2.55),
    (105, "C"): (0.95, 1.05),
    (110, "C"): (0.35, 0.45),
}


def view(
    quotes: Mapping[tuple[float, str], tuple[float, float]] = QUOTES,
    now: datetime = NOW,
    spot: float = 100.0,
    invalid: tuple[tuple[float, str], ...] = (),
    market_open: bool = True,
) -> MarketView:
    keys = list(quotes)
    n = len(keys)
    chain = OptionChain(
        underlying="SPY",
        as_of=now,
        spot=spot,
        expiry=np.full(n, np.datetime64(EXPIRY, "D")),
        strike=[k for k, _ in keys],
        is_call=[r == "C" for _, r in keys],
        bid=[quotes[k][0] for k in keys],
        ask=[quotes[k][1] for k in keys],
        iv=np.full(n, 0.2),
        delta=np.zeros(n),
        gamma=np.zeros(n),
        vega=np.zeros(n),
        theta=np.zeros(n),
        quote_time=np.full(n, np.datetime64(now.replace(tzinfo=None), "us")),
        valid=[k not in invalid for k in keys],
    )
    quote = UnderlyingQuote("SPY", spot - 0.01, spot + 0.01, spot, now)
    return MarketView(
        time=now,
        underlyings={"SPY": quote},
        chains={"SPY": chain},
        vix=16.0,
        market_open=market_open,
    )


def option(strike: float, right: str, underlying: str = "SPY") -> OptionContract:
    return OptionContract(underlying=underlying, expiry=EXPIRY, strike=strike, right=Right(right))


IRON_CONDOR = (
    Leg(option(90, "P"), 1),
    Leg(option(95, "P"), -1),
    Leg(option(105, "C"), -1),
    Leg(option(110, "C"), 1),
)
PUT_SPREAD = (Leg(option(90, "P"), 1), Leg(option(95, "P"), -1))


def order(
    ref: str = "ic-1",
    limit: float = -1.15,
    quantity: int = 1,
    legs: tuple[Leg, ...] = IRON_CONDOR,
    intent: str = "open",
    created_at: datetime | None = NOW,
) -> ComboOrder:
    return ComboOrder(
        order_ref=ref,
        position_id="p1",
        strategy="iron_condor",
        underlying="SPY",
        intent=intent,
        legs=legs,
        quantity=quantity,
        limit_price=limit,
        created_at=created_at,
    )


def broker(cash: float = 100_000.0, seed: int = 1, **settings: float | str) -> SimBroker:
    # These tests are about matching, leg prices, money and margin: a limit at mid fills
    # at once. The liquidity fill model has its own tests (test_sim_fill_model.py).
    base = {"commission_per_contract": 0.65, "fill_model": "immediate_mid", **settings}
    return SimBroker(SimBrokerSettings(**base), cash, seed)


def cents(x: float) -> int:
    return round(x * 100)


def marked_value(b: SimBroker, quotes: Mapping[tuple[float, str], tuple[float, float]]) -> float:
    """Positions at mid, computed here from the quotes rather than by the broker."""
    mids = {option(k, r).key: (bid + ask) / 2 for (k, r), (bid, ask) in quotes.items()}
    return sum(p.quantity * mids[p.contract_key] * 100 for p in b.positions())


# -- acknowledgement and idempotency -----------------------------------------------------


def test_placing_the_same_order_ref_twice_never_duplicates_it():
    b = broker()
    first = b.place(order())
    again = b.place(order(limit=-1.10))
    assert first.status is OrderStatus.SUBMITTED
    assert again.broker_order_id == first.broker_order_id
    assert again.limit_price == -1.15
    assert len(b.open_orders()) == 1
    update = b.poll(view())
    assert len(update.fills) == 4
    assert {p.quantity for p in b.positions()} == {1, -1}
    assert b.place(order()).status is OrderStatus.FILLED
    assert b.poll(view()).fills == ()


# -- matching ------------------------------------------------------------------------------


def test_marketable_order_fills_at_its_limit_and_not_better():
    b = broker()
    b.place(order(limit=-1.15, quantity=2))
    update = b.poll(view())
    (state,) = update.states
    assert state.status is OrderStatus.FILLED
    assert state.filled_quantity == 2 and state.remaining_quantity == 0
    assert state.avg_fill_price == pytest.approx(-1.15)
    assert b.open_orders() == []
    cost = {p.contract_key: p.avg_cost for p in b.positions()}
    assert cost == {f.contract.key: f.price for f in update.fills}


def test_order_below_the_mid_does_not_fill_and_keeps_working():
    b = broker()
    b.place(order(limit=-1.25))
    update = b.poll(view())
    assert update.fills == () and update.states == ()
    assert [s.status for s in b.open_orders()] == [OrderStatus.SUBMITTED]


def test_fill_threshold_requires_a_share_of_the_half_spread_beyond_mid():
    # Net mid -1.20, net half-spread 0.20: at 0.5 half-spreads the limit must be >= -1.10.
    b = broker(fill_threshold_half_spreads=0.5)
    b.place(order("a", limit=-1.11))
    b.place(order("b", limit=-1.10))
    update = b.poll(view())
    assert {f.order_ref for f in update.fills} == {"b"}


def test_modify_makes_a_resting_order_marketable_and_it_fills_at_the_new_limit():
    b = broker()
    b.place(order(limit=-1.30))
    assert b.poll(view()).fills == ()
    state = b.modify("ic-1", -1.18)
    assert state.limit_price == -1.18 and state.status is OrderStatus.SUBMITTED
    update = b.poll(view())
    assert update.states[0].avg_fill_price == pytest.approx(-1.18)


def test_modify_off_the_cent_is_refused_and_the_old_limit_keeps_working():
    b = broker()
    b.place(order(limit=-1.30))
    state = b.modify("ic-1", -1.185)
    assert "whole cent" in state.message
    assert state.limit_price == -1.30
    assert state.status is OrderStatus.SUBMITTED


@pytest.mark.parametrize(
    "limit",
    [-1.20, -1.19, -1.00, -0.37, 0.0, 2.13],
    ids=["at-mid", "a-cent-over", "natural", "beyond-natural", "zero", "far-beyond"],
)
def test_leg_prices_add_up_to_the_combo_price_to_the_cent(limit: float):
    """Legs add up to the combo's price to the cent and each fills inside its own quote;
    a limit through the natural price (-1.00) fills at the natural, as on an exchange."""
    b = broker()
    b.place(order(limit=limit, quantity=3))
    fills = b.poll(view()).fills
    ratio = {leg.contract.key: leg.ratio for leg in IRON_CONDOR}
    assert sum(ratio[f.contract.key] * cents(f.price) for f in fills) == min(cents(limit), -100)
    assert all(f.price >= 0 and cents(f.price) / 100 == f.price for f in fills)
    for f in fills:
        bid, ask = QUOTES[(f.contract.strike, f.contract.right.value)]
        assert bid - 1e-9 <= f.price <= ask + 1e-9, f"{f.contract.key} filled outside its quote"
    assert sorted(f.quantity for f in fills) == [-3, -3, 3, 3]


@pytest.mark.parametrize("seed", range(20))
def test_no_leg_ever_fills_outside_its_own_quote(seed: int):
    """Random quotes and limits between mid and natural: the rounding residual goes to a
    leg with room in its quote, never past a bid or an ask (IWM 202P once filled at 2.01
    with the ask at 2.00)."""
    rng = np.random.default_rng(seed)
    ratio = np.array([1, -1, -1, 1])
    bid = np.round(rng.uniform(0.05, 4.0, size=4), 2)
    ask = bid + np.round(rng.uniform(0.01, 0.12, size=4), 2)
    mid, half = (bid + ask) / 2, (ask - bid) / 2
    natural = int(np.rint(ratio @ np.where(ratio > 0, ask, bid) * 100))
    for combo in range(int(np.ceil(ratio @ mid * 100)), natural + 1):
        prices = split_combo_price(combo, ratio, mid, half, bounds=(bid, ask))
        assert prices is not None
        assert int(ratio @ prices) == combo
        assert (prices >= np.round(bid * 100)).all() and (prices <= np.round(ask * 100)).all()


def test_leg_prices_of_a_ratio_combo_add_up_and_stay_non_negative():
    # A 90/95/100 put butterfly: the 2x short body needs the residual on a ratio-1 leg.
    butterfly = (Leg(option(90, "P"), 1), Leg(option(95, "P"), -2), Leg(option(100, "P"), 1))
    rng = np.random.default_rng(3)
    for combo_cents in rng.integers(-100, 600, size=50):
        mids = rng.uniform(0.0, 3.0, size=3)
        prices = split_combo_price(int(combo_cents), np.array([1, -2, 1]), mids, np.full(3, 0.05))
        assert prices is not None
        assert int(np.array([1, -2, 1]) @ prices) == combo_cents
        assert (prices >= 0).all()
    b = broker()
    b.place(order("fly", limit=0.85, legs=butterfly, intent="close"))
    fills = b.poll(view()).fills
    assert sum(f.quantity * cents(f.price) for f in fills) == 85


def test_commission_is_charged_per_contract_on_every_leg_fill():
    b = broker(commission_per_contract=0.65)
    b.place(order(quantity=2))
    fills = b.poll(view()).fills
    assert [f.commission for f in fills] == [1.30] * 4
    account = b.account(view())
    assert account.commissions == pytest.approx(5.20)
    gross = sum(-f.quantity * f.price * 100 for f in fills)
    assert cents(account.cash - 100_000.0) == cents(gross - 5.20)


@pytest.mark.parametrize(
    "fault",
    ["invalid", "nan-bid", "crossed", "unlisted", "negative-bid"],
)
def test_a_bad_leg_quote_prevents_a_fill_until_it_is_good_again(fault: str):
    quotes = dict(QUOTES)
    invalid: tuple[tuple[float, str], ...] = ()
    if fault == "invalid":
        invalid = ((95, "P"),)
    elif fault == "nan-bid":
        quotes[(95, "P")] = (float("nan"), 1.10)
    elif fault == "crossed":
        quotes[(95, "P")] = (1.20, 1.10)
    elif fault == "unlisted":
        del quotes[(95, "P")]
    else:
        quotes[(95, "P")] = (-0.05, 1.10)
    b = broker()
    b.place(order(limit=2.00))  # far beyond natural: only the quote can stop it
    assert b.poll(view(quotes, invalid=invalid)).fills == ()
    assert len(b.poll(view()).fills) == 4


def test_latency_delays_the_first_possible_fill():
    b = broker(latency_seconds=5.0)
    b.place(order(created_at=NOW))
    assert b.poll(view(now=NOW + timedelta(seconds=4))).fills == ()
    assert len(b.poll(view(now=NOW + timedelta(seconds=5))).fills) == 4


def test_nothing_fills_while_the_market_is_closed():
    b = broker()
    b.place(order())
    assert b.poll(view(market_open=False)).fills == ()
    assert len(b.poll(view()).fills) == 4


# -- partial fills, rejections and injected faults -----------------------------------------


def test_partial_fill_leaves_the_remainder_working_until_cancelled():
    b = broker()
    b.faults.partial_next(1)
    b.place(order(quantity=3))
    update = b.poll(view())
    (state,) = update.states
    assert state.status is OrderStatus.PARTIAL
    assert (state.filled_quantity, state.remaining_quantity) == (1, 2)
    assert sorted(f.quantity for f in update.fills) == [-1, -1, 1, 1]
    assert [s.order_ref for s in b.open_orders()] == ["ic-1"]
    cancelled = b.cancel("ic-1")
    assert cancelled.status is OrderStatus.CANCELLED
    assert (cancelled.filled_quantity, cancelled.remaining_quantity) == (1, 2)
    assert b.poll(view()).fills == ()
    assert b.open_orders() == []
    assert sorted(p.quantity for p in b.positions()) == [-1, -1, 1, 1]


def test_partial_fill_probability_fills_part_each_poll_and_is_reproducible():
    def run() -> list[int]:
        b = broker(partial_fill_probability=1.0, seed=11)
        b.place(order(quantity=6))
        sizes = []
        for _ in range(10):
            fills = b.poll(view()).fills
            if fills:
                sizes.append(abs(fills[0].quantity))
        return sizes

    sizes = run()
    assert sizes == run()
    assert sum(sizes) == 6
    assert all(s >= 1 for s in sizes) and len(sizes) > 1
    assert sizes[-1] == 1  # with probability 1 only the last single unit fills whole


def test_reject_probability_rejects_with_a_message_reproducibly():
    b = broker(reject_probability=1.0)
    state = b.place(order())
    assert state.status is OrderStatus.REJECTED and state.message
    assert b.open_orders() == []

    def outcomes(seed: int) -> list[OrderStatus]:
        sb = broker(reject_probability=0.5, seed=seed)
        return [sb.place(order(f"o{i}", quantity=1)).status for i in range(20)]

    assert outcomes(5) == outcomes(5)
    assert {OrderStatus.REJECTED, OrderStatus.SUBMITTED} == set(outcomes(5))


def test_injected_rejections_hit_the_next_orders_only_and_stay_rejected():
    b = broker()
    b.faults.reject_next(2, "exchange closed")
    states = [b.place(order(f"o{i}")) for i in range(3)]
    assert [s.status for s in states] == [
        OrderStatus.REJECTED,
        OrderStatus.REJECTED,
        OrderStatus.SUBMITTED,
    ]
    assert states[0].message == "exchange closed"
    assert b.place(order("o0")).status is OrderStatus.REJECTED  # idempotent, not re-sent


def test_held_order_does_not_fill_until_released():
    b = broker()
    b.place(order("held"))
    b.place(order("free"))
    b.faults.hold_fills("held")
    assert {f.order_ref for f in b.poll(view()).fills} == {"free"}
    b.faults.release_fills("held")
    assert {f.order_ref for f in b.poll(view()).fills} == {"held"}


def test_legged_fault_fills_some_legs_and_cancels_the_rest():
    b = broker()
    b.place(order())
    b.faults.leg_next("ic-1", [1, 2])  # only the two short legs execute
    update = b.poll(view())
    assert sorted(f.contract.key for f in update.fills) == ["SPY 20260130 105C", "SPY 20260130 95P"]
    assert update.states[0].status is OrderStatus.CANCELLED
    assert {p.quantity for p in b.positions()} == {-1}


def test_invalid_orders_are_rejected_with_the_reason():
    b = broker()
    mixed = (Leg(option(90, "P"), 1), Leg(option(95, "P", underlying="QQQ"), -1))
    assert "QQQ" in b.place(order("mixed", legs=mixed)).message
    with attrs.validators.disabled():
        zero = order("zero", quantity=0)
    assert b.place(zero).status is OrderStatus.REJECTED
    assert "not a number" in b.place(order("nan", limit=float("nan"))).message
    assert b.open_orders() == []


def test_cancel_or_modify_of_an_unknown_order_is_a_rejected_state():
    b = broker()
    for state in (b.cancel("nope"), b.modify("nope", 1.0)):
        assert state.status is OrderStatus.REJECTED
        assert "unknown order_ref" in state.message


def test_opening_order_beyond_buying_power_is_rejected_counting_working_orders():
    # Each condor at a -1.15 credit needs (5 - 1.15) x 100 = 385 of margin.
    b = broker(cash=1_000.0)
    assert b.place(order("big", quantity=3)).status is OrderStatus.REJECTED
    assert "buying power" in b.place(order("big", quantity=3)).message
    assert b.place(order("two", quantity=2)).status is OrderStatus.SUBMITTED
    assert b.place(order("one-more", quantity=1)).status is OrderStatus.REJECTED
    # Closing orders are never refused for margin.
    assert b.place(order("close", quantity=5, intent="close")).status is OrderStatus.SUBMITTED


# -- expiration ------------------------------------------------------------------------------


def test_expired_options_settle_at_intrinsic_value_against_the_underlying():
    b = broker()
    b.place(order("ps", limit=-0.60, legs=PUT_SPREAD))
    b.poll(view())
    cash_before = b.account(view()).cash
    # 20:00 New York on expiry day is still the expiry date: nothing settles yet.
    evening = datetime(2026, 1, 31, 1, 0, tzinfo=UTC)
    assert b.poll(view(now=evening, spot=93.0)).fills == ()
    morning = datetime(2026, 2, 2, 15, 0, tzinfo=UTC)
    fills = b.poll(view(quotes={}, now=morning, spot=93.0)).fills
    by_key = {f.contract.key: f for f in fills}
    assert by_key["SPY 20260130 95P"].quantity == 1
    assert by_key["SPY 20260130 95P"].price == 2.00
    assert by_key["SPY 20260130 90P"].price == 0.0
    assert all(f.order_ref == "expiration" and f.kind == "expiration" for f in fills)
    assert all(f.commission == 0 for f in fills)
    assert b.positions() == []
    after = b.account(view(quotes={}, now=morning, spot=93.0))
    assert cents(after.cash - cash_before) == -200_00
    assert after.maintenance_margin == 0


def test_a_working_order_on_an_expired_contract_is_cancelled():
    b = broker()
    b.place(order(limit=-5.00))
    morning = datetime(2026, 2, 2, 15, 0, tzinfo=UTC)
    (state,) = b.poll(view(quotes={}, now=morning)).states
    assert state.status is OrderStatus.CANCELLED and "expired" in state.message


# -- money and margin ------------------------------------------------------------------------


def test_iron_condor_round_trip_balances_cash_and_net_liquidation_to_the_cent():
    b = broker(cash=50_000.0)
    start = b.account(view())
    all_fills: list[Fill] = []
    b.place(order("open", limit=-1.17, quantity=3))
    all_fills += b.poll(view()).fills

    moved = {**QUOTES, (95, "P"): (0.71, 0.78), (105, "C"): (1.33, 1.47), (90, "P"): (0.27, 0.30)}
    mid_trip = b.account(view(moved))
    flows = sum(f.cash_flow for f in all_fills)
    assert cents(mid_trip.cash - start.cash) == cents(flows)
    assert cents(mid_trip.net_liquidation - start.net_liquidation) == cents(
        flows + marked_value(b, moved)
    )
    assert cents(mid_trip.realized_pnl + mid_trip.unrealized_pnl) == cents(
        mid_trip.net_liquidation - start.net_liquidation
    )

    closing = tuple(Leg(leg.contract, -leg.ratio) for leg in IRON_CONDOR)
    b.place(order("close", limit=1.63, quantity=3, legs=closing, intent="close"))
    all_fills += b.poll(view(moved)).fills
    end = b.account(view(moved))
    assert b.positions() == []
    flows = sum(f.cash_flow for f in all_fills)
    assert cents(end.net_liquidation - start.net_liquidation) == cents(flows)
    assert cents(end.realized_pnl) == cents(flows)
    assert end.unrealized_pnl == 0
    # Opened for 1.17 credit, closed for 1.63 debit, 3 units, 24 contracts at 0.65.
    assert cents(flows) == cents((1.17 - 1.63) * 100 * 3 - 24 * 0.65)


def test_iron_condor_margin_is_width_minus_credit_per_unit():
    b = broker()
    b.place(order(limit=-1.15, quantity=2))
    b.poll(view())
    account = b.account(view())
    assert account.maintenance_margin == pytest.approx((5 - 1.15) * 100 * 2)
    assert account.buying_power == pytest.approx(account.net_liquidation - 770.0)


def test_a_naked_short_put_is_charged_more_than_the_spread_around_it():
    spread, naked = broker(), broker()
    spread.place(order("s", limit=-0.60, legs=PUT_SPREAD))
    naked.place(order("n", limit=-1.05, legs=(Leg(option(95, "P"), -1),)))
    spread.poll(view())
    naked.poll(view())
    spread_margin = spread.account(view()).maintenance_margin
    naked_margin = naked.account(view()).maintenance_margin
    assert spread_margin == pytest.approx((5 - 0.60) * 100)
    # Reg-T: mark 1.05 + max(20% x 100 - 5 OTM, 10% x 95) = 16.05 per share.
    assert naked_margin == pytest.approx(1605.0)
    assert naked_margin > spread_margin


def test_a_naked_short_call_is_charged_more_than_a_call_spread():
    call_spread = (Leg(option(105, "C"), -1), Leg(option(110, "C"), 1))
    spread, naked = broker(), broker()
    spread.place(order("s", limit=-0.60, legs=call_spread))
    naked.place(order("n", limit=-1.00, legs=(Leg(option(105, "C"), -1),)))
    spread.poll(view())
    naked.poll(view())
    assert naked.account(view()).maintenance_margin > spread.account(view()).maintenance_margin


def test_invalid_quote_marks_at_the_last_good_mid():
    b = broker()
    b.place(order())
    b.poll(view())
    good = b.account(view())
    bad = {**QUOTES, (95, "P"): (float("nan"), float("nan"))}
    assert b.account(view(bad)).net_liquidation == good.net_liquidation
