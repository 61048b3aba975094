"""Records plugins return to describe themselves."""

from __future__ import annotations

from enum import StrEnum

from attrs import define, field, frozen


class PluginKind(StrEnum):
    STRATEGY = "strategy"
    EXIT_RULE = "exit_rule"
    REGIME = "regime"
    STRIKE_SELECTOR = "strike_selector"


@define(frozen=True, slots=True)
class NoSettings:
    """Settings class for plugins that take none."""


@frozen(slots=True)
class PluginInfo:
    """What a plugin is. Returned by ``v6_plugin_info``.

    ``settings`` is an attrs class; the config's block for the plugin is structured into
    it with cattrs, so a plugin validates its own settings. ``priority`` is required for
    exit rules (any integer, lower is more urgent; the built-ins use 10 to 120) and
    ignored otherwise.
    """

    name: str
    kind: PluginKind = field(converter=PluginKind)
    summary: str
    settings: type = NoSettings
    priority: int | None = None
