"""Marks value positions from the chain the way a trader would read them."""

from __future__ import annotations

import numpy as np
import pytest
from builders import NOW, chain, contract, iron_condor, market

from v6.domain.contracts import Leg
from v6.domain.market import locate_legs
from v6.domain.positions import Position, PositionStatus
from v6.engine.marks import mark_positions


def position(legs, entry_price=-1.40, qty=1, underlying="SPY"):
    return Position(
        position_id="p1",
        strategy="iron_condor",
        underlying=underlying,
        structure="iron_condor",
        legs=legs,
        quantity=qty,
        entry_price=entry_price,
        opened_at=NOW,
        status=PositionStatus.OPEN,
        max_profit=140.0 * qty,
        max_loss=360.0 * qty,
    )


def test_locate_legs_finds_rows_and_flags_missing_contracts():
    c = chain()
    legs = (*iron_condor(), Leg(contract(97, "P"), 1))
    idx = locate_legs(c, legs)
    assert idx[-1] == -1
    for leg, i in zip(legs[:-1], idx[:-1], strict=True):
        assert c.contract(int(i)) == leg.contract


def test_condor_mark_matches_hand_computation():
    c = chain()
    view = market(c)
    legs = iron_condor()
    (mark,) = mark_positions([position(legs, qty=2)], view)
    idx = locate_legs(c, legs)
    ratio = np.array([leg.ratio for leg in legs])
    value_mid = float(np.sum(ratio * c.mid[idx]))
    assert mark.close_mid == pytest.approx(-value_mid)
    natural = sum(
        (-r) * (c.ask[i] if -r > 0 else c.bid[i]) for r, i in zip(ratio, idx, strict=True)
    )
    assert mark.close_natural == pytest.approx(natural)
    assert mark.unrealized_pnl == pytest.approx((value_mid + 1.40) * 100 * 2)
    assert mark.quotes_valid
    assert mark.dte == 24
    assert len(mark.short_deltas) == 2


def test_a_bad_quote_on_any_leg_makes_the_mark_untrustworthy():
    c = chain()
    valid = c.valid.copy()
    valid[locate_legs(c, iron_condor()[:1])[0]] = False
    view = market(c.with_validity(valid))
    (mark,) = mark_positions([position(iron_condor())], view)
    assert not mark.quotes_valid


def test_a_rejected_short_legs_delta_is_never_passed_to_the_rules():
    c = chain()
    condor = iron_condor()
    short_put = locate_legs(c, condor[1:2])[0]
    c.delta[short_put] = -5.0  # as IB sent it; the gate rejected the quote
    valid = c.valid.copy()
    valid[short_put] = False
    (mark,) = mark_positions([position(condor)], market(c.with_validity(valid)))
    assert not mark.quotes_valid
    assert np.isnan(mark.short_deltas[0])
    assert mark.short_deltas[1] == c.delta[locate_legs(c, condor[2:3])[0]]


def test_positions_on_an_underlying_without_a_chain_are_marked_invalid():
    view = market(chain("QQQ"))
    (mark,) = mark_positions([position(iron_condor())], view)
    assert not mark.quotes_valid
    assert np.isnan(mark.close_mid)
