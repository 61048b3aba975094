"""Maintenance margin: one (underlying, expiry) group at a time, the same figure however
often it is asked for."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from v6.brokers.margin import HeldOption, group_requirement, maintenance_margin
from v6.domain.contracts import OptionContract

EXPIRY = date(2026, 12, 18)


def held(strike: float, right: str, quantity: int, cost: float, mark: float) -> HeldOption:
    return HeldOption(OptionContract("SPY", EXPIRY, strike, right), quantity, cost, mark)


def direct(legs: list[HeldOption], spot: float) -> float:
    return group_requirement(
        np.array([h.contract.strike for h in legs]),
        np.array([h.contract.is_call for h in legs]),
        np.array([h.quantity for h in legs], dtype=np.float64),
        np.array([h.cost for h in legs]),
        np.array([h.mark for h in legs]),
        np.array([h.contract.multiplier for h in legs], dtype=np.float64),
        spot,
    )


@pytest.mark.parametrize(("mark", "spot"), [(1.20, 500.0), (4.80, 470.0), (1.20, 500.0)])
def test_a_naked_short_is_charged_at_the_mark_and_spot_of_each_call(
    mark: float, spot: float
) -> None:
    # A put spread with one extra short put: the same legs and costs every call, only
    # the mark and the spot move, and the naked charge must follow them.
    legs = [
        held(480.0, "P", -2, 1.50, mark),
        held(470.0, "P", 1, 0.90, mark / 2),
        held(520.0, "C", -1, 1.10, 0.80),
        held(530.0, "C", 1, 0.60, 0.40),
    ]
    assert maintenance_margin(legs, {"SPY": spot}) == round(direct(legs, spot), 2)


def test_a_group_bought_again_at_another_cost_is_charged_for_its_new_cost() -> None:
    first = [held(480.0, "P", -1, 1.50, 1.0), held(470.0, "P", 1, 0.90, 0.5)]
    again = [held(480.0, "P", -1, 1.20, 1.0), held(470.0, "P", 1, 0.90, 0.5)]
    spots = {"SPY": 500.0}
    assert maintenance_margin(first, spots) == pytest.approx((10 - 0.60) * 100)
    assert maintenance_margin(again, spots) == pytest.approx((10 - 0.30) * 100)
    assert maintenance_margin(first, spots) == pytest.approx((10 - 0.60) * 100)
