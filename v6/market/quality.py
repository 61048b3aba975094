"""The data-quality gate: bad quotes are rejected before anything can trade on them.

Every chain passes through :func:`validate_chain` before the engine, the plugins or the
execution layer see it. A rejected option keeps its row (positions may still hold it)
but its ``valid`` flag is cleared, and the rejection is counted by reason so it can be
logged and stored. An option whose quote is sound but whose Greeks are impossible is
repaired instead: V6 derives its implied volatility and Greeks from the mid with its
own pricer, and counts the repair. Checks are vectorised over the whole chain.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime

import attrs
import numpy as np
from attrs import frozen

from v6.domain.market import MarketView, OptionChain, UnderlyingQuote
from v6.pricing.expiry import years_to_expiry
from v6.pricing.implied_vol import DEFAULT_VOL_MAX
from v6.pricing.quote_greeks import greeks_from_mid

REASONS = (
    "nan",
    "crossed",
    "negative",
    "zero_bid",
    "stale",
    "arbitrage",
    "impossible_greeks",
    "bad_underlying",
)
"""Why a quote is rejected (the ``reason`` of its ``data_quality`` rows)."""
REPAIRS = ("repaired_greeks",)
"""Why a quote was kept with Greeks V6 derived itself (``reason`` in ``data_quality``)."""

# A zero bid is normal for a far out-of-the-money or nearly expired option. On an option
# with real delta that is also offered at a real price it means the quote is broken (a
# market maker pulled one side), so it is rejected.
ZERO_BID_MAX_DELTA = 0.05
ZERO_BID_MAX_ASK = 0.30

# Impossible Greeks. A call's delta lies in [0, 1] and a put's in [-1, 0], American or
# European, at any rate and any non-negative dividend yield; the tolerance only absorbs
# a broker's rounding. Gamma and vega are never negative for a plain option. An implied
# volatility of zero or less prices no option, and one above 500% is no market V6 trades
# (it is also the ceiling of V6's own solver, so a repair can never exceed it). A single
# stock's one-day option into earnings can print above it; V6 trades index ETF spreads,
# where a quote there is a broken model, and at that ceiling the solver starts to
# "explain" prices that are really just the underlying's. Theta
# is not checked: deep in-the-money European puts, and calls with a dividend yield above
# the rate, really do gain value as time passes.
DELTA_TOLERANCE = 1e-3
NEGATIVE_GREEK_TOLERANCE = 1e-6
MAX_IV = DEFAULT_VOL_MAX

# Arbitrage bounds on the ask. Buying below the floor and exercising (American) or
# hedging with the forward (European) is free money, so no ask sits there: the floor is
# the lower of the exercise value and the discounted forward's (S e^-qt - K e^-rt for a
# call), which holds for both styles whatever the carry. No call is worth more than the
# spot, no put more than the strike. An ask outside these bounds by more than the larger
# of ARBITRAGE_MIN_TOLERANCE and ARBITRAGE_SPOT_TOLERANCE of the spot is a placeholder
# or a broken quote, and is rejected. The tolerance is deliberately wide: a rejected leg
# stops every exit rule from acting on its position, so only gross errors may trip this
# check, never a dividend or rate a little off the ones V6 is configured with. The bid
# is not checked against the floor: deep in the money it is often below intrinsic value
# (whoever buys there exercises at a profit), which is no arbitrage against the seller.
ARBITRAGE_MIN_TOLERANCE = 0.05
ARBITRAGE_SPOT_TOLERANCE = 0.01


@frozen(slots=True)
class QualityReport:
    """Counts of rejected and repaired quotes per reason for one underlying, with a few
    examples of each (``samples`` is keyed by rejection and repair reason alike)."""

    underlying: str
    total: int
    rejected: Mapping[str, int]
    zero_bid: int
    samples: Mapping[str, str]
    repaired: Mapping[str, int] = attrs.Factory(dict)
    # Options rejected for any reason. One quote can fail several checks (stale and
    # crossed), so the per-reason counts may add up to more; shares use this.
    rejected_options: int = 0

    @property
    def rejected_total(self) -> int:
        """Options this gate rejected, each once however many checks it failed."""
        return self.rejected_options


def underlying_is_sound(quote: UnderlyingQuote | None, now: datetime, max_age: float) -> bool:
    """True when the underlying quote is finite, positive, not crossed and fresh."""
    if quote is None:
        return False
    values = (quote.bid, quote.ask, quote.last)
    try:  # three scalars: plain math, called for every underlying every cycle
        finite = all(math.isfinite(v) for v in values)
    except (TypeError, OverflowError):  # anything math cannot read: numpy's verdict
        finite = bool(np.all(np.isfinite(np.array(values, dtype=np.float64))))
    if not finite or quote.bid <= 0 or quote.bid > quote.ask:
        return False
    return (now - quote.time).total_seconds() <= max_age


def impossible_greeks(chain: OptionChain) -> np.ndarray:
    """Options whose finite IV or Greeks no option can have (see the module constants).

    NaN compares False, so a NaN Greek is not flagged here: it is the ``nan`` check's.
    """
    sign = np.where(chain.is_call, 1.0, -1.0)
    with np.errstate(invalid="ignore"):
        signed_delta = sign * chain.delta  # in [0, 1] for calls and puts alike
        return (
            (signed_delta < -DELTA_TOLERANCE)
            | (signed_delta > 1.0 + DELTA_TOLERANCE)
            | (chain.iv <= 0.0)
            | (chain.iv > MAX_IV)
            | (chain.gamma < -NEGATIVE_GREEK_TOLERANCE)
            | (chain.vega < -NEGATIVE_GREEK_TOLERANCE)
        )


def outside_arbitrage_bounds(chain: OptionChain, t: np.ndarray, rate: float) -> np.ndarray:
    """Options whose ask lies outside the no-arbitrage bounds (see the module constants)."""
    spot, strike = chain.spot, chain.strike
    with np.errstate(invalid="ignore", over="ignore"):
        forward_value = spot * np.exp(-chain.dividend_yield * t) - strike * np.exp(-rate * t)
        intrinsic = np.where(chain.is_call, spot - strike, strike - spot)
        european = np.where(chain.is_call, forward_value, -forward_value)
        # The lower of the two: never stricter than either model of exercise.
        floor = np.maximum(np.minimum(intrinsic, european), 0.0)
        ceiling = np.where(chain.is_call, spot, strike)
        tolerance = max(ARBITRAGE_MIN_TOLERANCE, ARBITRAGE_SPOT_TOLERANCE * spot)
        return (chain.ask < floor - tolerance) | (chain.ask > ceiling + tolerance)


def _samples(chain: OptionChain, mask: np.ndarray, greeks: bool = False) -> str:
    """A few contract keys of ``mask``; with ``greeks`` the values that were wrong."""
    keys = []
    for i in np.flatnonzero(mask)[:3]:
        key = chain.contract(int(i)).key
        if greeks:
            key += (
                f" (iv {chain.iv[i]:.4g}, delta {chain.delta[i]:.4g}, "
                f"gamma {chain.gamma[i]:.4g}, vega {chain.vega[i]:.4g})"
            )
        keys.append(key)
    return ", ".join(keys)


def validate_chain(
    chain: OptionChain,
    now: datetime,
    max_age_seconds: float,
    underlying_ok: bool = True,
    risk_free_rate: float = 0.0,
) -> tuple[OptionChain, QualityReport]:
    """Clear ``valid`` on every option whose quote cannot be trusted; repair Greeks that
    are impossible on a sound quote.

    Rejected: NaN or infinite bid, ask, IV or Greeks (IB sends NaN Greeks for options it
    cannot model, and the IB adapter has already priced those it could); crossed quotes
    (bid > ask); negative prices; quotes older than ``max_age_seconds``; an ask outside
    the no-arbitrage bounds (``arbitrage``); every option when the underlying quote
    itself is bad. A zero bid is *not* rejected (deep OTM options really do bid zero,
    and buying them is fine) but is counted: selling such an option is refused at strike
    selection and again before any order is sent. A zero bid on an option with |delta|
    of at least ``ZERO_BID_MAX_DELTA`` that is offered at ``ZERO_BID_MAX_ASK`` or more
    is not a real market and is rejected as ``zero_bid``.

    Impossible Greeks (:func:`impossible_greeks`: |delta| above 1, a delta of the wrong
    sign for the right, IV <= 0 or above ``MAX_IV``, negative gamma or vega) are never
    passed on. When the quote itself is sound, the option's IV and Greeks are derived
    from its mid with V6's own pricer (:func:`v6.pricing.quote_greeks.greeks_from_mid`,
    at ``risk_free_rate`` and the chain's dividend yield) and it stays valid, counted as
    ``repaired_greeks``; when that fails (no volatility up to ``MAX_IV`` explains the
    mid) or the quote is bad too, it is rejected as ``impossible_greeks``.
    """
    finite = np.isfinite(chain.bid)
    for column in (chain.ask, chain.iv, chain.delta, chain.gamma, chain.vega, chain.theta):
        finite &= np.isfinite(column)
    nan = ~finite
    t = years_to_expiry(chain.expiry, now)  # one pass when listed in expiry order
    with np.errstate(invalid="ignore"):
        crossed = ~nan & (chain.bid > chain.ask)
        negative = ~nan & ((chain.bid < 0) | (chain.ask <= 0))
        zero_bid = ~nan & (chain.bid == 0)
        broken_zero_bid = (
            zero_bid & (np.abs(chain.delta) >= ZERO_BID_MAX_DELTA) & (chain.ask >= ZERO_BID_MAX_ASK)
        )
    arbitrage = ~nan & ~negative & outside_arbitrage_bounds(chain, t, risk_free_rate)
    age = (
        np.datetime64(now.astimezone(UTC).replace(tzinfo=None), "us") - chain.quote_time
    ) / np.timedelta64(1, "s")
    stale = age > max_age_seconds
    impossible = ~nan & impossible_greeks(chain)
    masks = {
        "nan": nan,
        "crossed": crossed,
        "negative": negative,
        "zero_bid": broken_zero_bid,
        "stale": stale,
        "arbitrage": arbitrage,
    }
    bad_quote = nan | crossed | negative | broken_zero_bid | stale | arbitrage
    if not underlying_ok:
        masks["bad_underlying"] = np.ones(len(chain), dtype=bool)
        bad_quote = np.ones(len(chain), dtype=bool)
    repaired = np.zeros(len(chain), dtype=bool)
    gated = chain
    fixable = impossible & ~bad_quote & chain.valid
    if fixable.any():
        gated, repaired = _repair(chain, fixable, t, risk_free_rate)
    unrepaired = impossible & ~repaired
    masks["impossible_greeks"] = unrepaired
    valid = chain.valid & ~bad_quote & ~unrepaired
    counts = {reason: int(np.count_nonzero(mask)) for reason, mask in masks.items()}
    rejected = {reason: count for reason, count in counts.items() if count}
    samples = {
        reason: _samples(chain, mask, greeks=reason == "impossible_greeks")
        for reason, mask in masks.items()
        if counts[reason]
    }
    repairs = {}
    if repaired.any():
        repairs["repaired_greeks"] = int(repaired.sum())
        samples["repaired_greeks"] = _samples(chain, repaired, greeks=True)
    report = QualityReport(
        underlying=chain.underlying,
        total=len(chain),
        rejected=rejected,
        zero_bid=int(zero_bid.sum()),
        samples=samples,
        repaired=repairs,
        rejected_options=int((chain.valid & ~valid).sum()),
    )
    return gated.with_validity(valid), report


def _repair(
    chain: OptionChain, rows: np.ndarray, t: np.ndarray, rate: float
) -> tuple[OptionChain, np.ndarray]:
    """``chain`` with V6's own IV and Greeks at ``rows``; and where that succeeded.

    Only the few options that need it are priced. A re-derived value is a Black-Scholes
    one, possible by construction; it is checked all the same before it replaces the
    broker's.
    """
    idx = np.flatnonzero(rows)
    vol, own = greeks_from_mid(
        chain.mid[idx],
        chain.spot,
        chain.strike[idx],
        t[idx],
        rate,
        chain.dividend_yield,
        chain.is_call[idx],
    )
    fresh = np.vstack([vol, own.delta, own.gamma, own.vega, own.theta])
    ok = np.all(np.isfinite(fresh), axis=0)
    idx, fresh = idx[ok], fresh[:, ok]
    repaired = np.zeros(len(chain), dtype=bool)
    repaired[idx] = True
    if idx.size == 0:
        return chain, repaired
    columns = {}
    for name, values in zip(("iv", "delta", "gamma", "vega", "theta"), fresh, strict=True):
        column = getattr(chain, name).copy()
        column[idx] = values
        columns[name] = column
    fixed = attrs.evolve(chain, **columns)
    still = impossible_greeks(fixed) & repaired
    repaired &= ~still
    return fixed, repaired


def validate_market(
    view: MarketView, max_age_seconds: float, risk_free_rate: float = 0.0
) -> tuple[MarketView, list[QualityReport]]:
    """Validate every chain of a market view; returns the gated view and the reports.

    ``risk_free_rate`` is the rate V6 prices with (``risk.risk_free_rate``): the gate
    uses it for the arbitrage bounds and to re-derive impossible Greeks.
    """
    chains: dict[str, OptionChain] = {}
    reports: list[QualityReport] = []
    for symbol, chain in view.chains.items():
        ok = underlying_is_sound(view.underlyings.get(symbol), view.time, max_age_seconds)
        gated, report = validate_chain(
            chain, view.time, max_age_seconds, underlying_ok=ok, risk_free_rate=risk_free_rate
        )
        chains[symbol] = gated
        reports.append(report)
    gated_view = MarketView(
        time=view.time,
        underlyings=view.underlyings,
        chains=chains,
        vix=view.vix,
        market_open=view.market_open,
    )
    return gated_view, reports
