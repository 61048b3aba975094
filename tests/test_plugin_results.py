"""The engine never trusts a plugin's return value.

Each test registers a small misbehaving plugin with the real plugin manager and runs a
simulated session on a temporary store: the run completes, the bad result is an alert
naming the plugin and the hook, the good plugins keep trading, and a plugin failing on
every call is reported once and then counted, not logged and alerted on every call.
"""

from __future__ import annotations

import inspect
import math
import os
import re
import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
from sessions import run, sim_config, table
from v6_process import V6

from v6 import hookspecs
from v6.config import PluginBlock, PluginsConfig, TradingConfig
from v6.domain.contracts import Right
from v6.domain.decisions import ExitDecision, Regime, RegimeReading
from v6.domain.entries import EntryCandidate, LegTemplate, NoSelection
from v6.domain.plugins import PluginInfo, PluginKind
from v6.engine.regimes import EXPIRE_AFTER
from v6.entry.strike_selection import select_by_delta
from v6.hookspecs import hookimpl
from v6.plugin_manager import SPEC_NAMES, PluginCallError, discover, select
from v6.plugin_results import CHECKS

NAN = float("nan")
UNDERLYINGS = ("SPY", "QQQ", "IWM")


def condor(strategy: str, underlying: str, **changes: Any) -> EntryCandidate:
    """A well-formed short-dated iron condor candidate."""
    legs = (
        LegTemplate(Right.PUT, -1, delta=0.16),
        LegTemplate(Right.PUT, +1, anchor=0, offset=-5.0),
        LegTemplate(Right.CALL, -1, delta=0.16),
        LegTemplate(Right.CALL, +1, anchor=2, offset=5.0),
    )
    candidate = EntryCandidate(
        strategy=strategy,
        underlying=underlying,
        structure="iron_condor",
        legs=legs,
        min_dte=3,
        max_dte=12,
    )
    return attrs.evolve(candidate, **changes)


# -- small plugins, each misbehaving in one way ------------------------------------------


class Strategy:
    """A strategy whose proposals come from ``propose(market)``."""

    def __init__(self, name: str, propose: Callable[[Any], Any]) -> None:
        self.name = name
        self.propose = propose
        self.calls = 0

    @hookimpl
    def v6_plugin_info(self):
        return PluginInfo(name=self.name, kind=PluginKind.STRATEGY, summary="test")

    @hookimpl
    def v6_propose_entries(self, market):
        self.calls += 1
        return self.propose(market)


class Detector:
    """A regime detector whose readings come from ``detect(market)``."""

    def __init__(self, detect: Callable[[Any], Any]) -> None:
        self.detect = detect

    @hookimpl
    def v6_plugin_info(self):
        return PluginInfo(name="mis_regime", kind=PluginKind.REGIME, summary="test")

    @hookimpl
    def v6_detect_regime(self, market):
        return self.detect(market)


class Selector:
    """Plain delta targeting, except that on SPY it returns ``spoil(selection, candidate,
    chain)`` instead."""

    def __init__(self, spoil: Callable[[Any, EntryCandidate, Any], Any]) -> None:
        self.spoil = spoil

    @hookimpl
    def v6_plugin_info(self):
        return PluginInfo(name="mis_selector", kind=PluginKind.STRIKE_SELECTOR, summary="test")

    @hookimpl
    def v6_select_strikes(self, candidate, chain):
        selection = select_by_delta(candidate, chain, target_dte=None, max_spread_fraction=0.5)
        if candidate.underlying != "SPY":
            return selection
        return self.spoil(selection, candidate, chain)


class ExitRule:
    """The most urgent rule of all, returning ``verdict`` for every position."""

    def __init__(self, verdict: Any) -> None:
        self.verdict = verdict

    @hookimpl
    def v6_plugin_info(self):
        return PluginInfo(name="mis_exit", kind=PluginKind.EXIT_RULE, summary="test", priority=1)

    @hookimpl
    def v6_evaluate_exit(self, mark):
        return self.verdict


def configured(tmp_path: Path, days: int = 1, **sections: dict[str, PluginBlock]) -> TradingConfig:
    """The test sim config with some plugin sections replaced or (strategies, exit rules)
    extended."""
    cfg = sim_config(tmp_path / "data", days=days)
    plugins = cfg.plugins
    for section, blocks in sections.items():
        if section in ("strategies", "exit_rules"):
            blocks = {**getattr(plugins, section), **blocks}
        plugins = attrs.evolve(plugins, **{section: blocks})
    return attrs.evolve(cfg, plugins=plugins)


def plugin_errors(cfg: TradingConfig, source: str):
    alerts = table(cfg, "alerts")
    return alerts[(alerts["source"] == source) & (alerts["code"] == "plugin_error")]


def assert_named_error(cfg: TradingConfig, plugin: str, hook: str, fragment: str) -> None:
    """Exactly one plugin_error alert for ``plugin``, naming ``hook`` and the problem."""
    errors = plugin_errors(cfg, plugin)
    assert len(errors) == 1, table(cfg, "alerts")[["source", "code", "message"]]
    message = errors["message"].iloc[0]
    assert hook in message and fragment in message, message


def strategies_that_opened(cfg: TradingConfig) -> set[str]:
    return set(table(cfg, "positions")["strategy"])


# -- strategies ------------------------------------------------------------------------------

MIS = "mis_strategy"

BAD_PROPOSALS: dict[str, tuple[Callable[[Any], Any], str]] = {
    "a string": (lambda m: "iron_condor on SPY", "str 'iron_condor on SPY', expected a list"),
    "None": (lambda m: None, "NoneType None, expected a list"),
    "a dict": (lambda m: {"SPY": condor(MIS, "SPY")}, "expected a list of EntryCandidate"),
    "legs that are not legs": (
        lambda m: [condor(MIS, "SPY", legs=("short put", "long put"))],
        "leg 0 is str 'short put', expected a LegTemplate",
    ),
    "a NaN delta": (
        lambda m: [condor(MIS, "SPY", legs=(LegTemplate(Right.PUT, -1, delta=NAN),))],
        "leg 0 delta nan is not a number between 0 and 1",
    ),
    "an anchor to a later leg": (
        lambda m: [condor(MIS, "SPY", legs=(LegTemplate(Right.PUT, +1, anchor=1),))],
        "leg 0 anchor 1 is not the index of an earlier leg",
    ),
    "an inverted DTE window": (
        lambda m: [condor(MIS, "SPY", min_dte=12, max_dte=3)],
        "min_dte 12 > max_dte 3",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(BAD_PROPOSALS))
def test_a_strategy_returning_the_wrong_thing_is_its_named_error_and_the_others_trade(
    tmp_path, case
):
    propose, fragment = BAD_PROPOSALS[case]
    cfg = configured(tmp_path, strategies={MIS: PluginBlock()})
    run(cfg, extra_plugins=[(MIS, Strategy(MIS, propose))])
    assert_named_error(cfg, MIS, "v6_propose_entries", fragment)
    opened = strategies_that_opened(cfg)
    assert MIS not in opened
    assert {"iron_condor", "bull_put_spread", "bear_call_spread"} & opened


@pytest.mark.slow
def test_the_good_candidates_of_a_list_are_kept_and_each_bad_one_is_named(tmp_path):
    def propose(market):
        return [condor(MIS, "SPY"), "a condor on QQQ", condor(MIS, "IWM", quantity=True)]

    cfg = configured(tmp_path, strategies={MIS: PluginBlock()})
    run(cfg, extra_plugins=[(MIS, Strategy(MIS, propose))])
    message = plugin_errors(cfg, MIS)["message"].iloc[0]
    assert "candidate 1 is str 'a condor on QQQ'" in message
    assert "candidate 2 quantity True is not an integer >= 1" in message
    assert "candidate 0" not in message
    positions = table(cfg, "positions")
    mine = positions[positions["strategy"] == MIS]
    assert set(mine["underlying"]) == {"SPY"}, "only the good candidate is traded"
    entries = table(cfg, "entries")
    assert set(entries[entries["strategy"] == MIS]["underlying"]) == {"SPY"}


@pytest.mark.slow
def test_a_candidate_naming_another_strategy_is_refused_not_booked_to_it(tmp_path):
    """iron_condor is not selected: an impostor must not trade in its name or slots."""
    cfg = configured(tmp_path)
    cfg = attrs.evolve(
        cfg,
        plugins=attrs.evolve(
            cfg.plugins,
            strategies={
                "impostor": PluginBlock(),
                "bull_put_spread": cfg.plugins.strategies["bull_put_spread"],
            },
        ),
    )
    impostor = Strategy("impostor", lambda m: [condor("iron_condor", s) for s in UNDERLYINGS])
    run(cfg, extra_plugins=[("impostor", impostor)])
    assert_named_error(
        cfg, "impostor", "v6_propose_entries", "names strategy 'iron_condor' but was proposed by"
    )
    assert set(table(cfg, "entries")["strategy"]) == {"bull_put_spread"}
    assert strategies_that_opened(cfg) == {"bull_put_spread"}
    assert set(table(cfg, "fills")["strategy"]) == {"bull_put_spread"}


# -- regime detectors ------------------------------------------------------------------------


def reading(underlying: str, **changes: Any) -> RegimeReading:
    return attrs.evolve(RegimeReading(underlying, Regime.NORMAL, "test"), **changes)


def _shifted(symbols: list[str]) -> dict[str, RegimeReading]:
    return {s: reading(symbols[(i + 1) % len(symbols)]) for i, s in enumerate(symbols)}


BAD_READINGS: dict[str, tuple[Callable[[Any], Any], str]] = {
    "strings": (
        lambda m: {s: "normal" for s in m.underlyings},
        "is str 'normal', expected a RegimeReading",
    ),
    "an empty mapping": (lambda m: {}, "an empty mapping; every underlying needs a reading"),
    "None": (lambda m: None, "NoneType None, expected a mapping"),
    "a list": (lambda m: [reading(s) for s in m.underlyings], "expected a mapping"),
    "readings under the wrong underlying": (
        lambda m: _shifted(list(m.underlyings)),
        "reading keyed 'SPY' names underlying 'QQQ'",
    ),
    "a missing underlying": (lambda m: {"SPY": reading("SPY")}, "no reading for IWM, QQQ"),
    "an unknown underlying": (
        lambda m: {**{s: reading(s) for s in m.underlyings}, "XYZ": reading("XYZ")},
        "reading for 'XYZ', which is not an underlying of this market",
    ),
    "text among the inputs": (
        lambda m: {s: reading(s, inputs={"vix": "high"}) for s in m.underlyings},
        "inputs are not all numbers ('vix': str 'high')",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(BAD_READINGS))
def test_a_regime_detector_returning_the_wrong_thing_is_its_named_error_and_entries_wait(
    tmp_path, case
):
    detect, fragment = BAD_READINGS[case]
    cfg = configured(tmp_path, regime={"mis_regime": PluginBlock()})
    run(cfg, extra_plugins=[("mis_regime", Detector(detect))])
    assert_named_error(cfg, "mis_regime", "v6_detect_regime", fragment)
    assert table(cfg, "regimes").empty, "no reading of a bad result is stored"
    # Without a driving reading no strategy can tell a crash: every entry is refused.
    assert not strategies_that_opened(cfg)
    entries = table(cfg, "entries")
    assert not entries.empty and set(entries["outcome"]) == {"rejected"}
    assert entries["reason"].str.startswith("no current regime reading from mis_regime").all()


@pytest.mark.slow
def test_a_detector_that_turns_bad_leaves_its_last_good_readings_in_force_a_while(tmp_path):
    cycles = []

    def detect(market):
        cycles.append(market.time)
        if len(cycles) <= 3:
            return {s: reading(s, regime=Regime.LOW_VOL) for s in market.underlyings}
        return _shifted(list(market.underlyings))

    cfg = configured(tmp_path, regime={"mis_regime": PluginBlock()})
    output = run(cfg, cycles=8, extra_plugins=[("mis_regime", Detector(detect))])
    regimes = table(cfg, "regimes")
    assert len(regimes) == 3 * len(UNDERLYINGS)
    assert set(regimes["regime"]) == {"low_vol"}
    # Bad cycles from the 4th keep them until the EXPIRE_AFTER-th bad one drops them.
    kept, dropped = 2 + EXPIRE_AFTER, 3 + EXPIRE_AFTER
    status = {
        n: next(x for x in output.splitlines() if f"cycle {n:4d}" in x) for n in (kept, dropped)
    }
    assert "SPY:low_vol" in status[kept] and "QQQ:low_vol" in status[kept]
    assert "low_vol" not in status[dropped]
    assert len(table(cfg, "alerts").query("code == 'regime_readings_expired'")) == 1
    assert_named_error(cfg, "mis_regime", "v6_detect_regime", "names underlying")


# -- strike selectors ------------------------------------------------------------------------


def _evolve(**changes: Any) -> Callable[[Any, EntryCandidate, Any], Any]:
    def spoil(selection, candidate, chain):
        return None if selection is None else attrs.evolve(selection, **changes)

    return spoil


def _price_off(selection, candidate, chain):
    if selection is None:
        return None
    return attrs.evolve(selection, net_mid=selection.net_mid - 1.0)


def _for_another(selection, candidate, chain):
    return select_by_delta(
        attrs.evolve(candidate, quantity=5), chain, target_dte=None, max_spread_fraction=0.5
    )


def _leg_short(selection, candidate, chain):
    return None if selection is None else attrs.evolve(selection, legs=selection.legs[:-1])


BAD_SELECTIONS: dict[str, tuple[Callable[[Any, EntryCandidate, Any], Any], str]] = {
    "a dict": (lambda s, c, ch: {"legs": []}, "dict {'legs': []}, expected a StrikeSelection"),
    "a selection for another candidate": (_for_another, "is for another candidate"),
    "a NaN price": (_evolve(net_mid=NAN), "net_mid nan is not a finite number"),
    "legs that are not legs": (
        _evolve(legs=("SPY 500P", "SPY 495P")),
        "leg 0 is str 'SPY 500P', expected a Leg",
    ),
    "a price that is not the quotes'": (_price_off, "is not the legs' net_mid at the quotes"),
    "a leg short": (_leg_short, "legs for the candidate's"),
    "a NoSelection without a reason": (
        lambda s, c, ch: NoSelection(""),
        "NoSelection reason str '' is not a non-empty string",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(BAD_SELECTIONS))
def test_a_strike_selector_returning_the_wrong_thing_is_its_named_error_and_others_trade(
    tmp_path, case
):
    spoil, fragment = BAD_SELECTIONS[case]
    cfg = configured(tmp_path, strike_selector={"mis_selector": PluginBlock()})
    run(cfg, extra_plugins=[("mis_selector", Selector(spoil))])
    assert_named_error(cfg, "mis_selector", "v6_select_strikes", fragment)
    positions = table(cfg, "positions")
    assert "SPY" not in set(positions["underlying"])
    assert {"QQQ", "IWM"} & set(positions["underlying"]), "the selector still works elsewhere"
    entries = table(cfg, "entries")
    spy = entries[entries["underlying"] == "SPY"]
    assert spy["reason"].str.contains("strike selector mis_selector failed").any()
    assert (spy["outcome"] == "rejected").all()


# -- exit rules ------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("verdict", "fragment"),
    [
        ("close", "str 'close', expected an ExitDecision or None"),
        (
            attrs.evolve(ExitDecision(action="close", reason="x"), reason=None),
            "reason NoneType None is not a string",
        ),
    ],
    ids=["a string", "a decision without a reason"],
)
def test_an_exit_rule_returning_the_wrong_thing_is_alerted_once_and_never_decides(
    tmp_path, verdict, fragment
):
    cfg = configured(tmp_path, days=2, exit_rules={"mis_exit": PluginBlock()})
    run(cfg, extra_plugins=[("mis_exit", ExitRule(verdict))])
    assert_named_error(cfg, "mis_exit", "v6_evaluate_exit", fragment)
    decisions = table(cfg, "decisions")
    assert "mis_exit" not in set(decisions["rule"])
    assert set(decisions["rule"]) & {"take_profit", "stop_loss", "days_to_expiry"}
    verdicts = decisions["verdicts"].iloc[-1]
    assert "bad result" in verdicts and fragment in verdicts


# -- failing again and again ------------------------------------------------------------------


class Boom(RuntimeError):
    pass


def _more(messages) -> int:
    return sum(int(re.search(r"failed (\d+) more times?", m).group(1)) for m in messages)


@pytest.mark.slow
def test_a_strategy_failing_every_cycle_is_alerted_once_then_counted_to_the_last_failure(
    tmp_path,
):
    def propose(market):
        raise Boom("strategy blew up")

    strategy = Strategy(MIS, propose)
    cfg = configured(tmp_path, strategies={MIS: PluginBlock()})
    run(cfg, extra_plugins=[(MIS, strategy)])
    alerts = table(cfg, "alerts").sort_values("time", kind="stable")
    mine = alerts[alerts["source"] == MIS]
    assert len(plugin_errors(cfg, MIS)) == 1
    assert "v6_propose_entries raised Boom: strategy blew up" in mine["message"].iloc[0]
    reminders = mine[mine["code"] == "plugin_still_failing"]
    # Hourly in engine time (cycles are 15 minutes), and once more at the end of the session.
    assert 3 <= len(reminders) < strategy.calls / 2
    assert 1 + _more(reminders["message"]) == strategy.calls
    assert "by the end of the session" in reminders["message"].iloc[-1]
    assert {"iron_condor", "bull_put_spread", "bear_call_spread"} & strategies_that_opened(cfg)


@pytest.mark.slow
def test_a_plugin_that_recovers_says_so_with_the_count_of_its_failures(tmp_path):
    def propose(market):
        if strategy.calls <= 4:
            raise Boom(f"call {strategy.calls}")
        return []

    strategy = Strategy(MIS, propose)
    cfg = configured(tmp_path, strategies={MIS: PluginBlock()})
    run(cfg, cycles=10, extra_plugins=[(MIS, strategy)])
    alerts = table(cfg, "alerts").sort_values("time", kind="stable")
    mine = alerts[alerts["source"] == MIS]
    assert list(mine["code"]) == ["plugin_error", "plugin_recovered"]
    assert "v6_propose_entries raised Boom: call 1" in mine["message"].iloc[0]
    assert "v6_propose_entries works again after failing 4 times (Boom)" in mine["message"].iloc[1]


PACKAGE = '''
"""Plugins that fail on every call, for `v6 run` to load from an installed distribution."""

from v6.domain.plugins import PluginInfo, PluginKind
from v6.entry.strike_selection import select_by_delta
from v6.hookspecs import hookimpl


class Boom(RuntimeError):
    pass


class RaisingStrategy:
    @hookimpl
    def v6_plugin_info(self):
        return PluginInfo(name="raising_strategy", kind=PluginKind.STRATEGY, summary="raises")

    @hookimpl
    def v6_propose_entries(self, market):
        raise Boom("strategy blew up")


class RaisingExit:
    @hookimpl
    def v6_plugin_info(self):
        return PluginInfo(
            name="raising_exit", kind=PluginKind.EXIT_RULE, summary="raises", priority=1
        )

    @hookimpl
    def v6_evaluate_exit(self, mark):
        raise Boom("exit rule blew up")


class SpySelector:
    @hookimpl
    def v6_plugin_info(self):
        return PluginInfo(
            name="spy_selector", kind=PluginKind.STRIKE_SELECTOR, summary="raises on SPY"
        )

    @hookimpl
    def v6_select_strikes(self, candidate, chain):
        if candidate.underlying == "SPY":
            raise Boom("selector blew up")
        return select_by_delta(candidate, chain, target_dte=None, max_spread_fraction=0.5)


strategy = RaisingStrategy()
exit_rule = RaisingExit()
selector = SpySelector()
'''

CONFIG = """
sim:
  days: 2
plugins:
  strategies:
    iron_condor: {settings: {min_dte: 3, max_dte: 12}}
    bull_put_spread: {settings: {min_dte: 3, max_dte: 12}}
    bear_call_spread: {settings: {min_dte: 3, max_dte: 12}}
    raising_strategy: {}
  strike_selector:
    spy_selector: {}
  exit_rules:
    raising_exit: {}
    stop_loss: {}
    days_to_expiry: {}
    take_profit: {settings: {profit_fraction: 0.3}}
  regime:
    volatility_regime: {}
"""


def install_failing_package(site: Path) -> None:
    """A distribution on ``site`` (put on PYTHONPATH) declaring three failing plugins."""
    (site / "failing_plugins.py").write_text(PACKAGE)
    dist = site / "v6_failing_plugins-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: v6-failing-plugins\nVersion: 0.1\n"
    )
    (dist / "entry_points.txt").write_text(
        textwrap.dedent(
            """\
            [v6]
            raising_strategy = failing_plugins:strategy
            raising_exit = failing_plugins:exit_rule
            spy_selector = failing_plugins:selector
            """
        )
    )


@pytest.mark.slow
def test_v6_run_with_plugins_failing_every_call_exits_0_with_a_bounded_log(tmp_path):
    """A strategy, an exit rule and (on SPY) a strike selector raise on every call for 30
    cycles: each traceback is logged once, alerts are deduplicated, trading goes on."""
    site = tmp_path / "site"
    site.mkdir()
    install_failing_package(site)
    config = tmp_path / "failing.yaml"
    config.write_text(CONFIG)
    store = tmp_path / "data"
    env = {**os.environ, "PYTHONPATH": str(site)}
    result = subprocess.run(
        [V6, "run", "--config", str(config), "--cycles", "30", "--store", str(store)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    stderr = result.stderr.splitlines()
    for plugin in ("raising_strategy", "raising_exit", "spy_selector"):
        tracebacks = [line for line in stderr if f"[{plugin}] plugin_error" in line]
        assert len(tracebacks) == 1, plugin
    assert sum("Traceback (most recent call last)" in line for line in stderr) == 3
    # Three first failures with their tracebacks, then a few hourly reminders each.
    assert len(stderr) < 120, "\n".join(stderr)
    cfg = sim_config(store)  # only to read the tables back
    alerts = table(cfg, "alerts")
    for plugin, hook in (
        ("raising_strategy", "v6_propose_entries"),
        ("raising_exit", "v6_evaluate_exit"),
        ("spy_selector", "v6_select_strikes"),
    ):
        mine = alerts[alerts["source"] == plugin]
        first = mine[mine["code"] == "plugin_error"]["message"]
        assert len(first) == 1 and f"{hook} raised Boom" in first.iloc[0]
        assert _more(mine[mine["code"] == "plugin_still_failing"]["message"]) > 0
    positions = table(cfg, "positions")
    assert not positions.empty and "SPY" not in set(positions["underlying"])
    decisions = table(cfg, "decisions")
    assert set(decisions["rule"]) - {"none"}, "the healthy exit rules still decided"


# -- the contract itself ---------------------------------------------------------------------


def test_every_hook_that_returns_something_has_a_result_check():
    returning = {
        name
        for name in SPEC_NAMES
        if inspect.signature(getattr(hookspecs, name)).return_annotation not in ("None", None)
    }
    assert returning == set(CHECKS) == set(SPEC_NAMES)


def test_plugins_call_returns_the_good_candidates_and_raises_naming_the_bad_ones():
    good, other = condor(MIS, "SPY"), condor("iron_condor", "QQQ")
    strategy = Strategy(MIS, lambda m: [good, other, 42])
    discovery = discover(extra=[(MIS, strategy)])
    plugins = select(discovery, attrs.evolve(PluginsConfig(), strategies={MIS: PluginBlock()}))
    (active,) = plugins.strategies
    with pytest.raises(PluginCallError) as raised:
        plugins.call(active, "v6_propose_entries", market=None)
    error = raised.value
    assert error.bad_result and (error.plugin, error.hook) == (MIS, "v6_propose_entries")
    assert error.kept == [good]
    assert str(error).startswith(f"plugin '{MIS}' returned a bad result from v6_propose_entries")
    assert "candidate 1 names strategy 'iron_condor'" in str(error)
    assert "candidate 2 is int 42" in str(error)


def test_nan_inputs_of_a_reading_mean_not_measured_and_are_accepted():
    detector = Detector(lambda m: {"SPY": reading("SPY", inputs={"realised_vol": NAN})})
    discovery = discover(extra=[("mis_regime", detector)])
    plugins = select(discovery, attrs.evolve(PluginsConfig(), regime={"mis_regime": PluginBlock()}))
    readings = plugins.call(plugins.regime, "v6_detect_regime", market=None)
    assert math.isnan(readings["SPY"].inputs["realised_vol"])


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        (NoSelection(""), "NoSelection reason str '' is not a non-empty string"),
        (NoSelection("   "), "NoSelection reason str '   ' is not a non-empty string"),
        (NoSelection(None), "NoSelection reason NoneType None is not a non-empty string"),
        ("no strikes", "str 'no strikes', expected a StrikeSelection, a NoSelection or None"),
    ],
)
def test_a_selector_says_why_it_found_nothing_with_a_text_reason(answer, fragment):
    class Answering:
        def __init__(self, value: Any) -> None:
            self.value = value

        @hookimpl
        def v6_plugin_info(self):
            return PluginInfo(name="mis_selector", kind=PluginKind.STRIKE_SELECTOR, summary="x")

        @hookimpl
        def v6_select_strikes(self, candidate):
            return self.value

    def plugins_answering(value):
        discovery = discover(extra=[("mis_selector", Answering(value))])
        config = attrs.evolve(PluginsConfig(), strike_selector={"mis_selector": PluginBlock()})
        return select(discovery, config)

    candidate = condor(MIS, "SPY")
    plugins = plugins_answering(NoSelection("no expiry 3-12 DTE with valid quotes"))
    why = plugins.call(plugins.strike_selector, "v6_select_strikes", candidate=candidate)
    assert why == NoSelection("no expiry 3-12 DTE with valid quotes")
    plugins = plugins_answering(answer)
    with pytest.raises(PluginCallError) as raised:
        plugins.call(plugins.strike_selector, "v6_select_strikes", candidate=candidate)
    assert raised.value.bad_result and fragment in str(raised.value)
