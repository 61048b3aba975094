"""Delta-target strike selection, vectorised over the whole chain.

The algorithm every built-in strike selector shares: pick the expiry in the candidate's
DTE window nearest the target, each delta leg at the strike whose |delta| is nearest
its target, and each wing at the listed strike nearest ``anchor + offset`` on the far
side of its anchor (offset 0: the anchor's own strike, for the other right). Only
options that passed the data-quality gate are eligible, and a short leg must have a bid
and a tight enough market: selling into a zero bid is never an acceptable fill.

Selectors that adjust the targets (skew, regime) call :func:`search_by_delta` (or
:func:`select_by_delta`) with their own ``delta_targets`` instead of copying the search.
:func:`search_by_delta` says why it found nothing (a ``NoSelection`` with a reason the
engine stores with the rejected entry); :func:`select_by_delta` answers None instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from v6.domain.contracts import Leg
from v6.domain.entries import EntryCandidate, NoSelection, StrikeSelection
from v6.domain.market import OptionChain
from v6.pricing.payoff import risk_profile


def eligible_rows(chain: OptionChain) -> np.ndarray:
    """Rows a selection may use: passed the quality gate, with a finite delta and mid."""
    return chain.valid & np.isfinite(chain.delta) & np.isfinite(chain.mid)


def choose_expiry(
    candidate: EntryCandidate, chain: OptionChain, target_dte: int | None
) -> np.datetime64 | None:
    """The expiry in the candidate's DTE window nearest ``target_dte``, or None.

    ``target_dte`` None means the middle of the window. Only expiries with at least one
    eligible quote count, so a selector that measures something on "its" expiry first
    (the skew, say) sees the very expiry :func:`select_by_delta` will trade.
    """
    dte = chain.dte()
    window = eligible_rows(chain) & (dte >= candidate.min_dte) & (dte <= candidate.max_dte)
    if not window.any():
        return None
    expiries = np.unique(chain.expiry[window])
    exp_dte = (expiries - np.datetime64(chain.as_of.date(), "D")).astype(np.int64)
    target = (candidate.min_dte + candidate.max_dte) / 2 if target_dte is None else target_dte
    return expiries[int(np.argmin(np.abs(exp_dte - target)))]


def _delta_targets(
    candidate: EntryCandidate, overrides: Sequence[float | None] | None
) -> list[float | None]:
    targets = [t.delta for t in candidate.legs]
    if overrides is None:
        return targets
    if len(overrides) != len(targets):
        raise ValueError(
            f"{len(overrides)} delta targets for the {len(targets)} legs of "
            f"{candidate.structure}: give one per leg (None keeps the template's)"
        )
    for i, (template, override) in enumerate(zip(candidate.legs, overrides, strict=True)):
        if override is None:
            continue
        if template.delta is None:
            raise ValueError(
                f"leg {i} of {candidate.structure} is placed by its anchor, not by delta: "
                "its delta target must be None"
            )
        targets[i] = float(override)
    return targets


def wing_width(candidate: EntryCandidate, strikes: np.ndarray) -> float:
    """The widest distance in points between an anchored leg and its anchor (0 if none).

    ``strikes`` holds the chosen strike of each leg, in the candidate's leg order.
    """
    widths = [
        abs(float(strikes[i]) - float(strikes[t.anchor]))
        for i, t in enumerate(candidate.legs)
        if t.anchor is not None
    ]
    return max(widths, default=0.0)


def select_by_delta(
    candidate: EntryCandidate,
    chain: OptionChain,
    *,
    target_dte: int | None,
    max_spread_fraction: float,
    delta_targets: Sequence[float | None] | None = None,
    max_width: float | None = None,
    min_credit: float | None = None,
) -> StrikeSelection | None:
    """Strikes for ``candidate`` on one expiry, or None when no acceptable structure exists.

    :func:`search_by_delta` without the reason: the same arguments, the same search.
    """
    found = search_by_delta(
        candidate,
        chain,
        target_dte=target_dte,
        max_spread_fraction=max_spread_fraction,
        delta_targets=delta_targets,
        max_width=max_width,
        min_credit=min_credit,
    )
    return found if isinstance(found, StrikeSelection) else None


def _leg_name(i: int, ratio: int, right: str) -> str:
    return f"leg {i} ({'short' if ratio < 0 else 'long'} {'call' if right == 'C' else 'put'})"


def search_by_delta(
    candidate: EntryCandidate,
    chain: OptionChain,
    *,
    target_dte: int | None,
    max_spread_fraction: float,
    delta_targets: Sequence[float | None] | None = None,
    max_width: float | None = None,
    min_credit: float | None = None,
) -> StrikeSelection | NoSelection:
    """Strikes for ``candidate`` on one expiry, or a :class:`NoSelection` saying why not.

    ``delta_targets`` (one per leg; None keeps the template's) replaces the candidate's
    target deltas, so a selector can move a short leg without rebuilding the candidate.
    ``max_width`` caps the points between any anchored leg (a wing) and its anchor.
    ``min_credit`` (per share) replaces ``candidate.min_credit`` when given; 0 disables
    the check.

    Nothing is selected when: no expiry in the DTE window has valid quotes, a leg has no
    valid strike (shorts also need a bid and a spread within ``max_spread_fraction`` of
    mid), a wing is wider than ``max_width``, two legs land on one contract, the credit at
    mid is below the minimum, or the risk is not defined; the reason says which.
    """
    targets = _delta_targets(candidate, delta_targets)
    mid = chain.mid
    with np.errstate(invalid="ignore", divide="ignore"):
        tight = (chain.ask - chain.bid) <= max_spread_fraction * mid
    expiry = choose_expiry(candidate, chain, target_dte)
    if expiry is None:
        return NoSelection(
            f"no expiry {candidate.min_dte}-{candidate.max_dte} DTE with valid quotes"
        )
    on_expiry = eligible_rows(chain) & (chain.expiry == expiry)
    abs_delta = np.abs(chain.delta)
    rows: list[int] = []
    for template, target_delta in zip(candidate.legs, targets, strict=True):
        # A handful of legs, each a vectorised search over the whole chain.
        side = on_expiry & (chain.is_call == (template.right.value == "C"))
        if template.ratio < 0:
            side &= (chain.bid > 0) & tight
        if target_delta is not None:
            score = np.abs(abs_delta - target_delta)
        else:
            if not 0 <= template.anchor < len(rows):
                raise ValueError(
                    f"leg {len(rows)} of {candidate.structure} anchors to leg "
                    f"{template.anchor}, which is not an earlier leg"
                )
            anchor_strike = chain.strike[rows[template.anchor]]
            target = anchor_strike + template.offset
            if template.offset < 0:
                side &= chain.strike < anchor_strike
            elif template.offset > 0:
                side &= chain.strike > anchor_strike
            else:  # offset 0: the anchor's own strike (an iron fly's call on the put's strike)
                side &= chain.strike == anchor_strike
            score = np.abs(chain.strike - target)
        if not side.any():
            leg = _leg_name(len(rows), template.ratio, template.right.value)
            where = "" if target_delta is None else f" near {target_delta:.2f} delta"
            needs = (
                f" with a bid and a spread within {max_spread_fraction:g} of mid"
                if template.ratio < 0
                else ""
            )
            return NoSelection(f"{leg}: no valid strike{where} on {expiry.astype(object)}{needs}")
        rows.append(int(np.flatnonzero(side)[np.argmin(score[side])]))
    idx = np.array(rows)
    if max_width is not None:
        width = wing_width(candidate, chain.strike[idx])
        if width > max_width:
            return NoSelection(f"wing {width:g} points wide, over the {max_width:g} maximum")
    if len(set(zip(chain.strike[idx], chain.is_call[idx], strict=True))) != len(rows):
        return NoSelection("two legs landed on one contract")
    ratio = np.array([t.ratio for t in candidate.legs], dtype=np.float64)
    net_mid = float(np.sum(ratio * mid[idx]))
    net_natural = float(np.sum(np.where(ratio > 0, ratio * chain.ask[idx], ratio * chain.bid[idx])))
    floor = candidate.min_credit if min_credit is None else min_credit
    if floor > 0 and -net_mid < floor:
        return NoSelection(f"credit {-net_mid:.2f} at mid, below the {floor:.2f} minimum")
    if not risk_profile(chain.strike[idx], chain.is_call[idx], ratio, net_mid).defined:
        return NoSelection("the chosen strikes do not define the risk")
    legs = tuple(
        Leg(contract=chain.contract(int(i)), ratio=t.ratio)
        for i, t in zip(idx, candidate.legs, strict=True)
    )
    return StrikeSelection(
        candidate=candidate,
        expiry=expiry.astype(object),
        legs=legs,
        net_mid=net_mid,
        net_natural=net_natural,
        reason=", ".join(
            f"{leg.contract.key} d={chain.delta[i]:+.2f}" for leg, i in zip(legs, idx, strict=True)
        ),
    )
