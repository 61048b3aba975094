"""Delta-target strike selection, vectorised over the whole chain.

Picks the expiry in the candidate's DTE window nearest the target, each delta leg at
the strike whose |delta| is nearest the target, and each wing at the listed strike
nearest ``anchor + offset`` on the far side of its anchor (offset 0: the anchor's own
strike, for the other right). Only options that passed the
data-quality gate are eligible, and a short leg must have a bid: selling into a zero bid
is never an acceptable fill.
"""

from __future__ import annotations

import numpy as np
from attrs import field, frozen, validators

from v6.domain.contracts import Leg
from v6.domain.entries import EntryCandidate, StrikeSelection
from v6.domain.market import OptionChain
from v6.domain.plugins import PluginInfo, PluginKind
from v6.hookspecs import hookimpl
from v6.pricing.payoff import risk_profile

NAME = "delta_target"


@frozen
class Settings:
    """``target_dte`` None means the middle of the candidate's DTE window.

    ``max_spread_fraction`` refuses a short leg whose bid/ask spread is wider than this
    share of its mid (a wide market means a bad fill and an unreliable mark).
    """

    target_dte: int | None = field(default=None, validator=validators.optional(validators.ge(0)))
    max_spread_fraction: float = field(default=0.5, validator=validators.gt(0))


@hookimpl
def v6_plugin_info() -> PluginInfo:
    """The strike selector; its settings are validated by :class:`Settings`."""
    return PluginInfo(
        name=NAME,
        kind=PluginKind.STRIKE_SELECTOR,
        settings=Settings,
        summary="Nearest-delta shorts, wings by width, on the expiry nearest the target DTE",
    )


def _choose_expiry(
    chain: OptionChain, eligible: np.ndarray, candidate: EntryCandidate, settings: Settings
) -> np.datetime64 | None:
    dte = chain.dte()
    window = eligible & (dte >= candidate.min_dte) & (dte <= candidate.max_dte)
    if not window.any():
        return None
    expiries = np.unique(chain.expiry[window])
    exp_dte = (expiries - np.datetime64(chain.as_of.date(), "D")).astype(np.int64)
    target = settings.target_dte
    if target is None:
        target = (candidate.min_dte + candidate.max_dte) / 2
    return expiries[int(np.argmin(np.abs(exp_dte - target)))]


@hookimpl
def v6_select_strikes(
    candidate: EntryCandidate, chain: OptionChain, settings: Settings
) -> StrikeSelection | None:
    """Strikes for ``candidate`` on one expiry, or None when no acceptable structure exists.

    None when: no expiry in the DTE window has valid quotes, a leg has no valid strike
    (shorts also need a bid and a spread within ``max_spread_fraction`` of mid), two legs
    land on one contract, the credit at mid is below ``candidate.min_credit``, or the
    risk is not defined.
    """
    mid = chain.mid
    with np.errstate(invalid="ignore", divide="ignore"):
        tight = (chain.ask - chain.bid) <= settings.max_spread_fraction * mid
    eligible = chain.valid & np.isfinite(chain.delta) & np.isfinite(mid)
    expiry = _choose_expiry(chain, eligible, candidate, settings)
    if expiry is None:
        return None
    on_expiry = eligible & (chain.expiry == expiry)
    rows: list[int] = []
    for template in candidate.legs:  # a handful of legs, each a vectorised search
        side = on_expiry & (chain.is_call == (template.right.value == "C"))
        if template.ratio < 0:
            side &= (chain.bid > 0) & tight
        if template.delta is not None:
            score = np.abs(np.abs(chain.delta) - template.delta)
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
            return None
        rows.append(int(np.flatnonzero(side)[np.argmin(score[side])]))
    idx = np.array(rows)
    if len(set(zip(chain.strike[idx], chain.is_call[idx], strict=True))) != len(rows):
        return None  # two legs collapsed onto one contract
    ratio = np.array([t.ratio for t in candidate.legs], dtype=np.float64) * 1.0
    net_mid = float(np.sum(ratio * mid[idx]))
    net_natural = float(np.sum(np.where(ratio > 0, ratio * chain.ask[idx], ratio * chain.bid[idx])))
    if candidate.min_credit > 0 and -net_mid < candidate.min_credit:
        return None
    if not risk_profile(chain.strike[idx], chain.is_call[idx], ratio, net_mid).defined:
        return None
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
