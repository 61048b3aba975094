"""V6's default prediction for a position a strategy opens, from the chain it traded.

A strategy that does not implement ``v6_predict_position`` (or whose answer is refused) is
predicted by this model, ``v6_default``. Everything is computed from the traded chain in a
few whole-array NumPy operations (no loop over options or scenarios):

* the underlying at the end of the expected holding period is lognormal with the
  at-the-money implied volatility of the traded expiry and the risk-free drift, sampled
  at ``GRID`` equal-probability quantiles;
* each leg is repriced there with Black-Scholes-Merton at its own implied volatility
  (sticky strike) for the time it has left, so the P&L of every scenario includes the
  decay earned and the skew the premium was sold at;
* the probability of profit is the share of scenarios whose P&L is above zero and the
  expected P&L is their mean, after a round trip of commissions.

The holding period comes from the exit rules' targets (:func:`expected_holding_days`):
the time exit, the expiry exit, and the days the take-profit target needs if the
underlying stands still. Formulas and their limits: docs/PREDICTIONS.md.
"""

from __future__ import annotations

from datetime import datetime

import attrs
import numpy as np
from attrs import frozen
from scipy.special import ndtri

from v6.domain.entries import StrikeSelection
from v6.domain.market import OptionChain, locate_legs
from v6.domain.predictions import Prediction, PredictionInputs
from v6.pricing.bsm import DAYS_PER_YEAR, bsm_price
from v6.pricing.expiry import years_to_expiry
from v6.pricing.payoff import risk_profile

MODEL = "v6_default"
GRID = 401
"""Equal-probability scenarios of the underlying at the end of the holding period."""
COMMISSION_PER_CONTRACT = 0.65
"""Dollars per option contract and side: IB's US options rate, which the sim charges too."""
_GRID_QUANTILES = ndtri((np.arange(GRID) + 0.5) / GRID)  # the same for every prediction
_GRID_QUANTILES.flags.writeable = False
SKEW_DELTA = 0.25
"""The put/call IV ratio compares the put and the call nearest this absolute delta."""


@frozen(slots=True)
class ExitTargets:
    """The exit rules' targets that bound how long a position is held.

    ``inf`` / NaN mean "no such rule selected". ``profit_fraction`` is the share of the
    maximum profit the take-profit rule banks.
    """

    max_days_held: float = float("inf")
    max_term_fraction: float = 1.0
    close_at_dte: float = 0.0
    profit_fraction: float = float("nan")


@frozen(slots=True, eq=False)
class TradedCombo:
    """The legs as arrays, priced from the chain: what the model reprices."""

    strike: np.ndarray
    is_call: np.ndarray
    ratio: np.ndarray
    iv: np.ndarray
    delta: np.ndarray
    net_price: float  # debit per share at mid, negative for a credit


def traded_combo(selection: StrikeSelection, chain: OptionChain) -> TradedCombo:
    """The selection's legs with their chain rows' implied volatilities and deltas."""
    rows = locate_legs(chain, selection.legs)
    found = rows >= 0
    safe = np.where(found, rows, 0)
    usable = found & chain.valid[safe]
    return TradedCombo(
        strike=np.array([leg.contract.strike for leg in selection.legs], dtype=np.float64),
        is_call=np.array([leg.contract.is_call for leg in selection.legs], dtype=bool),
        ratio=np.array([leg.ratio for leg in selection.legs], dtype=np.float64),
        iv=np.where(usable, chain.iv[safe], np.nan),
        delta=np.where(usable, chain.delta[safe], np.nan),
        net_price=float(selection.net_mid),
    )


def _expiry_rows(chain: OptionChain, expiry: np.datetime64) -> np.ndarray:
    """Valid rows of ``expiry`` with a usable implied volatility."""
    iv = chain.iv
    usable = chain.valid & np.isfinite(iv) & (iv > 0) & np.isfinite(chain.delta)
    return np.flatnonzero((chain.expiry == expiry) & usable)


def atm_iv(chain: OptionChain, expiry: np.datetime64) -> float:
    """Mean implied volatility of the valid options on the strike nearest spot."""
    rows = _expiry_rows(chain, expiry)
    if rows.size == 0:
        return float("nan")
    distance = np.abs(chain.strike[rows] - chain.spot)
    nearest = rows[distance == distance.min()]
    return float(chain.iv[nearest].mean())


def put_call_iv_ratio(chain: OptionChain, expiry: np.datetime64) -> float:
    """IV of the put nearest ``SKEW_DELTA`` over that of the call nearest it (skew > 1)."""
    rows = _expiry_rows(chain, expiry)
    calls, puts = rows[chain.is_call[rows]], rows[~chain.is_call[rows]]
    if calls.size == 0 or puts.size == 0:
        return float("nan")
    call = calls[np.argmin(np.abs(chain.delta[calls] - SKEW_DELTA))]
    put = puts[np.argmin(np.abs(chain.delta[puts] + SKEW_DELTA))]
    return float(chain.iv[put] / chain.iv[call])


def measure(
    selection: StrikeSelection,
    chain: OptionChain,
    combo: TradedCombo,
    now: datetime,
    rate: float,
    targets: ExitTargets,
) -> PredictionInputs:
    """The numbers a prediction is made from (and stored with)."""
    expiry = np.datetime64(selection.expiry, "D")
    years = float(years_to_expiry(np.array([expiry]), now)[0])
    quantity = selection.candidate.quantity
    multiplier = chain.multiplier
    profile = risk_profile(combo.strike, combo.is_call, combo.ratio, combo.net_price)
    size = quantity * multiplier
    inputs = PredictionInputs(
        spot=float(chain.spot),
        atm_iv=atm_iv(chain, expiry),
        put_call_iv_ratio=put_call_iv_ratio(chain, expiry),
        dte=int((selection.expiry - now.date()).days),
        years_to_expiry=years,
        short_deltas=combo.delta[combo.ratio < 0],
        credit=-combo.net_price,
        max_loss=profile.max_loss * size,
        max_profit=profile.max_profit * size,
        quantity=quantity,
        multiplier=multiplier,
        holding_days=float("nan"),
        rate=rate,
        dividend_yield=float(chain.dividend_yield),
    )
    return attrs.evolve(inputs, holding_days=expected_holding_days(combo, inputs, targets))


def _leg_vols(combo: TradedCombo, fallback: float) -> np.ndarray:
    return np.where(np.isfinite(combo.iv) & (combo.iv > 0), combo.iv, fallback)


def _sigma(combo: TradedCombo, inputs: PredictionInputs) -> float:
    if np.isfinite(inputs.atm_iv) and inputs.atm_iv > 0:
        return float(inputs.atm_iv)
    usable = combo.iv[np.isfinite(combo.iv) & (combo.iv > 0)]
    return float(usable.mean()) if usable.size else float("nan")


def expected_holding_days(
    combo: TradedCombo, inputs: PredictionInputs, targets: ExitTargets
) -> float:
    """Calendar days until the first exit target is due, if the underlying stands still.

    The least of: the days to expiry; the time exit's ``max_days_held`` and
    ``max_term_fraction`` of the term; the expiry exit's ``close_at_dte`` before expiry;
    and the first whole day on which the position, repriced at today's spot and implied
    volatilities with that much less time, has earned the take-profit share of its
    maximum profit (decay alone; a favourable move gets there sooner, an adverse one
    later or never).
    """
    term = inputs.years_to_expiry * DAYS_PER_YEAR
    limits = [
        term,
        targets.max_days_held,
        targets.max_term_fraction * term,
        term - targets.close_at_dte,
    ]
    fraction, max_profit = targets.profit_fraction, inputs.max_profit
    if np.isfinite(fraction) and np.isfinite(max_profit) and max_profit > 0:
        days = np.arange(0.0, np.floor(term) + 1.0)
        left = np.maximum(inputs.years_to_expiry - days / DAYS_PER_YEAR, 0.0)
        values = bsm_price(
            inputs.spot,
            combo.strike[None, :],
            left[:, None],
            inputs.rate,
            inputs.dividend_yield,
            _leg_vols(combo, _sigma(combo, inputs))[None, :],
            combo.is_call[None, :],
        )
        pnl = (values @ combo.ratio - combo.net_price) * inputs.quantity * inputs.multiplier
        reached = np.flatnonzero(pnl >= fraction * max_profit)
        if reached.size:
            limits.append(float(days[reached[0]]))
    return float(max(min(limits), 0.0))


def predict(
    combo: TradedCombo,
    inputs: PredictionInputs,
    commission_per_contract: float = COMMISSION_PER_CONTRACT,
) -> Prediction:
    """The ``v6_default`` prediction: P&L scenarios at the end of the holding period.

    Returns NaN figures only when the chain gave no volatility at all (no usable leg or
    at-the-money quote), which the engine stores as a failed prediction.
    """
    sigma = _sigma(combo, inputs)
    if not (np.isfinite(sigma) and sigma > 0):
        return Prediction(model=MODEL, probability_of_profit=np.nan, expected_pnl=np.nan)
    horizon = min(max(inputs.holding_days, 0.0) / DAYS_PER_YEAR, inputs.years_to_expiry)
    z = _GRID_QUANTILES
    drift = (inputs.rate - inputs.dividend_yield - 0.5 * sigma * sigma) * horizon
    spots = inputs.spot * np.exp(drift + sigma * np.sqrt(horizon) * z)
    values = bsm_price(
        spots[:, None],
        combo.strike[None, :],
        inputs.years_to_expiry - horizon,
        inputs.rate,
        inputs.dividend_yield,
        _leg_vols(combo, sigma)[None, :],
        combo.is_call[None, :],
    )
    size = inputs.quantity * inputs.multiplier
    contracts = inputs.quantity * float(np.abs(combo.ratio).sum())
    commissions = 2.0 * contracts * commission_per_contract
    # The quick rule of thumb, for comparison: the chance no short strike ends in the money.
    short_deltas = np.abs(combo.delta[combo.ratio < 0])
    pop_from_deltas = float(1.0 - short_deltas.sum()) if short_deltas.size else np.nan
    pnl = (values @ combo.ratio - combo.net_price) * size - commissions
    p05, p95 = np.quantile(pnl, [0.05, 0.95]).tolist()
    return Prediction(
        model=MODEL,
        probability_of_profit=float(np.mean(pnl > 0.0)),
        expected_pnl=float(pnl.mean()),
        expected_move=float(inputs.spot * sigma * np.sqrt(horizon)),
        expected_days=float(inputs.holding_days),
        inputs={
            "sigma": sigma,
            "horizon_years": horizon,
            "commissions": commissions,
            "pop_from_deltas": pop_from_deltas,
            "pnl_p05": p05,
            "pnl_p95": p95,
        },
    )
