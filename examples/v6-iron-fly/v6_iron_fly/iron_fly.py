"""Iron butterfly: a short at-the-money straddle protected by wings on both sides.

Sell the put nearest 0.50 delta and the call on the same strike, buy a put ``wing_width``
points below and a call ``wing_width`` points above. The credit is large and the risk is
defined (the wider wing less the credit); profit peaks if the underlying pins the short
strike at expiry. Strikes are chosen later by the configured strike selector: this
module only says which legs to trade, when, and how many.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from attrs import field, frozen, validators
from scipy.special import ndtri

from v6.domain.contracts import Right
from v6.domain.decisions import Regime, RegimeReading
from v6.domain.entries import EntryCandidate, LegTemplate, StrikeSelection
from v6.domain.market import MarketView
from v6.domain.plugins import PluginInfo, PluginKind
from v6.domain.positions import Position, PositionStatus
from v6.domain.predictions import Prediction, PredictionInputs
from v6.hookspecs import hookimpl
from v6.pricing.payoff import expiry_payoff

NAME = "iron_fly"


def _regimes(values: Iterable[str | Regime]) -> tuple[Regime, ...]:
    return tuple(Regime(value) for value in ((values,) if isinstance(values, str) else values))


@frozen
class Settings:
    """Defaults suit a liquid index ETF: 10-point wings, 7-21 DTE, at least 1.00 credit.

    A short straddle is hurt most by a big move, so it stays out of crash and high_vol.

    Attributes:
        short_delta: target absolute delta of the short put; the short call takes its
            strike.
        wing_width: points from the short strike to each long wing.
        min_dte: fewest calendar days to expiry to open on.
        max_dte: most calendar days to expiry to open on.
        quantity: units per entry.
        min_credit: least credit per share at mid worth opening for.
        max_positions_per_underlying: positions held at once per underlying.
        avoid_regimes: regimes in which the strategy proposes nothing.
    """

    short_delta: float = field(default=0.50, validator=[validators.gt(0), validators.lt(1)])
    wing_width: float = field(default=10.0, validator=validators.gt(0))
    min_dte: int = field(default=7, validator=validators.ge(0))
    max_dte: int = field(default=21, validator=validators.ge(0))
    quantity: int = field(default=1, validator=validators.gt(0))
    min_credit: float = field(default=1.0, validator=validators.ge(0))
    max_positions_per_underlying: int = field(default=1, validator=validators.gt(0))
    avoid_regimes: tuple[Regime, ...] = field(
        default=(Regime.CRASH, Regime.HIGH_VOL), converter=_regimes
    )

    def __attrs_post_init__(self) -> None:
        if self.max_dte < self.min_dte:
            raise ValueError(f"max_dte {self.max_dte} must be >= min_dte {self.min_dte}")


@hookimpl
def v6_plugin_info() -> PluginInfo:
    """Describe the plugin; its name must equal the entry-point name in pyproject.toml."""
    return PluginInfo(
        name=NAME,
        kind=PluginKind.STRATEGY,
        settings=Settings,
        summary="Short ATM straddle with wings (iron butterfly)",
    )


def legs(settings: Settings) -> tuple[LegTemplate, ...]:
    """Short put at the target delta; the call and both wings are placed from its strike."""
    return (
        LegTemplate(Right.PUT, -1, delta=settings.short_delta),
        LegTemplate(Right.CALL, -1, anchor=0, offset=0.0),
        LegTemplate(Right.PUT, +1, anchor=0, offset=-settings.wing_width),
        LegTemplate(Right.CALL, +1, anchor=0, offset=settings.wing_width),
    )


@hookimpl
def v6_propose_entries(
    market: MarketView,
    regimes: Mapping[str, RegimeReading],
    positions: Sequence[Position],
    underlyings: Sequence[str],
    settings: Settings,
) -> list[EntryCandidate]:
    """One iron fly per underlying with room, a chain, an open market and a calm regime."""
    if not market.market_open:
        return []
    candidates = []
    for symbol in underlyings:
        held = sum(
            1 for p in positions if p.underlying == symbol and p.status is not PositionStatus.CLOSED
        )
        reading = regimes.get(symbol)
        if (
            symbol not in market.chains
            or held >= settings.max_positions_per_underlying
            or (reading is not None and reading.regime in settings.avoid_regimes)
        ):
            continue
        candidates.append(
            EntryCandidate(
                strategy=NAME,
                underlying=symbol,
                structure=NAME,
                legs=legs(settings),
                min_dte=settings.min_dte,
                max_dte=settings.max_dte,
                quantity=settings.quantity,
                min_credit=settings.min_credit,
                reason=f"at-the-money iron butterfly, {settings.wing_width:g}-point wings",
            )
        )
    return candidates


MODEL = "iron_fly_pin_v1"
_GRID = 201


@hookimpl
def v6_predict_position(
    selection: StrikeSelection, inputs: PredictionInputs, default_prediction: Prediction
) -> Prediction:
    """An iron fly is a bet on the pin: predict it held to expiry, which is how it pays.

    The underlying at expiry is lognormal with the at-the-money implied volatility
    (``inputs.atm_iv``, measured by V6 on the traded chain); the fly's expiry payoff less
    the credit is averaged over equal-probability scenarios. V6's own prediction
    (``default_prediction``) is kept in the stored inputs for comparison.
    """
    sigma, years = inputs.atm_iv, inputs.years_to_expiry
    if not (np.isfinite(sigma) and sigma > 0):
        return default_prediction  # nothing to add without a volatility
    z = ndtri((np.arange(_GRID) + 0.5) / _GRID)
    drift = (inputs.rate - inputs.dividend_yield - 0.5 * sigma * sigma) * years
    spots = inputs.spot * np.exp(drift + sigma * np.sqrt(years) * z)
    legs = selection.legs
    payoff = expiry_payoff(
        np.array([leg.contract.strike for leg in legs]),
        np.array([leg.contract.is_call for leg in legs]),
        np.array([leg.ratio for leg in legs], dtype=float),
        spots,
    )
    commissions = 2 * 0.65 * inputs.quantity * sum(abs(leg.ratio) for leg in legs)
    pnl = (payoff + inputs.credit) * inputs.quantity * inputs.multiplier - commissions
    return Prediction(
        model=MODEL,
        probability_of_profit=float(np.mean(pnl > 0)),
        expected_pnl=float(pnl.mean()),
        expected_move=float(inputs.spot * sigma * np.sqrt(years)),
        expected_days=float(inputs.dte),
        inputs={"v6_default_expected_pnl": default_prediction.expected_pnl},
    )
