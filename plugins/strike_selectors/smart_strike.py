"""Skew-aware strike selection: move the short leg on the rich side of the smile.

Index options price puts richer than calls (the skew). How much richer changes: after a
selloff the 25-delta put can trade at 1.4x the 25-delta call's volatility, in a melt-up
the smile flattens or inverts. This selector measures that ratio on the expiry it is
about to trade and moves the short leg on the rich side by a delta shift proportional
to how far the ratio sits from a *neutral* ratio (the skew the strategy's deltas were
tuned for):

- ``rich_side: farther`` (default) sells the rich side farther out: a steep put skew
  says the market fears a drop, so the short put goes to a lower delta.
- ``rich_side: closer`` sells the rich side closer in, to collect more of the premium
  the skew pays.

Only short legs with a delta target move; wings follow their anchor. The shift is
``sensitivity * |ratio - neutral_ratio|``, capped at ``max_shift`` and never taking a
short below ``min_delta`` (farther) or past 0.50 (closer). The search itself is
:func:`v6.entry.strike_selection.search_by_delta`.

Constraints and retries: the credit at mid must reach the larger of ``min_credit`` and
the candidate's own, and no wing may be wider than ``max_width``. When the fully shifted
structure fails (too little credit, too wide, missing or unquoted strikes), the selector
tries half the shift, then no shift; the reason names the step used and why the larger
ones failed. A reduced shift is an ordinary outcome, so it is not a warning. When no step
works, the ``NoSelection`` says why each failed, and the engine stores that with the
rejected entry.

When the skew cannot be measured (fewer than two usable quotes on a side, NaN IVs, no
quotes either side of the reference delta) the selector falls back to plain delta
targeting and says so in ``StrikeSelection.warnings``: the engine raises an alert, as a
human should know the skew logic was off for that trade.
"""

from __future__ import annotations

import math

import attrs
import numpy as np
from attrs import field, frozen, validators

from v6.domain.contracts import Right
from v6.domain.entries import EntryCandidate, NoSelection, StrikeSelection
from v6.domain.market import OptionChain
from v6.domain.plugins import PluginInfo, PluginKind
from v6.entry.strike_selection import choose_expiry, search_by_delta
from v6.hookspecs import hookimpl

NAME = "smart_strike"
# A short moved "closer" stops at the money: past it the leg is sold in the money.
ATM_DELTA = 0.50
# Fractions of the skew shift tried in turn when a shifted structure is not acceptable.
SHIFT_STEPS = ((1.0, "full shift"), (0.5, "half shift"), (0.0, "no shift"))


@frozen
class Settings:
    """How the skew moves the short strikes.

    Attributes:
        target_dte: as for ``delta_target``: the calendar days to expiry to aim for;
            null means the middle of the candidate's DTE window.
        max_spread_fraction: as for ``delta_target``: refuse a short leg whose spread is
            wider than this share of its mid.
        reference_delta: where the skew is read (0.25: the 25-delta put and call).
        neutral_ratio: the put/call IV ratio at which nothing moves (1.35: a 30-day
            index smile with the 25-delta put some 5 vol points over the call).
        sensitivity: the delta shift per 1.0 of ratio away from ``neutral_ratio``.
        max_shift: the largest delta shift.
        min_delta: a short is never moved farther out than this delta.
        rich_side: whether the rich side is sold ``farther`` out or ``closer`` in.
        min_credit: least credit per share (the larger of it and the candidate's
            applies).
        max_width: most points between a wing and its short; null = no limit.
    """

    target_dte: int | None = field(default=None, validator=validators.optional(validators.ge(0)))
    max_spread_fraction: float = field(default=0.5, validator=validators.gt(0))
    reference_delta: float = field(
        default=0.25, validator=[validators.gt(0), validators.lt(ATM_DELTA)]
    )
    neutral_ratio: float = field(default=1.35, validator=validators.gt(0))
    sensitivity: float = field(default=0.20, validator=validators.ge(0))
    max_shift: float = field(default=0.06, validator=[validators.ge(0), validators.lt(ATM_DELTA)])
    min_delta: float = field(default=0.05, validator=[validators.gt(0), validators.lt(ATM_DELTA)])
    rich_side: str = field(default="farther", validator=validators.in_(("farther", "closer")))
    min_credit: float = field(default=0.0, validator=validators.ge(0))
    max_width: float | None = field(default=None, validator=validators.optional(validators.gt(0)))


@hookimpl
def v6_plugin_info() -> PluginInfo:
    """The strike selector; its settings are validated by :class:`Settings`."""
    return PluginInfo(
        name=NAME,
        kind=PluginKind.STRIKE_SELECTOR,
        settings=Settings,
        summary="Delta-target strikes, the rich side of the IV skew moved by how rich it is",
    )


@frozen(slots=True)
class SkewReading:
    """The put/call skew of one expiry: IVs at the reference delta and their ratio.

    ``problem`` is empty when the skew was measured, else why it could not be (the IVs
    and the ratio are then NaN).
    """

    put_iv: float
    call_iv: float
    reference_delta: float
    problem: str = ""

    @property
    def measured(self) -> bool:
        return not self.problem

    @property
    def ratio(self) -> float:
        """Put IV / call IV: above 1 puts are richer, below 1 calls are."""
        return self.put_iv / self.call_iv if self.measured else math.nan


def _iv_at_delta(chain: OptionChain, rows: np.ndarray, side: str, reference: float) -> float | str:
    """IV at |delta| == ``reference`` among ``rows``, linear in |delta|; or the problem."""
    abs_delta = np.abs(chain.delta[rows])
    if abs_delta.size < 2:
        return f"{abs_delta.size} usable {side} quote(s), need 2"
    order = np.argsort(abs_delta, kind="stable")
    abs_delta = abs_delta[order]
    if not abs_delta[0] <= reference <= abs_delta[-1]:
        return (
            f"no {side} quotes either side of {reference:.2f} delta "
            f"(|delta| {abs_delta[0]:.2f}-{abs_delta[-1]:.2f})"
        )
    return float(np.interp(reference, abs_delta, chain.iv[rows][order]))


def measure_skew(
    chain: OptionChain, expiry: np.datetime64, reference_delta: float = 0.25
) -> SkewReading:
    """The put/call IV skew of ``expiry`` at ``reference_delta``, vectorised per side.

    Each side's IV is interpolated linearly against |delta| over the quotes that passed
    the quality gate with a finite, positive IV and a finite delta, so a bad print never
    bends the measurement. Unmeasurable when a side has fewer than two such quotes or
    none on one side of the reference delta.
    """
    with np.errstate(invalid="ignore"):
        usable = (
            chain.valid
            & (chain.expiry == np.datetime64(expiry, "D"))
            & np.isfinite(chain.delta)
            & np.isfinite(chain.iv)
            & (chain.iv > 0)
        )
    put_iv = _iv_at_delta(chain, usable & ~chain.is_call, "put", reference_delta)
    call_iv = _iv_at_delta(chain, usable & chain.is_call, "call", reference_delta)
    problems = [p for p in (put_iv, call_iv) if isinstance(p, str)]
    if problems:
        return SkewReading(math.nan, math.nan, reference_delta, "; ".join(problems))
    return SkewReading(float(put_iv), float(call_iv), reference_delta)


def skew_shift(ratio: float, settings: Settings) -> tuple[Right | None, float]:
    """The rich side (None when the skew is neutral) and the capped delta shift."""
    excess = ratio - settings.neutral_ratio
    shift = min(settings.sensitivity * abs(excess), settings.max_shift)
    if shift <= 0:
        return None, 0.0
    return (Right.PUT if excess > 0 else Right.CALL), shift


def shifted_targets(
    candidate: EntryCandidate, rich: Right | None, shift: float, settings: Settings
) -> tuple[float | None, ...]:
    """Per-leg delta targets after the shift (None = the template's, unchanged).

    Only short legs on the rich side with a delta target move. Farther: the delta drops
    by ``shift`` but not below ``min_delta`` (a template already below it is left alone).
    Closer: it rises by ``shift`` but not past 0.50.
    """
    targets: list[float | None] = []
    for t in candidate.legs:  # a handful of legs
        if rich is None or shift <= 0 or t.delta is None or t.ratio >= 0 or t.right != rich:
            targets.append(None)
        elif settings.rich_side == "farther":
            targets.append(max(t.delta - shift, min(t.delta, settings.min_delta)))
        else:
            targets.append(min(t.delta + shift, max(t.delta, ATM_DELTA)))
    return tuple(targets)


def _describe_targets(candidate: EntryCandidate, targets: tuple[float | None, ...]) -> str:
    moves = [
        f"{'put' if t.right == Right.PUT else 'call'} delta {t.delta:.2f}->{new:.2f}"
        for t, new in zip(candidate.legs, targets, strict=True)
        if new is not None and t.delta is not None and not math.isclose(new, t.delta)
    ]
    return ", ".join(moves) or "no shift"


@hookimpl
def v6_select_strikes(
    candidate: EntryCandidate, chain: OptionChain, settings: Settings
) -> StrikeSelection | NoSelection:
    """Delta-target strikes with the rich side's short moved by the measured skew.

    A ``NoSelection`` saying why when no acceptable structure exists even without a shift
    (see :func:`v6.entry.strike_selection.search_by_delta`), when the credit at mid stays
    below the larger of ``settings.min_credit`` and ``candidate.min_credit``, or when a
    wing is wider than ``settings.max_width``.
    """
    min_credit = max(settings.min_credit, candidate.min_credit)
    plain = {
        "target_dte": settings.target_dte,
        "max_spread_fraction": settings.max_spread_fraction,
        "max_width": settings.max_width,
    }
    expiry = choose_expiry(candidate, chain, settings.target_dte)
    if expiry is None:
        return NoSelection(
            f"no expiry {candidate.min_dte}-{candidate.max_dte} DTE with valid quotes"
        )
    skew = measure_skew(chain, expiry, settings.reference_delta)
    if not skew.measured:
        selection = search_by_delta(candidate, chain, min_credit=min_credit, **plain)
        if isinstance(selection, NoSelection):
            return NoSelection(f"skew unmeasurable ({skew.problem}); {selection.reason}")
        return attrs.evolve(
            selection,
            reason=f"skew unmeasurable: plain delta targeting; {selection.reason}",
            warnings=(
                *selection.warnings,
                f"skew unmeasurable on {candidate.underlying} {expiry}: {skew.problem}; "
                "plain delta targeting",
            ),
        )

    rich, shift = skew_shift(skew.ratio, settings)
    measured = (
        f"skew {skew.ratio:.2f} (put {skew.put_iv:.2f} / call {skew.call_iv:.2f} at "
        f"{skew.reference_delta:.2f} delta, neutral {settings.neutral_ratio:.2f})"
    )
    failures: list[str] = []
    tried: set[tuple[float | None, ...]] = set()
    for fraction, step in SHIFT_STEPS:
        targets = shifted_targets(candidate, rich, shift * fraction, settings)
        if targets in tried:  # clamped to the same targets as a larger step
            continue
        tried.add(targets)
        # Credit is checked here, not in the search, so a failure can say which it was.
        selection = search_by_delta(
            candidate, chain, delta_targets=targets, min_credit=0.0, **plain
        )
        if isinstance(selection, NoSelection):
            failures.append(f"{step}: {selection.reason}")
            continue
        credit = -selection.net_mid
        if min_credit > 0 and credit < min_credit:
            failures.append(f"{step}: credit {credit:.2f} < {min_credit:.2f}")
            continue
        applied = _describe_targets(candidate, targets)
        if failures:  # "no shift" already says which step it is
            named = "" if fraction == 0.0 else f"{step}; "
            applied += f" ({named}{'; '.join(failures)})"
        return attrs.evolve(selection, reason=f"{measured}: {applied}; {selection.reason}")
    return NoSelection(f"{measured}: {'; '.join(failures)}")
