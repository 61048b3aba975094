"""What a strategy expects of a position it opens, and the market numbers it expected it from.

At entry V6 measures the traded chain (:class:`PredictionInputs`) and asks the strategy for
its :class:`Prediction` (``v6_predict_position``); a strategy that does not answer gets
V6's default model (:mod:`v6.predictions.default_model`). Both are stored in the
``predictions`` table and graded against the position's realised outcome at close
(``v6 predictions report``, docs/PREDICTIONS.md).
"""

from __future__ import annotations

from collections.abc import Mapping

from attrs import field, frozen

NAN = float("nan")


def _floats(values: object) -> tuple[float, ...]:
    return tuple(float(v) for v in values)  # type: ignore[union-attr]


@frozen(slots=True)
class PredictionInputs:
    """The traded chain as V6 measured it when the entry order was sent.

    All prices per share, money in dollars for the whole position. ``credit`` is the net
    credit at mid (negative for a debit); ``holding_days`` is the holding period the exit
    rules' targets imply (:func:`v6.predictions.default_model.expected_holding_days`).
    NaN means "could not be measured" (no valid at-the-money quote, say).
    """

    spot: float
    atm_iv: float
    put_call_iv_ratio: float
    dte: int
    years_to_expiry: float
    short_deltas: tuple[float, ...] = field(converter=_floats)
    credit: float
    max_loss: float
    max_profit: float
    quantity: int
    multiplier: int
    holding_days: float
    rate: float = 0.0
    dividend_yield: float = 0.0


@frozen(slots=True)
class Prediction:
    """A model's expectation for one position, returned by ``v6_predict_position``.

    Attributes:
        model: the model's name, stored with the prediction (``iron_fly_pin_v1``).
        probability_of_profit: the chance, in [0, 1], that the position closes with a
            realised P&L above zero.
        expected_pnl: the expected realised P&L in dollars for the whole position,
            commissions included (same sign as ``positions.realized_pnl``: + is a gain).
        expected_move: one standard deviation of the underlying's move over the expected
            holding period, in points; NaN when the model does not say.
        expected_days: calendar days the position is expected to be held; NaN when the
            model does not say.
        inputs: the model's own numbers worth keeping (stored as JSON), by name.
    """

    model: str
    probability_of_profit: float
    expected_pnl: float
    expected_move: float = NAN
    expected_days: float = NAN
    inputs: Mapping[str, float] = field(factory=dict)
