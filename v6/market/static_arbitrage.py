"""Static arbitrage on executable quotes: free butterflies, verticals and calendars.

A trader does not arbitrage mids; they buy at the ask and sell at the bid. So every check
here prices the riskless side of a spread at the quotes it would execute against, and a
spread that *receives* money while it can never pay out less than nothing (or pays out
more than it cost) is an arbitrage:

- **Butterfly** (convexity in strike): for strikes K1 < K2 < K3 of one expiry and right,
  buying ``K3 - K2`` of K1 and ``K2 - K1`` of K3 at their asks and selling ``K3 - K1`` of
  K2 at its bid costs ``(K3-K2) a1 + (K2-K1) a3 - (K3-K1) b2``. The payoff is never
  negative, so a negative cost is free money. Every triple is checked, not only
  neighbours (a kink two strikes wide is still a kink), in O(n^2) per series
  (:func:`cheapest_wings`); the count is of (low wing, body) pairs with some high wing
  that makes the butterfly free.
- **Vertical** (monotonicity and slope in strike): a call at a lower strike is worth at
  least the call above it (``a_low - b_high >= 0``); a put at a higher strike at least
  the put below; and a vertical never pays out more than its width, so selling it never
  brings in more than the width (American-style bound, no discounting). Every pair.
- **Calendar** (monotonicity in time): the same strike and right at a later expiry is
  worth at least the earlier one (``a_far - b_near >= 0``). That holds for American
  options, which US equity options are. Every pair of expiries.

Everything is vectorised over a series (one expiry and right) or the whole chain.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from attrs import frozen

from v6.domain.market import OptionChain

# Quotes are in cents; a cost below minus this is a real credit, not float noise.
TOLERANCE = 1e-9


@frozen(slots=True)
class ArbitrageReport:
    """How many executable static arbitrages one chain offers, with an example of each."""

    underlying: str
    butterflies: int
    verticals: int
    calendars: int
    examples: tuple[str, ...]

    @property
    def total(self) -> int:
        return self.butterflies + self.verticals + self.calendars


def cheapest_wings(strike: np.ndarray, ask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every pair of a low wing ``i`` and a body ``j > i`` of one series: the least a
    butterfly's wings cost per unit of body, and the high wing ``k > j`` that achieves it.

    The wings' cost at the body's strike is the chord from ``(K_i, a_i)`` to
    ``(K_k, a_k)`` evaluated at ``K_j``: ``a_i + (K_j - K_i) * slope_ik``; for a fixed
    ``i`` it is least at the smallest chord slope over ``k > j``, a running minimum from
    the right. So every triple is covered in O(n^2). Entries with ``j <= i`` or no
    ``k > j`` are +inf.
    """
    n = strike.size
    dk = strike[None, :] - strike[:, None]
    upper = np.triu(np.ones((n, n), dtype=bool), 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(upper, (ask[None, :] - ask[:, None]) / dk, np.inf)
    # best[i, j] = min over k >= j of slope[i, k]; shifted by one: k > j.
    best = np.minimum.accumulate(slope[:, ::-1], axis=1)[:, ::-1]
    after = np.full((n, n), np.inf)
    after[:, :-1] = best[:, 1:]
    chosen = np.zeros((n, n), dtype=np.int64)
    if n >= 3:
        # The high wing of the cheapest chord (for the example message only).
        idx = np.where(slope == best, np.arange(n)[None, :], n)
        first = np.minimum.accumulate(idx[:, ::-1], axis=1)[:, ::-1]
        chosen[:, :-1] = first[:, 1:]
    with np.errstate(invalid="ignore"):
        wings = np.where(upper, ask[:, None] + dk * after, np.inf)
    return wings, chosen


@lru_cache(maxsize=256)
def _pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.triu_indices(n, 1)


def _series(chain: OptionChain, usable: np.ndarray) -> list[np.ndarray]:
    """Row indices of every (expiry, right) series, sorted by strike."""
    rows = np.flatnonzero(usable)
    order = np.lexsort((chain.strike[rows], chain.is_call[rows], chain.expiry[rows]))
    rows = rows[order]
    key_e, key_c = chain.expiry[rows], chain.is_call[rows]
    breaks = np.flatnonzero((key_e[1:] != key_e[:-1]) | (key_c[1:] != key_c[:-1])) + 1
    return [s for s in np.split(rows, breaks) if s.size]


def _label(chain: OptionChain, row: int) -> str:
    right = "C" if chain.is_call[row] else "P"
    return f"{chain.underlying} {chain.expiry[row]} {right}"


def check_chain(chain: OptionChain) -> ArbitrageReport:
    """Count the executable butterflies, verticals and calendars of ``chain``.

    Only valid quotes with a finite bid and ask count (a rejected quote is nobody's
    market).
    """
    valid = chain.valid if chain.valid is not None else np.ones(len(chain), dtype=bool)
    usable = valid & np.isfinite(chain.bid) & np.isfinite(chain.ask)
    bid, ask, strike = chain.bid, chain.ask, chain.strike
    butterflies = verticals = 0
    examples: list[str] = []
    for rows in _series(chain, usable):
        n = rows.size
        k, b, a = strike[rows], bid[rows], ask[rows]
        if n >= 2:
            lo, hi = _pairs(n)
            if chain.is_call[rows[0]]:
                free = a[lo] - b[hi] < -TOLERANCE  # buy the lower call for less than the higher
            else:
                free = a[hi] - b[lo] < -TOLERANCE  # buy the higher put for less than the lower
            wide = (
                np.where(chain.is_call[rows[0]], b[lo] - a[hi], b[hi] - a[lo])
                > k[hi] - k[lo] + TOLERANCE
            )
            bad = free | wide
            verticals += int(bad.sum())
            if bad.any() and len(examples) < 6:
                p = int(np.flatnonzero(bad)[0])
                examples.append(
                    f"vertical {_label(chain, rows[0])} {k[lo[p]]:g}/{k[hi[p]]:g}: "
                    f"bid {b[lo[p]]:.2f}/{b[hi[p]]:.2f} ask {a[lo[p]]:.2f}/{a[hi[p]]:.2f}"
                )
        if n >= 3:
            wings, high = cheapest_wings(k, a)
            credit = b[None, :] - wings  # per unit of body
            bad = credit > TOLERANCE
            butterflies += int(bad.sum())
            if bad.any() and len(examples) < 6:
                i, j = np.unravel_index(int(np.argmax(np.where(bad, credit, -np.inf))), bad.shape)
                m = int(high[i, j])
                examples.append(
                    f"butterfly {_label(chain, rows[0])} {k[i]:g}/{k[j]:g}/{k[m]:g}: "
                    f"buy {a[i]:.2f} + {a[m]:.2f}, sell {b[j]:.2f}, "
                    f"credit {credit[i, j]:.4f} per unit of body"
                )
    calendars, calendar_examples = _calendars(chain, usable)
    examples.extend(calendar_examples)
    return ArbitrageReport(
        underlying=chain.underlying,
        butterflies=butterflies,
        verticals=verticals,
        calendars=calendars,
        examples=tuple(examples),
    )


def _calendars(chain: OptionChain, usable: np.ndarray) -> tuple[int, list[str]]:
    """Options offered below the best bid of the same strike and right at an earlier expiry."""
    rows = np.flatnonzero(usable)
    order = np.lexsort((chain.expiry[rows], chain.strike[rows], chain.is_call[rows]))
    rows = rows[order]
    if rows.size < 2:
        return 0, []
    strike, is_call = chain.strike[rows], chain.is_call[rows]
    bid, ask = chain.bid[rows], chain.ask[rows]
    new_group = np.r_[True, (strike[1:] != strike[:-1]) | (is_call[1:] != is_call[:-1])]
    group = np.cumsum(new_group)
    # The best bid of every earlier expiry of the same series: a running maximum that
    # restarts at each group, done in one pass by lifting each group above the last.
    lift = group * (np.nanmax(bid) + 1.0)
    best_before = np.maximum.accumulate(np.r_[-np.inf, (bid + lift)[:-1]])
    best_before = np.where(new_group, -np.inf, best_before - lift)
    bad = ask - best_before < -TOLERANCE
    examples = []
    if bad.any():
        p = int(np.flatnonzero(bad)[0])
        examples.append(
            f"calendar {chain.underlying} {'C' if is_call[p] else 'P'} {strike[p]:g} "
            f"{chain.expiry[rows[p]]}: ask {ask[p]:.2f} under an earlier expiry's bid "
            f"{best_before[p]:.2f}"
        )
    return int(bad.sum()), examples
