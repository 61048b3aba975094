"""V6's default prediction model against closed forms, and the check every plugin's
prediction passes before it is stored."""

from __future__ import annotations

import math

import attrs
import numpy as np
import pytest
from scipy.special import ndtr

from v6.domain.contracts import Leg, Right
from v6.domain.entries import EntryCandidate, LegTemplate, StrikeSelection
from v6.domain.predictions import Prediction
from v6.plugin_results import BadResult, check_prediction
from v6.predictions import default_model
from v6.predictions.default_model import ExitTargets
from v6.pricing.bsm import bsm_price
from v6.pricing.expiry import years_to_expiry
from v6.testing.markets import EXPIRY, NOW, chain, contract

VOL = 0.20


def flat_chain(rate: float = 0.0):
    """The hand-made chain repriced with BSM at one volatility, so mid = model value."""
    base = chain(strikes=tuple(float(k) for k in range(80, 121)))
    t = years_to_expiry(base.expiry, NOW)
    mid = bsm_price(base.spot, base.strike, t, rate, 0.0, VOL, base.is_call)
    d1 = (np.log(base.spot / base.strike) + 0.5 * VOL**2 * t) / (VOL * np.sqrt(t))
    return attrs.evolve(
        base,
        bid=mid - 0.005,
        ask=mid + 0.005,
        iv=np.full(len(base), VOL),
        delta=np.where(base.is_call, ndtr(d1), ndtr(d1) - 1.0),
    )


def put_spread(c, short: float = 95.0, wing: float = 90.0) -> StrikeSelection:
    candidate = EntryCandidate(
        strategy="bull_put_spread",
        underlying="SPY",
        structure="bull_put_spread",
        legs=(
            LegTemplate(Right.PUT, -1, delta=0.2),
            LegTemplate(Right.PUT, 1, anchor=0, offset=-5),
        ),
        min_dte=3,
        max_dte=40,
    )
    legs = (Leg(contract(short, "P"), -1), Leg(contract(wing, "P"), 1))
    rows = [c.index_of(leg.contract) for leg in legs]
    net = float(-c.mid[rows[0]] + c.mid[rows[1]])
    return StrikeSelection(candidate, EXPIRY, legs, net_mid=net, net_natural=net)


NO_TARGETS = ExitTargets()


def model(c, selection, targets=NO_TARGETS, rate=0.0):
    combo = default_model.traded_combo(selection, c)
    inputs = default_model.measure(selection, c, combo, NOW, rate, targets)
    return inputs, default_model.predict(combo, inputs)


def test_held_to_expiry_the_probability_of_profit_is_the_lognormal_one_at_the_break_even():
    c = flat_chain()
    selection = put_spread(c)
    inputs, prediction = model(c, selection)
    credit = -selection.net_mid
    t = inputs.years_to_expiry
    assert inputs.holding_days == pytest.approx(t * 365)  # no exit rule: held to expiry
    break_even = 95.0 - credit
    d2 = (math.log(100.0 / break_even) - 0.5 * VOL**2 * t) / (VOL * math.sqrt(t))
    assert prediction.probability_of_profit == pytest.approx(ndtr(d2), abs=0.004)
    # Priced at the model's own volatility, the trade is fair: expect to lose the commissions.
    assert prediction.expected_pnl == pytest.approx(-4 * 0.65, abs=0.3)
    assert prediction.expected_move == pytest.approx(100.0 * VOL * math.sqrt(t))
    assert prediction.model == "v6_default"


def test_the_inputs_are_measured_on_the_traded_chain():
    c = flat_chain()
    selection = put_spread(c)
    inputs, _ = model(c, selection)
    assert inputs.atm_iv == pytest.approx(VOL)
    assert inputs.put_call_iv_ratio == pytest.approx(1.0)  # flat smile
    assert inputs.dte == (EXPIRY - NOW.date()).days
    assert inputs.credit == pytest.approx(-selection.net_mid)
    assert inputs.short_deltas == pytest.approx((c.delta[c.index_of(contract(95.0, "P"))],))
    assert inputs.max_loss == pytest.approx((5.0 - inputs.credit) * 100)
    assert inputs.max_profit == pytest.approx(inputs.credit * 100)


def test_selling_rich_puts_expects_a_profit_and_cheap_ones_a_loss():
    c = flat_chain()
    short = c.index_of(contract(95.0, "P"))
    t = years_to_expiry(c.expiry[short : short + 1], NOW)
    for short_vol, sign in ((0.30, 1), (0.12, -1)):
        mid = c.mid.copy()
        mid[short] = bsm_price(100.0, 95.0, t, 0.0, 0.0, short_vol, False)[0]
        iv = c.iv.copy()
        iv[short] = short_vol
        skewed = attrs.evolve(c, bid=mid - 0.005, ask=mid + 0.005, iv=iv)
        _, prediction = model(skewed, put_spread(skewed))
        assert np.sign(prediction.expected_pnl + 4 * 0.65) == sign


@pytest.mark.parametrize(
    ("targets", "days"),
    [
        (ExitTargets(max_days_held=3.0), 3.0),
        (ExitTargets(close_at_dte=5.0), None),  # term - 5
        (ExitTargets(max_term_fraction=0.5), None),  # half the term
    ],
)
def test_the_holding_period_is_the_first_exit_target_due(targets, days):
    c = flat_chain()
    inputs, prediction = model(c, put_spread(c), targets)
    term = inputs.years_to_expiry * 365
    expected = (
        days
        if days is not None
        else min(term - targets.close_at_dte, targets.max_term_fraction * term)
    )
    assert inputs.holding_days == pytest.approx(expected)
    assert prediction.expected_days == pytest.approx(expected)
    assert prediction.expected_move == pytest.approx(100.0 * VOL * math.sqrt(expected / 365))


def test_a_take_profit_target_ends_the_hold_when_decay_alone_reaches_it():
    c = flat_chain()
    selection = put_spread(c, short=98.0, wing=93.0)
    relaxed, _ = model(c, selection, ExitTargets(profit_fraction=0.9))
    eager, _ = model(c, selection, ExitTargets(profit_fraction=0.2))
    term = relaxed.years_to_expiry * 365
    assert 0 < eager.holding_days < relaxed.holding_days <= term
    assert eager.holding_days == int(eager.holding_days)  # the first whole day it is reached


def test_no_volatility_at_all_gives_no_numbers():
    c = flat_chain()
    _, prediction = model(attrs.evolve(c, iv=np.full(len(c), np.nan)), put_spread(c))
    assert math.isnan(prediction.probability_of_profit)
    assert math.isnan(prediction.expected_pnl)


# -- the check on a plugin's prediction -------------------------------------------------

GOOD = Prediction(model="mine", probability_of_profit=0.7, expected_pnl=12.5)


@pytest.mark.parametrize(
    ("result", "problem"),
    [
        ("0.7", "expected a Prediction or None"),
        ({"probability_of_profit": 0.7}, "expected a Prediction or None"),
        (attrs.evolve(GOOD, model=""), "model"),
        (attrs.evolve(GOOD, probability_of_profit=1.2), "probability_of_profit 1.2"),
        (attrs.evolve(GOOD, probability_of_profit=float("nan")), "probability_of_profit nan"),
        (attrs.evolve(GOOD, probability_of_profit=True), "probability_of_profit True"),
        (attrs.evolve(GOOD, expected_pnl=float("inf")), "expected_pnl inf"),
        (attrs.evolve(GOOD, expected_pnl="12"), "expected_pnl '12'"),
        (attrs.evolve(GOOD, expected_move=-1.0), "expected_move -1.0"),
        (attrs.evolve(GOOD, expected_days=float("inf")), "expected_days inf"),
        (attrs.evolve(GOOD, inputs={"edge": "big"}), "inputs are not all numbers"),
        (attrs.evolve(GOOD, inputs=[1.0]), "inputs"),
    ],
)
def test_a_bad_prediction_is_refused_with_its_reason(result, problem):
    with pytest.raises(BadResult) as refused:
        check_prediction(result, "mine", {})
    assert problem in str(refused.value)


def test_a_good_prediction_or_none_passes():
    assert check_prediction(None, "mine", {}) is None
    assert check_prediction(GOOD, "mine", {}) is GOOD
    nan_extras = attrs.evolve(GOOD, expected_move=float("nan"), inputs={"x": float("nan")})
    assert check_prediction(nan_extras, "mine", {}) is nan_extras
