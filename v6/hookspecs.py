"""The whole plugin contract of V6, in one module.

Every V6 plugin is a module (or object) that implements some of these hooks, marked
with ``@hookimpl``, and is declared in the ``v6`` entry-point group of its package::

    [project.entry-points.v6]
    my_strategy = "my_package.my_strategy"

A plugin implements ``v6_plugin_info`` plus the hook of its kind:

=================  ===========================
kind               hook
=================  ===========================
strategy           ``v6_propose_entries``
strike_selector    ``v6_select_strikes``
exit_rule          ``v6_evaluate_exit``
regime             ``v6_detect_regime``
=================  ===========================

A strategy may also implement ``v6_predict_position`` to say what it expects of each
position it opens; V6 stores that (or its own default model's prediction) in the
``predictions`` table and grades it when the position closes (docs/PREDICTIONS.md).

The engine calls each selected plugin *individually* (exit rules in their declared
priority order, regime detectors one after another) and passes the plugin its own
validated settings as ``settings``, so two plugins never see each other's results, except
the regime detectors' readings, which the engine hands on as ``regime`` (the driving
detector's) and ``regimes_by_detector`` (everyone's). As with pluggy everywhere, an
implementation may accept only the arguments it needs: adding an argument to a spec
never breaks an existing plugin.

Values passed in are immutable domain records (``v6.domain``); values returned must be
the records named below, and the engine checks every one before using it
(:mod:`v6.plugin_results`, one checker per hook): a wrong type, a missing value, a NaN
price, a candidate for another strategy. A plugin that raises, or returns what its spec
does not allow, is isolated: the error is logged with the plugin's and the hook's name
(the traceback once), an alert is stored (``plugin_error``; repeats are counted, see
:mod:`v6.engine.plugin_failures`), and the cycle goes on without that result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pluggy

from v6.config import LimitSettings
from v6.domain.account import AccountSnapshot
from v6.domain.decisions import ExitDecision, RegimeReading
from v6.domain.entries import EntryCandidate, NoSelection, StrikeSelection
from v6.domain.market import MarketHistory, MarketView, OptionChain
from v6.domain.plugins import PluginInfo
from v6.domain.positions import Position, PositionMark, PositionTrack
from v6.domain.predictions import Prediction, PredictionInputs
from v6.domain.risk import BreakerStatus, PortfolioRisk

PROJECT = "v6"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec(firstresult=True)
def v6_plugin_info() -> PluginInfo:
    """Describe the plugin: name, kind, summary, settings class and (exit rules) priority.

    Called once when the plugin is loaded. Every plugin must implement it. The
    ``settings`` class must be an attrs class; the plugin's block of the config is
    structured into it, and the instance is passed to every later call as ``settings``.
    An exit rule must declare an integer ``priority``: lower is more urgent, any integer
    (0 and negatives included). The built-ins use multiples of 10, from ``catastrophe``
    (10) to ``hold`` (120), so a rule fits strictly between any two; equal priorities are
    asked in name order.

    Returns a :class:`~v6.domain.plugins.PluginInfo`. First result wins (each plugin is
    asked on its own).
    """


@hookspec
def v6_propose_entries(
    market: MarketView,
    regimes: Mapping[str, RegimeReading],
    regimes_by_detector: Mapping[str, Mapping[str, RegimeReading]],
    positions: Sequence[Position],
    underlyings: Sequence[str],
    settings: Any,
) -> Sequence[EntryCandidate]:
    """Propose structures to open this cycle (strategies).

    Called once per cycle, after exits, while the market is open and no circuit
    breaker holds entries.

    :param market: the validated market view (chains carry a ``valid`` mask).
    :param regimes: the driving detector's current reading per underlying (the one the
        config's ``plugins.regime_driver`` names, or the only detector selected).
    :param regimes_by_detector: every selected detector's current readings, keyed by
        detector name, then by underlying (the driver's included; a detector that has not
        produced a good reading yet maps to an empty mapping or is absent). Read-only.
    :param positions: this strategy's own open (and opening) positions.
    :param underlyings: the underlyings this strategy may trade, from the config.
    :param settings: this plugin's validated settings.
    :return: a list (or tuple, possibly empty; never None) of
        :class:`~v6.domain.entries.EntryCandidate`; strikes are not chosen here.
        Portfolio limits are applied afterwards by the engine. Each candidate's
        ``strategy`` must be this plugin's name: the engine books the position, its slot
        and its fills to that name, so a candidate naming another strategy is refused as
        this plugin's error (never restamped). A candidate must be well formed (leg
        templates with a non-zero integer ratio and a delta in (0, 1) or the anchor of an
        earlier leg, integer DTEs with ``min_dte <= max_dte``, an integer quantity >= 1,
        a finite ``min_credit`` >= 0). Bad candidates are refused one by one and named by
        their index; the good ones of the same list go on.
    """


@hookspec(firstresult=True)
def v6_select_strikes(
    candidate: EntryCandidate,
    chain: OptionChain,
    market: MarketView,
    regime: RegimeReading | None,
    regimes_by_detector: Mapping[str, Mapping[str, RegimeReading]],
    settings: Any,
) -> StrikeSelection | NoSelection | None:
    """Choose concrete strikes and an expiry for a candidate (strike selectors).

    Called for each candidate with the underlying's validated chain. Only rows with
    ``chain.valid`` set may be chosen. Implementations must be vectorised over the chain.

    :param chain: the candidate's underlying's chain, ``market.chains[underlying]``.
    :param market: the whole validated market view (VIX, the other underlyings).
    :param regime: the driving detector's current reading of the candidate's underlying
        (None before the first).
    :param regimes_by_detector: every selected detector's current readings, keyed by
        detector name, then by underlying, as strategies see them.
    :return: a :class:`~v6.domain.entries.StrikeSelection`; or, when no acceptable strikes
        exist (too little credit, missing strikes, bad quotes), a
        :class:`~v6.domain.entries.NoSelection` saying why (stored as the rejected
        entry's reason: ``no acceptable strikes: <reason>``) or None (stored as plain
        ``no acceptable strikes``). First result wins. A ``NoSelection`` must carry a
        non-empty text reason. A selection must be for the very ``candidate`` given, with one
        :class:`~v6.domain.contracts.Leg` per leg template (same right and ratio), all on
        the candidate's underlying and on the selection's ``expiry``, which lies in the
        candidate's DTE window; every leg a valid row of ``chain``; ``net_mid`` and
        ``net_natural`` the legs' prices at the chain's quotes. Anything else is this
        plugin's error and the candidate is rejected.
    """


@hookspec(firstresult=True)
def v6_evaluate_exit(
    mark: PositionMark,
    market: MarketView,
    regime: RegimeReading | None,
    regimes_by_detector: Mapping[str, Mapping[str, RegimeReading]],
    track: PositionTrack,
    history: MarketHistory,
    portfolio: PortfolioRisk,
    account: AccountSnapshot,
    breakers: Sequence[BreakerStatus],
    limits: LimitSettings,
    settings: Any,
) -> ExitDecision | None:
    """Judge one open position (exit rules).

    Called for every open position every cycle, for every selected rule in ascending
    declared priority (ties in name order). The first rule that returns a decision wins;
    the verdicts of the others are kept for ``v6 explain`` only, so a rule must be a pure
    function of its arguments (no side effects, no state of its own: use ``track`` for the path).
    ``mark.quotes_valid`` is False when a leg's quote failed the data-quality gate: a rule
    must not close on such a mark unless it exists to handle exactly that.

    :param regime: the driving detector's current reading of the position's underlying
        (None before the first): what ``regime_change`` and ``dynamic_take_profit`` use.
    :param regimes_by_detector: every selected detector's current readings, keyed by
        detector name, then by underlying (the driver's included). Read-only.
    :param track: every mark of this position so far, this cycle's included.
    :param history: recent per-cycle closes of the market (spots, VIX, ATM IV).
    :param portfolio: the whole portfolio's risk this cycle (Greeks, stress P&L).
    :param account: the broker's account values this cycle.
    :param breakers: the state of every circuit breaker.
    :param limits: the configured portfolio limits.
    :return: an :class:`~v6.domain.decisions.ExitDecision` (``close`` or ``hold``) with a
        text reason and a mapping of the inputs it used, or None for "no opinion". First
        result wins. Anything else is this rule's error and counts as no opinion.
    """


@hookspec(firstresult=True)
def v6_detect_regime(
    market: MarketView,
    history: MarketHistory,
    previous: Mapping[str, RegimeReading],
    settings: Any,
) -> Mapping[str, RegimeReading]:
    """Classify the market regime of every underlying (regime detectors).

    Called once per cycle, before exits and entries, for every selected detector, each on
    its own. Every detector's readings are stored (``regimes``, with its name in the
    ``detector`` column) and shown to strategies, selectors and exit rules as
    ``regimes_by_detector``; the driving detector's (``plugins.regime_driver``, or the
    only one selected) also drive exits, take-profit targets and the entry regime.

    :param history: recent per-cycle closes, oldest first.
    :param previous: this detector's own readings of the previous cycle (for hysteresis).
    :return: a mapping of underlying symbol to
        :class:`~v6.domain.decisions.RegimeReading`, with a reading for every underlying
        of ``market`` and no other, each keyed by the underlying it names, its ``inputs``
        numbers (NaN meaning "not measured"). First result wins. A result that breaks this
        (an empty mapping included) is this plugin's error and is rejected whole: the
        previous cycle's readings stay in force.
    """


@hookspec(firstresult=True)
def v6_predict_position(
    selection: StrikeSelection,
    chain: OptionChain,
    market: MarketView,
    regime: RegimeReading | None,
    regimes_by_detector: Mapping[str, Mapping[str, RegimeReading]],
    inputs: PredictionInputs,
    default_prediction: Prediction,
    settings: Any,
) -> Prediction | None:
    """Predict the outcome of a position this strategy is opening (strategies; optional).

    Called once per accepted entry, on the strategy that proposed it, just before the
    opening order is sent (the prediction is stored before the order leaves V6, so a
    crash never leaves a position without its prediction). A strategy that does not
    implement it is predicted by V6's default model
    (:mod:`v6.predictions.default_model`, model name ``v6_default``).

    :param selection: the strikes and prices chosen for the strategy's candidate.
    :param chain: the candidate's underlying's validated chain.
    :param regime: the driving detector's current reading of the underlying (None before
        the first); it is stored with the prediction either way.
    :param inputs: what V6 measured on the traded chain (spot, at-the-money IV, put/call
        IV ratio, DTE, short deltas, credit, max loss and profit, the holding period the
        exit rules imply), stored with the prediction.
    :param default_prediction: the default model's prediction, to adjust or to ignore.
    :return: a :class:`~v6.domain.predictions.Prediction` with a non-empty ``model``
        name, a ``probability_of_profit`` in [0, 1] and a finite ``expected_pnl`` in
        dollars for the whole position, commissions included (``expected_move`` and
        ``expected_days`` finite and >= 0, or NaN for "not predicted"); or None to use
        the default. First result wins. Anything else is this plugin's error (logged,
        alerted as ``plugin_error``) and the default model's prediction is stored instead.
    """
