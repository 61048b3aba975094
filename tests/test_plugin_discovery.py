"""The plugin manager: discovery through entry points, validation, ordering, calling."""

from __future__ import annotations

import attrs
import pytest

from v6.config import PluginBlock, PluginsConfig
from v6.domain.plugins import PluginInfo, PluginKind
from v6.errors import ConfigError
from v6.hookspecs import hookimpl
from v6.plugin_manager import PluginCallError, discover, select

BUILT_INS = {
    "iron_condor": ("strategy", None),
    "bull_put_spread": ("strategy", None),
    "bear_call_spread": ("strategy", None),
    "delta_target": ("strike_selector", None),
    "days_to_expiry": ("exit_rule", 4),
    "stop_loss": ("exit_rule", 5),
    "take_profit": ("exit_rule", 8),
    "volatility_regime": ("regime", None),
}


def exit_rule(name: str, priority, settings=None, hook=True):
    """A tiny exit-rule plugin object, registered for one test."""

    class Rule:
        @hookimpl
        def v6_plugin_info(self):
            return PluginInfo(
                name=name,
                kind=PluginKind.EXIT_RULE,
                summary="test",
                priority=priority,
                **({"settings": settings} if settings else {}),
            )

    if hook:
        Rule.v6_evaluate_exit = hookimpl(lambda self, mark: None)
    return Rule()


def test_every_built_in_is_found_through_the_entry_point_group_with_its_metadata():
    discovery = discover()
    found = {p.name: p for p in discovery.plugins}
    for name, (kind, priority) in BUILT_INS.items():
        plugin = found[name]
        assert plugin.kind.value == kind
        assert plugin.priority == priority
        assert plugin.distribution == "v6"
        assert plugin.module.startswith("v6_plugins.")
        assert "v6_plugin_info" in plugin.hooks
    assert found["iron_fly"].distribution == "v6-iron-fly"
    assert discovery.errors == ()


class Typo:
    @hookimpl
    def v6_plugin_info(self):
        return PluginInfo(name="typo", kind=PluginKind.STRATEGY, summary="x")

    @hookimpl
    def v6_propose_entry(self, market):  # missing the final 's'
        return []


class NoInfo:
    @hookimpl
    def v6_propose_entries(self, market):
        return []


class NotAttrs:
    @hookimpl
    def v6_plugin_info(self):
        return PluginInfo(name="not_attrs", kind=PluginKind.STRATEGY, summary="x", settings=dict)

    @hookimpl
    def v6_propose_entries(self, market):
        return []


class WrongArgs:
    @hookimpl
    def v6_plugin_info(self):
        return PluginInfo(name="wrong_args", kind=PluginKind.REGIME, summary="x")

    @hookimpl
    def v6_detect_regime(self, market, weather):
        return {}


@pytest.mark.parametrize(
    ("name", "plugin", "reason"),
    [
        ("typo", Typo(), "did you mean 'v6_propose_entries'"),
        ("no_info", NoInfo(), "v6_plugin_info"),
        ("not_attrs", NotAttrs(), "not an attrs class"),
        ("no_priority", exit_rule("no_priority", None), "priority"),
        ("zero_priority", exit_rule("zero_priority", 0), "priority"),
        ("no_hook", exit_rule("no_hook", 3, hook=False), "must implement v6_evaluate_exit"),
        ("renamed", exit_rule("other_name", 3), "registered as 'renamed'"),
        ("wrong_args", WrongArgs(), "weather"),
    ],
)
def test_a_bad_plugin_is_reported_by_name_and_the_others_still_load(name, plugin, reason):
    discovery = discover(extra=[(name, plugin)])
    (error,) = discovery.errors
    assert error.plugin == name
    assert reason in error.reason
    assert discovery.get(name) is None
    assert discovery.get("iron_condor") is not None
    assert discovery.manager.get_plugin(name) is None


def test_exit_rules_run_by_priority_then_name_and_config_can_override():
    extra = [("b_rule", exit_rule("b_rule", 5)), ("a_rule", exit_rule("a_rule", 5))]
    discovery = discover(extra=extra)
    config = PluginsConfig(
        exit_rules={
            "take_profit": PluginBlock(),
            "b_rule": PluginBlock(),
            "a_rule": PluginBlock(),
            "stop_loss": PluginBlock(),
            "days_to_expiry": PluginBlock(),
        }
    )
    order = [(a.plugin.name, a.priority) for a in select(discovery, config).exit_rules]
    assert order == [
        ("days_to_expiry", 4),
        ("a_rule", 5),
        ("b_rule", 5),
        ("stop_loss", 5),
        ("take_profit", 8),
    ]
    overridden = attrs.evolve(
        config, exit_rules={**config.exit_rules, "take_profit": PluginBlock(priority=1)}
    )
    first = select(discovery, overridden).exit_rules[0]
    assert (first.plugin.name, first.priority) == ("take_profit", 1)


@pytest.mark.parametrize(
    ("config", "path", "expected"),
    [
        (
            PluginsConfig(strategies={"iron_condr": PluginBlock()}),
            "plugins.strategies.iron_condr",
            "did you mean 'iron_condor'",
        ),
        (
            PluginsConfig(exit_rules={"iron_condor": PluginBlock()}),
            "plugins.exit_rules.iron_condor",
            "is a strategy, not a exit_rule",
        ),
        (
            PluginsConfig(strategies={"iron_condor": PluginBlock(settings={"short_delta": 2})}),
            "plugins.strategies.iron_condor.settings.short_delta",
            "1",
        ),
        (
            PluginsConfig(strategies={"iron_condor": PluginBlock(settings={"wings": 5})}),
            "plugins.strategies.iron_condor.settings.wings",
            "wing_width",
        ),
        (
            PluginsConfig(strategies={"iron_condor": PluginBlock(priority=2)}),
            "plugins.strategies.iron_condor.priority",
            "only exit rules",
        ),
    ],
)
def test_selection_errors_name_the_key_path(config, path, expected):
    with pytest.raises(ConfigError) as raised:
        select(discover(), config)
    assert raised.value.path == path
    assert expected in str(raised.value)


def test_settings_reach_the_plugin_validated_and_only_declared_arguments_are_passed():
    @attrs.frozen
    class Settings:
        threshold: float = 1.0

    seen = {}

    class Rule:
        @hookimpl
        def v6_plugin_info(self):
            return PluginInfo(
                name="echo", kind=PluginKind.EXIT_RULE, summary="x", priority=2, settings=Settings
            )

        @hookimpl
        def v6_evaluate_exit(self, mark, settings):
            seen.update(mark=mark, settings=settings)
            raise ValueError("boom")

    discovery = discover(extra=[("echo", Rule())])
    active = select(
        discovery, PluginsConfig(exit_rules={"echo": PluginBlock(settings={"threshold": 2.5})})
    ).exit_rules[0]
    plugins = select(
        discovery, PluginsConfig(exit_rules={"echo": PluginBlock(settings={"threshold": 2.5})})
    )
    with pytest.raises(PluginCallError) as raised:
        plugins.call(active, "v6_evaluate_exit", mark="M", market="ignored", regime=None)
    assert seen == {"mark": "M", "settings": Settings(threshold=2.5)}
    assert raised.value.plugin == "echo" and isinstance(raised.value.original, ValueError)
