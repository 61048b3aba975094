"""What each hook may return, checked before V6 uses it.

The engine never trusts a plugin's return value. Every hook in :mod:`v6.hookspecs` that
returns something has one checker here, in :data:`CHECKS`, and
:meth:`v6.plugin_manager.ActivePlugins.call` (and ``bind``, for exit rules) applies it to
every result. A result its spec does not allow raises :class:`BadResult`, which the plugin
manager wraps in a ``PluginCallError`` naming the plugin and the hook, exactly as if the
plugin had raised: the engine isolates it, logs and alerts it, and the cycle goes on.

Checks go as deep as the engine will go: a candidate's leg templates, a selection's legs
and prices, a reading's inputs. Each checker returns the value the engine may use. A
list is judged item by item (:func:`check_entry_candidates`): every candidate is a
self-contained proposal that the engine takes through slots, strikes, risk and execution
checks on its own, so the good ones are kept and each bad one is rejected by its index.
A mapping of regime readings is taken whole or not at all
(:func:`check_regime_readings`): the readings of one call come from one computation, and
a detector that mislabels one underlying cannot be trusted on the others, so the engine
keeps the previous cycle's readings, as it does when a detector raises.
"""

from __future__ import annotations

import math
import numbers
import reprlib
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import numpy as np

from v6.domain.contracts import Leg, OptionContract
from v6.domain.decisions import ExitDecision, RegimeReading
from v6.domain.entries import EntryCandidate, LegTemplate, NoSelection, StrikeSelection
from v6.domain.market import MarketView, OptionChain, locate_legs
from v6.domain.plugins import PluginInfo
from v6.domain.predictions import Prediction

Checker = Callable[[Any, str, Mapping[str, Any]], Any]
"""``checker(result, plugin, arguments) -> the value to use``; raises :class:`BadResult`.

``plugin`` is the name of the plugin that returned ``result``; ``arguments`` are the
arguments the engine offered the hook (whether or not the implementation took them).
"""

PRICE_TOLERANCE = 1e-6
"""How far (dollars per share) a selection's ``net_mid`` / ``net_natural`` may be from the
same legs priced at the chain's quotes: float noise only."""

_short = reprlib.Repr()
_short.maxstring = 40
_short.maxother = 40
_short.maxlist = _short.maxtuple = _short.maxdict = 3


class BadResult(Exception):
    """A hook returned something its spec does not allow.

    ``problems`` holds one plain sentence per problem found (for a list, one per rejected
    item, with its index); ``kept`` is the part of the result that is safe to use, or None
    when nothing is.
    """

    def __init__(self, problems: Sequence[str], kept: Any = None) -> None:
        self.problems = tuple(problems)
        self.kept = kept
        super().__init__("; ".join(self.problems))


def describe(value: Any) -> str:
    """A value for a message: its type and a short repr (``str 'normal'``)."""
    return f"{type(value).__name__} {_short.repr(value)}"


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def _finite(value: Any) -> bool:
    return _is_real(value) and math.isfinite(value)


# -- v6_plugin_info ------------------------------------------------------------------------


def check_plugin_info(result: Any, plugin: str, arguments: Mapping[str, Any]) -> PluginInfo:
    """A :class:`PluginInfo` (its contents are validated when the plugin loads)."""
    if not isinstance(result, PluginInfo):
        raise BadResult([f"v6_plugin_info returned {type(result).__name__}, expected PluginInfo"])
    return result


# -- v6_propose_entries --------------------------------------------------------------------


def _template_problems(i: int, leg: Any) -> list[str]:
    if not isinstance(leg, LegTemplate):
        return [f"leg {i} is {describe(leg)}, expected a LegTemplate"]
    found = []
    if not _is_int(leg.ratio) or leg.ratio == 0:
        found.append(f"leg {i} ratio {leg.ratio!r} is not a non-zero integer")
    if leg.delta is not None and not (_finite(leg.delta) and 0 < leg.delta < 1):
        found.append(f"leg {i} delta {leg.delta!r} is not a number between 0 and 1")
    if leg.anchor is not None and not (_is_int(leg.anchor) and 0 <= leg.anchor < i):
        found.append(f"leg {i} anchor {leg.anchor!r} is not the index of an earlier leg")
    if not _finite(leg.offset):
        found.append(f"leg {i} offset {leg.offset!r} is not a finite number")
    return found


def candidate_problems(candidate: Any, plugin: str) -> list[str]:
    """Why ``candidate``, proposed by strategy ``plugin``, cannot be used (empty: it can).

    A candidate must name its proposer as its ``strategy``: the engine books the position,
    its slot and its fills to that name, so a candidate naming another strategy would
    spend that strategy's slots (even a disabled one's) and misattribute its P&L. It is
    refused, not restamped: a wrong name is a bug in the plugin that a silent fix would
    hide, and the candidate's settings (deltas, DTEs, credit) came from the proposer.
    """
    if not isinstance(candidate, EntryCandidate):
        return [f"is {describe(candidate)}, expected an EntryCandidate"]
    found = []
    if candidate.strategy != plugin:
        found.append(
            f"names strategy {candidate.strategy!r} but was proposed by {plugin!r}; "
            f"a strategy proposes only for itself (strategy={plugin!r})"
        )
    for field in ("underlying", "structure"):
        value = getattr(candidate, field)
        if not isinstance(value, str) or not value:
            found.append(f"{field} {value!r} is not a non-empty string")
    if not candidate.legs:
        found.append("has no legs")
    for i, leg in enumerate(candidate.legs):
        found.extend(_template_problems(i, leg))
    dtes_ok = True
    for field in ("min_dte", "max_dte"):
        value = getattr(candidate, field)
        if not _is_int(value) or value < 0:
            found.append(f"{field} {value!r} is not an integer >= 0")
            dtes_ok = False
    if dtes_ok and candidate.min_dte > candidate.max_dte:
        found.append(f"min_dte {candidate.min_dte} > max_dte {candidate.max_dte}")
    if not _is_int(candidate.quantity) or candidate.quantity < 1:
        found.append(f"quantity {candidate.quantity!r} is not an integer >= 1")
    if not (_finite(candidate.min_credit) and candidate.min_credit >= 0):
        found.append(f"min_credit {candidate.min_credit!r} is not a finite number >= 0")
    if not isinstance(candidate.reason, str):
        found.append(f"reason {describe(candidate.reason)} is not a string")
    return found


def check_entry_candidates(
    result: Any, plugin: str, arguments: Mapping[str, Any]
) -> list[EntryCandidate]:
    """A list (or tuple) of :class:`EntryCandidate`, each naming ``plugin`` as its strategy.

    Bad items are rejected one by one (``BadResult.kept`` holds the good ones, in order).
    """
    if isinstance(result, str | bytes | Mapping) or not isinstance(result, Sequence):
        raise BadResult([f"{describe(result)}, expected a list of EntryCandidate"])
    kept: list[EntryCandidate] = []
    problems: list[str] = []
    for i, candidate in enumerate(result):
        found = candidate_problems(candidate, plugin)
        if found:
            problems.append(f"candidate {i} " + "; ".join(found))
        else:
            kept.append(candidate)
    if problems:
        raise BadResult(problems, kept=kept)
    return kept


# -- v6_select_strikes ---------------------------------------------------------------------


def _leg_problems(
    i: int, leg: Any, template: LegTemplate | None, underlying: str, expiry: Any
) -> list[str]:
    if not isinstance(leg, Leg):
        return [f"leg {i} is {describe(leg)}, expected a Leg"]
    if not isinstance(leg.contract, OptionContract):
        return [f"leg {i} contract is {describe(leg.contract)}, expected an OptionContract"]
    found = []
    contract = leg.contract
    if contract.underlying != underlying:
        found.append(f"leg {i} is on {contract.underlying!r}, not {underlying!r}")
    if contract.expiry != expiry:
        found.append(f"leg {i} expires {contract.expiry}, not on the selection's {expiry}")
    if not _is_int(leg.ratio):
        found.append(f"leg {i} ratio {leg.ratio!r} is not an integer")
    if not _is_int(contract.multiplier) or contract.multiplier < 1:
        found.append(f"leg {i} multiplier {contract.multiplier!r} is not a positive integer")
    if template is not None and (
        contract.right is not template.right or leg.ratio != template.ratio
    ):
        found.append(
            f"leg {i} is {leg.ratio!r} x {contract.right.value}, but the candidate's leg {i} "
            f"is {template.ratio!r} x {template.right.value}"
        )
    return found


def _quote_problems(selection: StrikeSelection, chain: OptionChain) -> list[str]:
    """The legs are listed with valid quotes and the prices are those quotes' prices."""
    idx = locate_legs(chain, selection.legs)
    missing = [leg.contract.key for leg, i in zip(selection.legs, idx, strict=True) if i < 0]
    if missing:
        return [f"contracts not in the chain: {', '.join(missing)}"]
    invalid = [
        leg.contract.key for leg, i in zip(selection.legs, idx, strict=True) if not chain.valid[i]
    ]
    if invalid:
        return [f"chose contracts whose quotes failed the quality gate: {', '.join(invalid)}"]
    ratio = np.array([leg.ratio for leg in selection.legs], dtype=np.float64)
    mid = float(np.sum(ratio * chain.mid[idx]))
    natural = float(np.sum(np.where(ratio > 0, ratio * chain.ask[idx], ratio * chain.bid[idx])))
    found = []
    for field, quoted in (("net_mid", mid), ("net_natural", natural)):
        value = getattr(selection, field)
        if not math.isclose(value, quoted, rel_tol=0.0, abs_tol=PRICE_TOLERANCE):
            found.append(f"{field} {value!r} is not the legs' {field} at the quotes, {quoted:.4f}")
    return found


def check_strike_selection(
    result: Any, plugin: str, arguments: Mapping[str, Any]
) -> StrikeSelection | NoSelection | None:
    """None, a :class:`NoSelection` with a non-empty text reason, or a
    :class:`StrikeSelection` for the very candidate it was given.

    A selection's legs realise the candidate's leg templates one for one (same right and ratio), on
    the candidate's underlying and the selection's expiry within the candidate's DTE
    window, on rows of the chain that passed the quality gate; its prices are finite and
    are the legs' prices at the chain's quotes; ``reason`` and ``warnings`` are text.
    """
    if result is None:
        return None
    if isinstance(result, NoSelection):
        if not isinstance(result.reason, str) or not result.reason.strip():
            raise BadResult(
                [f"NoSelection reason {describe(result.reason)} is not a non-empty string"]
            )
        return result
    if not isinstance(result, StrikeSelection):
        raise BadResult([f"{describe(result)}, expected a StrikeSelection, a NoSelection or None"])
    candidate: EntryCandidate | None = arguments.get("candidate")
    chain: OptionChain | None = arguments.get("chain")
    found: list[str] = []
    if candidate is not None and result.candidate != candidate:
        found.append(
            f"is for another candidate ({describe(result.candidate)}) than the one it was given"
        )
        candidate = None  # its legs cannot be compared with templates it was not asked for
    expiry = result.expiry
    if not isinstance(expiry, date) or isinstance(expiry, datetime):
        found.append(f"expiry {describe(expiry)} is not a date")
    elif candidate is not None and chain is not None:
        dte = (expiry - chain.as_of.date()).days
        if not candidate.min_dte <= dte <= candidate.max_dte:
            found.append(
                f"expiry {expiry} is {dte} days out, outside the candidate's "
                f"{candidate.min_dte}-{candidate.max_dte}"
            )
    legs = result.legs
    if not legs:
        found.append("has no legs")
    elif candidate is not None and len(legs) != len(candidate.legs):
        found.append(f"has {len(legs)} legs for the candidate's {len(candidate.legs)}")
    templates: Sequence[LegTemplate | None] = (
        candidate.legs if candidate is not None and len(legs) == len(candidate.legs) else ()
    )
    underlying = getattr(candidate or result.candidate, "underlying", None)
    legs_ok = bool(legs)
    for i, leg in enumerate(legs):
        problems = _leg_problems(i, leg, templates[i] if templates else None, underlying, expiry)
        legs_ok = legs_ok and not problems
        found.extend(problems)
    prices_ok = True
    for field in ("net_mid", "net_natural"):
        value = getattr(result, field)
        if not _finite(value):
            found.append(f"{field} {value!r} is not a finite number")
            prices_ok = False
    if legs_ok and prices_ok and chain is not None:
        found.extend(_quote_problems(result, chain))
    if not isinstance(result.reason, str):
        found.append(f"reason {describe(result.reason)} is not a string")
    if not all(isinstance(w, str) for w in result.warnings):
        found.append(f"warnings {describe(result.warnings)} are not all strings")
    if found:
        raise BadResult(found)
    return result


# -- v6_evaluate_exit ----------------------------------------------------------------------


def check_exit_decision(
    result: Any, plugin: str, arguments: Mapping[str, Any]
) -> ExitDecision | None:
    """None ("no opinion"), or an :class:`ExitDecision` with a text reason, a mapping of
    inputs and a boolean ``alert`` (called for every rule and position: kept cheap)."""
    if result is None:
        return None
    if not isinstance(result, ExitDecision):
        raise BadResult([f"{describe(result)}, expected an ExitDecision or None"])
    found = []
    if not isinstance(result.reason, str):
        found.append(f"reason {describe(result.reason)} is not a string")
    if not isinstance(result.inputs, Mapping):
        found.append(f"inputs {describe(result.inputs)} is not a mapping")
    if not isinstance(result.alert, bool | np.bool_):
        found.append(f"alert {describe(result.alert)} is not True or False")
    if found:
        raise BadResult(found)
    return result


# -- v6_detect_regime ----------------------------------------------------------------------


def _reading_problems(key: str, reading: Any) -> list[str]:
    if not isinstance(reading, RegimeReading):
        return [f"reading for {key!r} is {describe(reading)}, expected a RegimeReading"]
    found = []
    if reading.underlying != key:
        found.append(f"reading keyed {key!r} names underlying {reading.underlying!r}")
    if not isinstance(reading.reason, str):
        found.append(f"reading for {key!r}: reason {describe(reading.reason)} is not a string")
    if not isinstance(reading.inputs, Mapping):
        found.append(f"reading for {key!r}: inputs {describe(reading.inputs)} is not a mapping")
        return found
    # NaN is allowed: it is how a detector says "not measured" (no history yet, say).
    bad = [
        f"{name!r}: {describe(value)}"
        for name, value in reading.inputs.items()
        if not isinstance(name, str) or not _is_real(value)
    ]
    if bad:
        found.append(f"reading for {key!r}: inputs are not all numbers ({', '.join(bad[:3])})")
    return found


def check_regime_readings(
    result: Any, plugin: str, arguments: Mapping[str, Any]
) -> Mapping[str, RegimeReading]:
    """A reading for every underlying of the market, each keyed by the underlying it names.

    Taken whole or not at all (see the module docstring): an empty result, a missing or
    unknown underlying, a reading that names another underlying or is not a reading at all
    rejects every reading of the call.
    """
    if not isinstance(result, Mapping):
        raise BadResult([f"{describe(result)}, expected a mapping of underlying to RegimeReading"])
    market: MarketView | None = arguments.get("market")
    expected = set(market.underlyings) if market is not None else set()
    if not result:
        names = f" ({', '.join(sorted(expected))})" if expected else ""
        raise BadResult([f"an empty mapping; every underlying needs a reading{names}"])
    found: list[str] = []
    for key, reading in result.items():
        if not isinstance(key, str):
            found.append(f"key {describe(key)} is not an underlying symbol")
            continue
        if market is not None and key not in expected:
            found.append(f"reading for {key!r}, which is not an underlying of this market")
        found.extend(_reading_problems(key, reading))
    missing = sorted(expected - set(result))
    if missing:
        found.append(f"no reading for {', '.join(missing)}")
    if found:
        raise BadResult(found)
    return result


# -- v6_predict_position -------------------------------------------------------------------


def check_prediction(result: Any, plugin: str, arguments: Mapping[str, Any]) -> Prediction | None:
    """None (use the default model), or a :class:`Prediction` with a model name, a
    probability of profit in [0, 1], a finite expected P&L, an expected move and holding
    period that are NaN or finite and >= 0, and numeric inputs keyed by text."""
    if result is None:
        return None
    if not isinstance(result, Prediction):
        raise BadResult([f"{describe(result)}, expected a Prediction or None"])
    found = []
    if not isinstance(result.model, str) or not result.model.strip():
        found.append(f"model {describe(result.model)} is not a non-empty string")
    pop = result.probability_of_profit
    if not (_finite(pop) and 0.0 <= pop <= 1.0):
        found.append(f"probability_of_profit {pop!r} is not a number between 0 and 1")
    if not _finite(result.expected_pnl):
        found.append(f"expected_pnl {result.expected_pnl!r} is not a finite number")
    for field in ("expected_move", "expected_days"):
        value = getattr(result, field)
        if not (_is_real(value) and (math.isnan(value) or (math.isfinite(value) and value >= 0))):
            found.append(f"{field} {value!r} is not a finite number >= 0 (or NaN: not predicted)")
    if not isinstance(result.inputs, Mapping):
        found.append(f"inputs {describe(result.inputs)} is not a mapping")
    else:
        bad = [
            f"{name!r}: {describe(value)}"
            for name, value in result.inputs.items()
            if not isinstance(name, str) or not _is_real(value)
        ]
        if bad:
            found.append(f"inputs are not all numbers ({', '.join(bad[:3])})")
    if found:
        raise BadResult(found)
    return result


CHECKS: Mapping[str, Checker] = {
    "v6_plugin_info": check_plugin_info,
    "v6_propose_entries": check_entry_candidates,
    "v6_select_strikes": check_strike_selection,
    "v6_evaluate_exit": check_exit_decision,
    "v6_detect_regime": check_regime_readings,
    "v6_predict_position": check_prediction,
}
"""The checker of every hook that returns something, by hook name."""
