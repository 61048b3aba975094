"""Maintenance margin of an options account: defined risk where legs cover each other,
a Reg-T style naked requirement where they do not.

Positions are grouped by (underlying, expiry); calendars and diagonals get no credit
across expiries, which over-charges them a little but never under-charges.

Within a group the requirement is:

* **defined risk**: the worst loss at expiry versus what was paid for the legs,
  ``max(0, paid - min(expiry value))``. A combo's expiry value is piecewise linear with
  kinks at its strikes, so evaluating it at spot 0, at each strike and beyond the highest
  strike is exact. For a credit spread or an iron condor this is ``width - credit``; for
  a long option or debit spread it is the debit (long options have no loan value).
* **naked**: short calls not matched by long calls in the same group (net call quantity
  below zero) and short puts not matched by long puts are charged the Reg-T naked
  requirement per share, ``mark + max(20% x spot - out-of-the-money amount, 10% x spot)``
  for a call and ``... 10% x strike`` for a put. The most out-of-the-money shorts (highest
  call strikes, lowest put strikes) are treated as the naked ones, the cheaper pairing a
  real broker would also choose; the rest stay in the defined-risk part.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

import numpy as np
from attrs import frozen

from v6.domain.contracts import OptionContract
from v6.pricing.payoff import expiry_payoff

NAKED_SPOT_FRACTION = 0.20
NAKED_MINIMUM_FRACTION = 0.10


@frozen(slots=True)
class HeldOption:
    """One holding as margin sees it: signed contracts, price paid and mark (per share)."""

    contract: OptionContract
    quantity: int
    cost: float
    mark: float


def naked_requirement(
    strike: np.ndarray, is_call: np.ndarray, mark: np.ndarray, spot: float | np.ndarray
) -> np.ndarray:
    """Reg-T requirement per share for one uncovered short option at each strike.

    Why: an uncovered call has unlimited loss and an uncovered put a loss up to its
    strike; brokers charge a fraction of the underlying instead of that worst case.
    """
    k = np.asarray(strike, dtype=np.float64)
    c = np.asarray(is_call, dtype=bool)
    spot = np.asarray(spot, dtype=np.float64)
    otm = np.where(c, np.maximum(k - spot, 0.0), np.maximum(spot - k, 0.0))
    floor = NAKED_MINIMUM_FRACTION * np.where(c, spot, k)
    return np.nan_to_num(np.asarray(mark, dtype=np.float64)) + np.maximum(
        NAKED_SPOT_FRACTION * spot - otm, floor
    )


def _uncovered(
    quantity: np.ndarray, strike: np.ndarray, mask: np.ndarray, descending: bool
) -> np.ndarray:
    """Contracts per leg treated as naked: the net short of ``mask`` legs, most OTM first."""
    naked = np.zeros_like(quantity)
    excess = -float(quantity[mask].sum())
    if excess <= 0:
        return naked
    shorts = np.flatnonzero(mask & (quantity < 0))
    keys = -strike[shorts] if descending else strike[shorts]
    shorts = shorts[np.argsort(keys, kind="stable")]
    available = -quantity[shorts]
    before = np.cumsum(available) - available
    naked[shorts] = np.clip(excess - before, 0.0, available)
    return naked


def _covered_part(
    k: np.ndarray, c: np.ndarray, q: np.ndarray, cost: np.ndarray, mult: np.ndarray
) -> tuple[float, np.ndarray]:
    """(defined-risk requirement, contracts per leg treated as naked) of one group."""
    naked = _uncovered(q, k, c, descending=True) + _uncovered(q, k, ~c, descending=False)
    covered = q + naked
    points = np.concatenate(([0.0], np.unique(k), [2.0 * float(k.max()) + 1.0]))
    value = expiry_payoff(k, c, covered * mult, points)
    paid = float(np.sum(covered * mult * cost))
    return max(0.0, paid - float(value.min())), naked


def _with_naked(
    defined: float,
    naked: np.ndarray,
    k: np.ndarray,
    c: np.ndarray,
    mark: np.ndarray,
    mult: np.ndarray,
    spot: float,
) -> float:
    """The defined-risk requirement plus the Reg-T charge of the naked contracts."""
    if not naked.any():
        return defined
    idx = np.flatnonzero(naked)
    # Without a price for the underlying, assume it sits at the strike (at the money).
    at = np.full(idx.size, spot) if np.isfinite(spot) else k[idx]
    per_share = naked_requirement(k[idx], c[idx], mark[idx], at)
    return defined + float(np.sum(naked[idx] * mult[idx] * per_share))


def group_requirement(
    strike: np.ndarray,
    is_call: np.ndarray,
    quantity: np.ndarray,
    cost: np.ndarray,
    mark: np.ndarray,
    multiplier: np.ndarray,
    spot: float,
) -> float:
    """Margin in dollars for the legs of one (underlying, expiry) group.

    ``quantity`` is signed contracts, ``cost`` and ``mark`` are per share. A ``spot`` that
    is not finite falls back to each leg's strike for the naked charge.
    """
    k = np.asarray(strike, dtype=np.float64)
    c = np.asarray(is_call, dtype=bool)
    mult = np.asarray(multiplier, dtype=np.float64)
    defined, naked = _covered_part(
        k,
        c,
        np.asarray(quantity, dtype=np.float64),
        np.asarray(cost, dtype=np.float64),
        mult,
    )
    return _with_naked(defined, naked, k, c, np.asarray(mark, dtype=np.float64), mult, spot)


@lru_cache(maxsize=4096)
def _group_structure(
    strikes: tuple[float, ...],
    calls: tuple[bool, ...],
    quantities: tuple[int, ...],
    costs: tuple[float, ...],
    multipliers: tuple[int, ...],
) -> tuple[float, np.ndarray | None]:
    """:func:`_covered_part` of one group, cached: a group's legs, sizes and costs change
    only when it trades, while the account asks for its margin every cycle. The naked
    contracts come back read-only (None when there are none)."""
    defined, naked = _covered_part(
        np.array(strikes, dtype=np.float64),
        np.array(calls, dtype=bool),
        np.array(quantities, dtype=np.float64),
        np.array(costs, dtype=np.float64),
        np.array(multipliers, dtype=np.float64),
    )
    if not naked.any():
        return defined, None
    naked.flags.writeable = False
    return defined, naked


def maintenance_margin(holdings: Sequence[HeldOption], spots: Mapping[str, float]) -> float:
    """Total requirement in dollars (rounded to the cent) over every (underlying, expiry).

    ``spots`` gives each underlying's price for the naked charge; a missing one falls
    back to the strike (an at-the-money assumption).
    """
    groups: dict[tuple[str, object], list[HeldOption]] = {}
    for held in holdings:
        if held.quantity:
            groups.setdefault((held.contract.underlying, held.contract.expiry), []).append(held)
    total = 0.0
    for (underlying, _expiry), legs in groups.items():
        strikes = tuple(h.contract.strike for h in legs)
        calls = tuple(h.contract.is_call for h in legs)
        multipliers = tuple(h.contract.multiplier for h in legs)
        defined, naked = _group_structure(
            strikes,
            calls,
            tuple(h.quantity for h in legs),
            tuple(h.cost for h in legs),
            multipliers,
        )
        if naked is None:
            total += defined
            continue
        total += _with_naked(
            defined,
            naked,
            np.array(strikes, dtype=np.float64),
            np.array(calls, dtype=bool),
            np.array([h.mark for h in legs], dtype=np.float64),
            np.array(multipliers, dtype=np.float64),
            float(spots.get(underlying, np.nan)),
        )
    return round(total, 2)
