"""Last checks before an order leaves V6, whatever plugin built it.

Strike selectors already refuse bad quotes, but a third-party selector might not, so
execution checks again at the outermost point: no order is ever sent on a NaN, crossed,
stale or zero-bid short quote, and no opening order may carry undefined risk.
"""

from __future__ import annotations

import numpy as np

from v6.domain.market import MarketView, locate_legs
from v6.domain.orders import ComboOrder, OrderIntent
from v6.pricing.payoff import risk_profile


def combo_quotes(order: ComboOrder, market: MarketView) -> tuple[float, float, float] | None:
    """(net mid, net natural, valid) for an order's legs; None when a leg is not listed.

    Net prices are debits per unit per share; natural buys at the ask and sells at the bid.
    """
    chain = market.chains.get(order.underlying)
    if chain is None or len(chain) == 0:
        return None
    idx = locate_legs(chain, order.legs)
    if np.any(idx < 0):
        return None
    ratio = np.array([leg.ratio for leg in order.legs], dtype=np.float64)
    bid, ask = chain.bid[idx], chain.ask[idx]
    net_mid = float(np.sum(ratio * (bid + ask) / 2.0))
    net_natural = float(np.sum(np.where(ratio > 0, ratio * ask, ratio * bid)))
    return net_mid, net_natural, float(np.all(chain.valid[idx]))


def refusal_reason(order: ComboOrder, market: MarketView) -> str | None:
    """Why ``order`` must not be sent now, or None when it may go."""
    if not np.isfinite(order.limit_price):
        return "limit price is not a number"
    if any(leg.contract.underlying != order.underlying for leg in order.legs):
        return "legs on more than one underlying"
    chain = market.chains.get(order.underlying)
    if chain is None:
        return f"no option chain for {order.underlying}"
    idx = locate_legs(chain, order.legs)
    if np.any(idx < 0):
        missing = [leg.contract.key for leg, i in zip(order.legs, idx, strict=True) if i < 0]
        return f"contract not listed: {', '.join(missing)}"
    bad = ~chain.valid[idx] | ~np.isfinite(chain.bid[idx]) | ~np.isfinite(chain.ask[idx])
    if np.any(bad):
        keys = [leg.contract.key for leg, b in zip(order.legs, bad, strict=True) if b]
        return f"bad quote on {', '.join(keys)}"
    if order.intent is OrderIntent.OPEN:
        short = np.array([leg.is_short for leg in order.legs])
        if np.any(short & (chain.bid[idx] <= 0)):
            return "zero bid on a short leg"
        profile = risk_profile(
            np.array([leg.contract.strike for leg in order.legs]),
            np.array([leg.contract.is_call for leg in order.legs]),
            np.array([leg.ratio for leg in order.legs]),
            order.limit_price,
        )
        if not profile.defined:
            return "undefined risk: a short leg has no protection"
        if len({leg.contract.expiry for leg in order.legs}) != 1:
            return "opening legs must share one expiry"
    return None
