"""The decision engine: every exit rule judges every open position, by priority.

Rules are asked in ascending declared priority (lower is more urgent; ties by name) and
the first that decides wins. The others are still asked, for the record: the decision row
keeps every rule's verdict so ``v6 explain`` shows not just why a position was closed but
what every rule thought of it that cycle. A rule that raises, or returns anything but an
``ExitDecision`` or None (checked by the plugin manager, :mod:`v6.plugin_results`), is
isolated (its verdict records the error) and can never stop a more urgent rule from
deciding, nor a less urgent one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from v6.domain.decisions import ExitAction, ExitDecision, RuleVerdict
from v6.domain.positions import PositionMark
from v6.plugin_manager import ActivePlugin, ActivePlugins, PluginCallError
from v6.plugin_results import BadResult

HOOK = "v6_evaluate_exit"
NO_DECISION = ExitDecision(action=ExitAction.HOLD, reason="no rule decided", rule="", priority=0)

OnError = Callable[[ActivePlugin, BaseException], None]


class DecisionEngine:
    """Runs the selected exit rules over one position mark at a time."""

    def __init__(self, plugins: ActivePlugins, on_error: OnError) -> None:
        self.plugins = plugins
        self.rules = plugins.exit_rules  # already ordered by (priority, name)
        self.on_error = on_error
        self._bound = [
            (active, active.plugin.name, active.priority, plugins.bind(active, HOOK))
            for active in self.rules
        ]

    def decide(
        self, mark: PositionMark, context: Mapping[str, Any]
    ) -> tuple[ExitDecision, tuple[RuleVerdict, ...]]:
        """The winning decision for ``mark`` and every rule's verdict, in priority order.

        ``context`` holds the other hook arguments (market, regime, track, history,
        portfolio, account, breakers, limits).
        """
        winner: ExitDecision | None = None
        verdicts: list[RuleVerdict] = []
        for active, name, priority, rule in self._bound:
            try:
                decision = rule(mark=mark, **context)
            except PluginCallError as exc:
                self.on_error(active, exc.original)
                verdicts.append(RuleVerdict(name, priority, None, error=_describe(exc.original)))
                continue
            if decision is None:
                verdicts.append(RuleVerdict(name, priority, None))
                continue
            verdicts.append(RuleVerdict(name, priority, decision.action, decision.reason))
            if winner is None:
                winner = attrs.evolve(decision, rule=name, priority=priority)
        return winner or NO_DECISION, tuple(verdicts)


def _describe(error: BaseException) -> str:
    if isinstance(error, BadResult):
        return f"bad result: {error}"
    return f"{type(error).__name__}: {error}"
