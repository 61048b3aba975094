"""The plugin manager: entry-point discovery, contract checks, selection, ordering, calls.

Plugins are registered the way datasette's tests do it: real entry points (a small
``*.dist-info`` written to ``tmp_path``) or plugin objects passed to ``discover(extra=...)``,
never by patching the manager's internals.
"""

from __future__ import annotations

import logging
import sys
import textwrap
from importlib.metadata import version
from pathlib import Path

import attrs
import numpy as np
import pytest

from v6.config import PluginBlock, PluginsConfig
from v6.domain.decisions import ExitDecision
from v6.domain.plugins import NoSettings, PluginInfo, PluginKind
from v6.errors import ConfigError, V6Error
from v6.hookspecs import hookimpl
from v6.plugin_manager import ActivePlugins, PluginCallError, discover, select

# The twelve rules of the decision engine, plus the fixed-share take profit: multiples
# of 10, so a third-party rule fits strictly between any two.
EXIT_RULE_PRIORITIES = {
    "catastrophe": 10,
    "circuit_breaker": 20,
    "data_integrity": 30,
    "days_to_expiry": 40,
    "stop_loss": 50,
    "trailing_stop": 60,
    "portfolio_limits": 70,
    "dynamic_take_profit": 80,
    "take_profit": 80,
    "delta_breach": 90,
    "regime_change": 100,
    "time_exit": 110,
    "hold": 120,
}
BUILT_IN_KINDS = {
    "iron_condor": PluginKind.STRATEGY,
    "bull_put_spread": PluginKind.STRATEGY,
    "bear_call_spread": PluginKind.STRATEGY,
    "delta_target": PluginKind.STRIKE_SELECTOR,
    "smart_strike": PluginKind.STRIKE_SELECTOR,
    **{name: PluginKind.EXIT_RULE for name in EXIT_RULE_PRIORITIES},
    "volatility_regime": PluginKind.REGIME,
}
KIND_HOOK = {
    PluginKind.STRATEGY: "v6_propose_entries",
    PluginKind.STRIKE_SELECTOR: "v6_select_strikes",
    PluginKind.EXIT_RULE: "v6_evaluate_exit",
    PluginKind.REGIME: "v6_detect_regime",
}


def make_exit_rule(name: str, priority: object, settings: type = NoSettings, hook: bool = True):
    """A small exit-rule plugin object, registered for one test."""

    class Rule:
        @hookimpl
        def v6_plugin_info(self):
            return PluginInfo(
                name=name,
                kind=PluginKind.EXIT_RULE,
                summary="test rule",
                priority=priority,
                settings=settings,
            )

    if hook:
        Rule.v6_evaluate_exit = hookimpl(lambda self, mark: None)
    return Rule()


# -- discovery ---------------------------------------------------------------------------


def test_discovery_lists_every_built_in_and_the_example_package_with_their_metadata():
    discovery = discover()
    assert discovery.errors == ()
    v6_version = version("v6")
    for name, kind in BUILT_IN_KINDS.items():
        plugin = discovery.get(name)
        assert plugin is not None, name
        assert plugin.kind is kind
        assert (plugin.distribution, plugin.version) == ("v6", v6_version)
        assert plugin.module.startswith("v6_plugins.")
        assert plugin.hooks == tuple(sorted(("v6_plugin_info", KIND_HOOK[kind])))
        assert plugin.info.name == name
    priorities = {p.name: p.priority for p in discovery.of_kind(PluginKind.EXIT_RULE)}
    assert priorities == EXIT_RULE_PRIORITIES
    assert discovery.get("iron_condor").priority is None
    fly = discovery.get("iron_fly")
    assert (fly.distribution, fly.version) == ("v6-iron-fly", version("v6-iron-fly"))
    assert fly.module == "v6_iron_fly.iron_fly"
    assert fly.hooks == ("v6_plugin_info", "v6_predict_position", "v6_propose_entries")
    registered = {name for name, _ in discovery.manager.list_name_plugin()}
    assert registered == {p.name for p in discovery.plugins}


@pytest.fixture
def acme_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A third-party distribution on sys.path whose entry-point group holds good and bad plugins."""
    group = "v6_acme_test"
    (tmp_path / "acme_rule.py").write_text(
        textwrap.dedent(
            """
            from v6.domain.plugins import PluginInfo, PluginKind
            from v6.hookspecs import hookimpl

            @hookimpl
            def v6_plugin_info():
                return PluginInfo(name="acme_rule", kind="exit_rule", summary="x", priority=3)

            @hookimpl
            def v6_evaluate_exit(mark):
                return None
            """
        )
    )
    (tmp_path / "acme_boom.py").write_text("raise RuntimeError('acme failed at import')\n")
    dist_info = tmp_path / "acme_plugins-1.2.3.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: acme-plugins\nVersion: 1.2.3\n"
    )
    (dist_info / "entry_points.txt").write_text(
        f"[{group}]\nacme_rule = acme_rule\nboom = acme_boom\nmissing = acme_not_installed\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield group
    for module in ("acme_rule", "acme_boom"):
        sys.modules.pop(module, None)


def test_plugins_still_load_once_a_library_imported_the_importlib_metadata_backport():
    # Dash imports it; entry_points() then yields the backport's EntryPoint class, which
    # must still be loaded as an entry point, never registered as the plugin itself.
    pytest.importorskip("importlib_metadata")
    probe = (
        "import importlib_metadata\n"
        "from v6.plugin_manager import discover\n"
        "found = discover()\n"
        "print(len(found.plugins), [str(e) for e in found.errors])\n"
    )
    import subprocess

    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    count, errors = result.stdout.split(" ", 1)
    assert errors.strip() == "[]" and int(count) == len(discover().plugins) >= 19


def test_an_installed_package_is_found_through_its_entry_point_and_import_errors_are_reported(
    acme_distribution: str, caplog: pytest.LogCaptureFixture
):
    with caplog.at_level(logging.INFO, logger="v6.plugin_manager"):
        discovery = discover(group=acme_distribution)
    rule = discovery.get("acme_rule")
    assert (rule.distribution, rule.version, rule.module) == ("acme-plugins", "1.2.3", "acme_rule")
    assert rule.priority == 3
    reasons = {error.plugin: error.reason for error in discovery.errors}
    assert set(reasons) == {"boom", "missing"}
    assert "acme failed at import" in reasons["boom"]
    assert "acme_not_installed" in reasons["missing"]
    assert all(isinstance(error, V6Error) for error in discovery.errors)
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert "'boom'" in logged and "'missing'" in logged
    # Returned and logged at INFO only: the caller decides whether a failure matters.
    assert all(record.levelno == logging.INFO for record in caplog.records)


class TypoHook:
    @hookimpl
    def v6_plugin_info(self):
        return PluginInfo(name="typo_hook", kind=PluginKind.STRATEGY, summary="x")

    @hookimpl
    def v6_propose_entry(self, market):  # the spec is v6_propose_entries
        return []


class UnmarkedHook:
    def v6_plugin_info(self):  # forgot @hookimpl
        return PluginInfo(name="unmarked_hook", kind=PluginKind.STRATEGY, summary="x")


class NoInfo:
    @hookimpl
    def v6_propose_entries(self, market):
        return []


class SettingsNotAttrs:
    @hookimpl
    def v6_plugin_info(self):
        return PluginInfo(
            name="settings_not_attrs", kind=PluginKind.STRATEGY, summary="x", settings=dict
        )

    @hookimpl
    def v6_propose_entries(self, market):
        return []


class UnknownArgument:
    @hookimpl
    def v6_plugin_info(self):
        return PluginInfo(name="unknown_argument", kind=PluginKind.REGIME, summary="x")

    @hookimpl
    def v6_detect_regime(self, market, weather):
        return {}


class InfoRaises:
    @hookimpl
    def v6_plugin_info(self):
        raise KeyError("oops")


BROKEN = [
    ("typo_hook", TypoHook(), "unknown hook 'v6_propose_entry'; did you mean 'v6_propose_entries'"),
    ("unmarked_hook", UnmarkedHook(), "does not mark it with @hookimpl"),
    ("no_info", NoInfo(), "does not implement v6_plugin_info"),
    ("info_raises", InfoRaises(), "v6_plugin_info raised KeyError"),
    ("settings_not_attrs", SettingsNotAttrs(), "is not an attrs class"),
    ("unknown_argument", UnknownArgument(), "weather"),
    ("no_priority", make_exit_rule("no_priority", None), "integer priority (lower is"),
    ("text_priority", make_exit_rule("text_priority", "1"), "120), got '1'"),
    (
        "no_kind_hook",
        make_exit_rule("no_kind_hook", 2, hook=False),
        "an exit_rule must implement v6_evaluate_exit",
    ),
    ("bool_priority", make_exit_rule("bool_priority", True), "120), got True"),
    (
        "float_priority",
        make_exit_rule("float_priority", 2.0),
        "120), got 2.0",
    ),
    ("renamed", make_exit_rule("other_name", 2), "declares name 'other_name'"),
]


def test_every_broken_plugin_is_reported_by_name_and_unregistered_while_the_rest_load():
    good = make_exit_rule("good_rule", 2)
    discovery = discover(
        extra=[*((name, plugin) for name, plugin, _ in BROKEN), ("good_rule", good)]
    )
    reasons = {error.plugin: error.reason for error in discovery.errors}
    assert set(reasons) == {name for name, _, _ in BROKEN}
    for name, _, expected in BROKEN:
        assert expected in reasons[name], (name, reasons[name])
        assert discovery.get(name) is None
        assert discovery.manager.get_plugin(name) is None
    assert discovery.get("good_rule").priority == 2
    assert {p.name for p in discovery.plugins} >= {*BUILT_IN_KINDS, "good_rule"}


def test_a_second_plugin_under_a_taken_name_is_refused_naming_which_one_won():
    discovery = discover(extra=[("stop_loss", make_exit_rule("stop_loss", 1))])
    (error,) = discovery.errors
    assert error.plugin == "stop_loss"
    v6_version = version("v6")
    assert (
        f"v6 {v6_version} (v6_plugins.exit_rules.stop_loss) won (found first) and an object "
        "registered in code (test_plugin_manager) was not loaded" in error.reason
    )
    assert discovery.get("stop_loss").priority == 50
    assert discovery.get("stop_loss").distribution == "v6"


def test_numpy_integer_priorities_are_integers_and_reach_the_engine_as_int():
    discovery = discover(extra=[("numpy_rule", make_exit_rule("numpy_rule", np.int64(4)))])
    assert discovery.errors == ()
    rule = discovery.get("numpy_rule")
    assert rule.priority == 4 and type(rule.priority) is int
    assert type(rule.info.priority) is int
    (active,) = select(discovery, _exits({"numpy_rule": PluginBlock()})).exit_rules
    assert type(active.priority) is int


def test_a_module_already_loaded_through_its_entry_point_may_be_registered_again():
    # A package under test that is also pip-installed: its module is found through the
    # entry point and passed to discover(extra=...) by the test. Not a clash.
    import v6_iron_fly.iron_fly as iron_fly
    import v6_plugins.exit_rules.stop_loss as stop_loss

    discovery = discover(extra=[("iron_fly", iron_fly), ("stop_loss", stop_loss)])
    assert discovery.errors == ()
    fly = discovery.get("iron_fly")
    assert fly.plugin is iron_fly
    assert (fly.distribution, fly.version) == ("v6-iron-fly", version("v6-iron-fly"))


def test_the_same_plugin_object_registered_twice_is_loaded_once():
    rule = make_exit_rule("twice_rule", 3)
    discovery = discover(extra=[("twice_rule", rule), ("twice_rule", rule)])
    assert discovery.errors == ()
    assert [p.name for p in discovery.plugins].count("twice_rule") == 1


@pytest.fixture
def two_distributions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Two installed distributions that both declare an exit rule called ``clash_rule``."""
    group = "v6_clash_test"
    for dist, module, priority in (
        ("alpha-rules", "alpha_clash", 3),
        ("beta-rules", "beta_clash", 4),
    ):
        (tmp_path / f"{module}.py").write_text(
            textwrap.dedent(
                f"""
                from v6.domain.plugins import PluginInfo, PluginKind
                from v6.hookspecs import hookimpl

                @hookimpl
                def v6_plugin_info():
                    return PluginInfo(
                        name="clash_rule", kind="exit_rule", summary="x", priority={priority}
                    )

                @hookimpl
                def v6_evaluate_exit(mark):
                    return None
                """
            )
        )
        dist_info = tmp_path / f"{dist.replace('-', '_')}-2.0.dist-info"
        dist_info.mkdir()
        (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 2.0\n")
        (dist_info / "entry_points.txt").write_text(f"[{group}]\nclash_rule = {module}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield group
    for module in ("alpha_clash", "beta_clash"):
        sys.modules.pop(module, None)


def test_two_distributions_with_one_plugin_name_is_an_error_naming_winner_and_loser(
    two_distributions: str,
):
    discovery = discover(group=two_distributions)
    (error,) = discovery.errors
    winner = discovery.get("clash_rule")
    loser = "beta-rules" if winner.distribution == "alpha-rules" else "alpha-rules"
    assert error.plugin == "clash_rule"
    assert f"{winner.distribution} 2.0 ({winner.module}) won" in error.reason
    assert f"{loser} 2.0 (" in error.reason and "was not loaded" in error.reason
    assert error.reason.index(winner.distribution) < error.reason.index(loser)


def test_an_implementation_may_name_its_spec_explicitly():
    class Named:
        @hookimpl
        def v6_plugin_info(self):
            return PluginInfo(name="named", kind=PluginKind.EXIT_RULE, summary="x", priority=6)

        @hookimpl(specname="v6_evaluate_exit")
        def v6_my_exit_logic(self, mark):
            return None

    discovery = discover(extra=[("named", Named())])
    assert discovery.errors == ()
    assert discovery.get("named").hooks == ("v6_evaluate_exit", "v6_plugin_info")


# -- selection ---------------------------------------------------------------------------


def test_the_default_config_selects_the_built_ins_with_their_default_settings():
    discovery = discover()
    active = select(discovery, PluginsConfig())
    assert [a.plugin.name for a in active.strategies] == [
        "iron_condor",
        "bull_put_spread",
        "bear_call_spread",
    ]
    assert active.strike_selector.plugin.name == "delta_target"
    assert active.regime.plugin.name == "volatility_regime"
    for entry in (*active.strategies, active.strike_selector, active.regime, *active.exit_rules):
        assert entry.settings == entry.plugin.info.settings()
    assert [(a.plugin.name, a.priority) for a in active.exit_rules] == [
        (name, priority)
        for name, priority in EXIT_RULE_PRIORITIES.items()
        if name != "take_profit"  # the default uses the dynamic one at priority 80
    ]


def test_exit_rules_are_ordered_by_priority_then_name_and_the_config_can_override_priority():
    extra = [
        ("zeta_rule", make_exit_rule("zeta_rule", 50)),
        ("alpha_rule", make_exit_rule("alpha_rule", 50)),
        ("urgent_rule", make_exit_rule("urgent_rule", 1)),
    ]
    discovery = discover(extra=extra)
    blocks = {
        name: PluginBlock()
        for name in ("take_profit", "zeta_rule", "stop_loss", "alpha_rule", "urgent_rule")
    }
    order = [(a.plugin.name, a.priority) for a in select(discovery, _exits(blocks)).exit_rules]
    assert order == [
        ("urgent_rule", 1),
        ("alpha_rule", 50),
        ("stop_loss", 50),
        ("zeta_rule", 50),
        ("take_profit", 80),
    ]
    blocks["take_profit"] = PluginBlock(priority=20)
    blocks["urgent_rule"] = PluginBlock(priority=90)
    order = [(a.plugin.name, a.priority) for a in select(discovery, _exits(blocks)).exit_rules]
    assert order == [
        ("take_profit", 20),
        ("alpha_rule", 50),
        ("stop_loss", 50),
        ("zeta_rule", 50),
        ("urgent_rule", 90),
    ]
    # The declared priority is unchanged; only this selection is overridden.
    assert discovery.get("take_profit").priority == 80


def test_any_integer_is_a_priority_zero_and_negatives_come_before_every_built_in():
    extra = [
        ("below_zero", make_exit_rule("below_zero", -5)),
        ("at_zero", make_exit_rule("at_zero", 0)),
    ]
    discovery = discover(extra=extra)
    assert [e for e in discovery.errors if e.plugin in ("below_zero", "at_zero")] == []
    blocks = {name: PluginBlock() for name in ("catastrophe", "at_zero", "below_zero", "hold")}
    order = [(a.plugin.name, a.priority) for a in select(discovery, _exits(blocks)).exit_rules]
    assert order == [("below_zero", -5), ("at_zero", 0), ("catastrophe", 10), ("hold", 120)]
    blocks["hold"] = PluginBlock(priority=-10)  # a config may move a built-in anywhere
    order = [a.plugin.name for a in select(discovery, _exits(blocks)).exit_rules]
    assert order == ["hold", "below_zero", "at_zero", "catastrophe"]


def test_the_built_in_priorities_leave_room_between_every_two_rules():
    priorities = sorted(set(EXIT_RULE_PRIORITIES.values()))
    assert priorities == list(range(10, 130, 10))


def _exits(blocks: dict[str, PluginBlock]) -> PluginsConfig:
    return PluginsConfig(exit_rules=dict(blocks))


@pytest.mark.parametrize(
    ("plugins", "path", "expected"),
    [
        (
            {"strategies": {"iron_condr": PluginBlock()}},
            "plugins.strategies.iron_condr",
            "did you mean 'iron_condor'",
        ),
        (
            {"exit_rules": {"take_proft": PluginBlock()}},
            "plugins.exit_rules.take_proft",
            "did you mean 'take_profit'",
        ),
        (
            {"exit_rules": {"iron_condor": PluginBlock()}},
            "plugins.exit_rules.iron_condor",
            "is a strategy",
        ),
        (
            {"regime": {"delta_target": PluginBlock()}},
            "plugins.regime.delta_target",
            "is a strike_selector",
        ),
        (
            {"strategies": {"iron_condor": PluginBlock(settings={"short_delta": 1.5})}},
            "plugins.strategies.iron_condor.settings.short_delta",
            "must be < 1",
        ),
        (
            {"strategies": {"iron_condor": PluginBlock(settings={"wing_widht": 5})}},
            "plugins.strategies.iron_condor.settings.wing_widht",
            "did you mean 'wing_width'",
        ),
        (
            {"exit_rules": {"stop_loss": PluginBlock(settings={"loss_multiple": "lots"})}},
            "plugins.exit_rules.stop_loss.settings.loss_multiple",
            "expected a number",
        ),
        (
            {"strategies": {"iron_condor": PluginBlock(priority=2)}},
            "plugins.strategies.iron_condor.priority",
            "only exit rules",
        ),
        (
            {"strike_selector": {}},
            "plugins.strike_selector",
            "exactly one",
        ),
    ],
)
def test_selection_errors_name_the_config_key_path(plugins, path, expected):
    with pytest.raises(ConfigError) as raised:
        select(discover(), PluginsConfig(**plugins))
    assert raised.value.path == path
    assert expected in raised.value.expected


def test_selecting_a_plugin_that_failed_to_load_says_why_it_failed():
    discovery = discover(extra=[("broken_rule", make_exit_rule("broken_rule", None))])
    with pytest.raises(ConfigError) as raised:
        select(discovery, PluginsConfig(exit_rules={"broken_rule": PluginBlock()}))
    assert raised.value.path == "plugins.exit_rules.broken_rule"
    assert "failed to load" in raised.value.expected and "priority" in raised.value.expected


# -- calling -----------------------------------------------------------------------------


@attrs.frozen
class Threshold:
    level: float = 1.0


DECIDED = ExitDecision(action="hold", reason="decided")


class Recorder:
    """Records what each hook received; ``fail`` makes the exit hook raise."""

    def __init__(self, fail: bool = False) -> None:
        self.seen: dict[str, dict[str, object]] = {}
        self.fail = fail

    @hookimpl
    def v6_plugin_info(self):
        return PluginInfo(
            name="recorder", kind=PluginKind.EXIT_RULE, summary="x", priority=3, settings=Threshold
        )

    @hookimpl
    def v6_evaluate_exit(self, settings, mark):
        self.seen["v6_evaluate_exit"] = {"mark": mark, "settings": settings}
        if self.fail:
            raise ZeroDivisionError("rule bug")
        return DECIDED


def _recorder_plugins(recorder: Recorder) -> ActivePlugins:
    discovery = discover(extra=[("recorder", recorder)])
    block = PluginBlock(settings={"level": 2.5})
    return select(discovery, PluginsConfig(exit_rules={"recorder": block}))


def test_call_passes_only_the_declared_arguments_and_the_plugins_own_settings():
    recorder = Recorder()
    plugins = _recorder_plugins(recorder)
    (active,) = plugins.exit_rules
    result = plugins.call(active, "v6_evaluate_exit", mark="MARK", market="M", regime=None)
    assert result is DECIDED
    assert recorder.seen["v6_evaluate_exit"] == {"mark": "MARK", "settings": Threshold(2.5)}


def test_a_plugin_that_raises_comes_back_as_plugin_call_error_naming_plugin_and_hook():
    plugins = _recorder_plugins(Recorder(fail=True))
    (active,) = plugins.exit_rules
    with pytest.raises(PluginCallError) as raised:
        plugins.call(active, "v6_evaluate_exit", mark="MARK", market="M", regime=None)
    error = raised.value
    assert (error.plugin, error.hook) == ("recorder", "v6_evaluate_exit")
    assert isinstance(error.original, ZeroDivisionError)
    assert isinstance(error, V6Error)
    assert "recorder" in str(error) and "rule bug" in str(error)


def test_calling_a_hook_the_plugin_does_not_implement_is_a_plugin_call_error():
    plugins = _recorder_plugins(Recorder())
    (active,) = plugins.exit_rules
    with pytest.raises(PluginCallError) as raised:
        plugins.call(active, "v6_propose_entries", market="M")
    assert isinstance(raised.value.original, LookupError)


def test_call_reaches_only_the_chosen_plugin_even_when_others_implement_the_hook():
    first = Recorder()

    class Second(Recorder):
        @hookimpl
        def v6_plugin_info(self):
            info = super().v6_plugin_info()
            return attrs.evolve(info, name="second")

    second = Second()
    discovery = discover(extra=[("recorder", first), ("second", second)])
    plugins = select(
        discovery, PluginsConfig(exit_rules={"recorder": PluginBlock(), "second": PluginBlock()})
    )
    target = next(a for a in plugins.exit_rules if a.plugin.name == "second")
    plugins.call(target, "v6_evaluate_exit", mark="ONLY", market=None, regime=None)
    assert first.seen == {}
    assert second.seen["v6_evaluate_exit"]["mark"] == "ONLY"
