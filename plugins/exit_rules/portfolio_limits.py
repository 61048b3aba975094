"""Portfolio limits: when the book as a whole breaches a limit, reduce the position that
contributes most to the breach.

Entries are refused at the limits already; a portfolio drifts past them when the market
moves (a rally turns a neutral book short delta, a vol spike grows the stress loss).
Closing the single biggest contributor is the smallest trade that helps: one position
per breached limit per cycle, re-measured next cycle. ``tolerance`` (1.1 = act 10% past
the limit) keeps the rule from fighting the entry check at the boundary.

Limits checked, from ``limits``: beta-weighted delta, gamma, vega and the worst stress
scenario's loss, plus margin (sum of max losses) against ``max_total_max_loss``.
"""

from __future__ import annotations

import weakref

import numpy as np
from attrs import field, frozen, validators

from v6.config import LimitSettings
from v6.domain.decisions import ExitAction, ExitDecision
from v6.domain.plugins import PluginInfo, PluginKind
from v6.domain.positions import PositionMark
from v6.domain.risk import PortfolioRisk
from v6.hookspecs import hookimpl

NAME = "portfolio_limits"
PRIORITY = 70


@frozen
class Settings:
    """How far past a portfolio limit the rule lets the book go before it acts.

    Attributes:
        tolerance: act once a measure exceeds its limit times this (1.1 = 10% past).
    """

    tolerance: float = field(default=1.1, validator=validators.ge(1))


@frozen(slots=True)
class Breach:
    """A breached limit and the position contributing most to it."""

    measure: str
    value: float
    limit: float
    position_id: str


@hookimpl
def v6_plugin_info() -> PluginInfo:
    """An exit rule at priority 70."""
    return PluginInfo(
        name=NAME,
        kind=PluginKind.EXIT_RULE,
        settings=Settings,
        priority=PRIORITY,
        summary="Reduce the biggest contributor to a breached portfolio limit",
    )


def _largest(values: np.ndarray, valid: np.ndarray, sign: float) -> int | None:
    scores = np.where(valid, sign * values, -np.inf)
    if not np.isfinite(scores).any():
        return None
    best = int(np.argmax(scores))
    return best if scores[best] > 0 else None


def breaches(portfolio: PortfolioRisk, limits: LimitSettings, tolerance: float) -> list[Breach]:
    """Every limit the portfolio exceeds by more than ``tolerance``, with its top contributor."""
    if len(portfolio) == 0:
        return []
    found: list[Breach] = []
    valid = portfolio.valid
    for measure, values, limit in (
        ("beta_delta", portfolio.beta_delta, limits.max_abs_beta_delta),
        ("gamma", portfolio.gamma, limits.max_abs_gamma),
        ("vega", portfolio.vega, limits.max_abs_vega),
    ):
        total = float(values.sum())
        if abs(total) > limit * tolerance:
            i = _largest(values, valid, np.sign(total))
            if i is not None:
                found.append(Breach(measure, total, limit, portfolio.position_ids[i]))
    margin = float(portfolio.margin.sum())
    if margin > limits.max_total_max_loss * tolerance:
        i = _largest(portfolio.margin, np.ones(len(portfolio), bool), 1.0)
        if i is not None:
            found.append(
                Breach("margin", margin, limits.max_total_max_loss, portfolio.position_ids[i])
            )
    if portfolio.scenarios:
        pnl = portfolio.scenario_pnl()
        worst = int(np.argmin(pnl))
        loss = -float(pnl[worst])
        if loss > limits.max_stress_loss * tolerance:
            i = _largest(portfolio.stress_pnl[worst], np.ones(len(portfolio), bool), -1.0)
            if i is not None:
                found.append(
                    Breach(
                        f"stress loss ({portfolio.scenarios[worst].label})",
                        loss,
                        limits.max_stress_loss,
                        portfolio.position_ids[i],
                    )
                )
    return found


# One portfolio is judged for every position in a cycle: measure its breaches once.
_memo: weakref.WeakKeyDictionary[PortfolioRisk, tuple[LimitSettings, float, list[Breach]]] = (
    weakref.WeakKeyDictionary()
)


def _breaches_cached(
    portfolio: PortfolioRisk, limits: LimitSettings, tolerance: float
) -> list[Breach]:
    hit = _memo.get(portfolio)
    if hit is not None and hit[0] == limits and hit[1] == tolerance:
        return hit[2]
    found = breaches(portfolio, limits, tolerance)
    _memo[portfolio] = (limits, tolerance, found)
    return found


@hookimpl
def v6_evaluate_exit(
    mark: PositionMark, portfolio: PortfolioRisk, limits: LimitSettings, settings: Settings
) -> ExitDecision | None:
    """Close this position when it is the top contributor to a breached limit."""
    if not mark.quotes_valid:
        return None
    mine = [
        b
        for b in _breaches_cached(portfolio, limits, settings.tolerance)
        if b.position_id == mark.position.position_id
    ]
    if not mine:
        return None
    return ExitDecision(
        action=ExitAction.CLOSE,
        reason="; ".join(
            f"largest contributor to {b.measure} {b.value:,.1f} beyond limit {b.limit:,.1f}"
            for b in mine
        ),
        inputs={b.measure: b.value for b in mine},
    )
