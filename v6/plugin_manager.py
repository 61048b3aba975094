"""Discover, validate, select and call V6 plugins.

Plugins are found through the ``v6`` entry-point group, built-ins included, and
registered with one pluggy ``PluginManager`` that knows the specs in
:mod:`v6.hookspecs`. Each plugin is validated when it loads; a bad one is reported by
name with the reason and the others load. The engine then calls each selected plugin
on its own through :meth:`ActivePlugins.call`, exit rules in declared priority order,
so one plugin's failure never hides another's result. Every result is checked against its
hook's spec (:mod:`v6.plugin_results`) on the way out: a bad result fails the call the
way an exception does, naming the plugin and the hook.
"""

from __future__ import annotations

import difflib
import logging
import numbers
from collections.abc import Callable, Iterable, Mapping
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import Any

import attrs
import pluggy
from attrs import frozen

from v6 import hookspecs
from v6.config import PluginBlock, PluginsConfig
from v6.conversion import structure
from v6.domain.plugins import PluginInfo, PluginKind
from v6.errors import ConfigError, PluginError, V6Error
from v6.plugin_results import CHECKS, BadResult

log = logging.getLogger(__name__)

GROUP = "v6"

KIND_HOOK: Mapping[PluginKind, str] = {
    PluginKind.STRATEGY: "v6_propose_entries",
    PluginKind.STRIKE_SELECTOR: "v6_select_strikes",
    PluginKind.EXIT_RULE: "v6_evaluate_exit",
    PluginKind.REGIME: "v6_detect_regime",
}

SECTION_KIND: Mapping[str, PluginKind] = {
    "strategies": PluginKind.STRATEGY,
    "strike_selector": PluginKind.STRIKE_SELECTOR,
    "exit_rules": PluginKind.EXIT_RULE,
    "regime": PluginKind.REGIME,
}


class PluginCallError(V6Error):
    """A plugin raised in one of its hooks, or returned a result its spec does not allow.

    ``original`` is the exception the plugin raised, or a
    :class:`~v6.plugin_results.BadResult` listing what is wrong with its result;
    ``kept`` is the part of a bad result that is safe to use (the good candidates of a
    list with some bad ones), or None.
    """

    def __init__(self, plugin: str, hook: str, original: BaseException) -> None:
        self.plugin = plugin
        self.hook = hook
        self.original = original
        self.kept: Any = original.kept if isinstance(original, BadResult) else None
        if self.bad_result:
            super().__init__(f"plugin '{plugin}' returned a bad result from {hook}: {original}")
        else:
            super().__init__(f"plugin '{plugin}' raised in {hook}: {original!r}")

    @property
    def bad_result(self) -> bool:
        """True when the plugin returned something wrong rather than raising."""
        return isinstance(self.original, BadResult)


def checked_result(plugin: str, hook: str, result: Any, arguments: Mapping[str, Any]) -> Any:
    """``result`` as the engine may use it, checked against ``hook``'s spec.

    Raises :class:`PluginCallError` (wrapping a ``BadResult``) when the spec does not allow
    it. A checker that trips over a value too strange to inspect (an ``__eq__`` that
    raises, say) rejects it the same way: the engine never uses what it could not check.
    """
    check = CHECKS.get(hook)
    if check is None:
        return result
    try:
        return check(result, plugin, arguments)
    except BadResult as exc:
        raise PluginCallError(plugin, hook, exc) from None
    except Exception as exc:
        bad = BadResult([f"returned a value that cannot be checked: {exc!r}"])
        raise PluginCallError(plugin, hook, bad) from exc


@frozen(slots=True)
class LoadedPlugin:
    """A plugin that loaded and passed validation."""

    name: str
    kind: PluginKind
    summary: str
    distribution: str
    version: str
    module: str
    hooks: tuple[str, ...]
    priority: int | None
    info: PluginInfo
    plugin: object = attrs.field(eq=False, repr=False)


@frozen(slots=True)
class Discovery:
    """Every plugin found: those that loaded, and why the others did not."""

    plugins: tuple[LoadedPlugin, ...]
    errors: tuple[PluginError, ...]
    manager: pluggy.PluginManager = attrs.field(eq=False, repr=False)

    def get(self, name: str) -> LoadedPlugin | None:
        """The loaded plugin called ``name``, or None (see ``errors`` for why it may be absent)."""
        return next((p for p in self.plugins if p.name == name), None)

    def of_kind(self, kind: PluginKind) -> tuple[LoadedPlugin, ...]:
        """The loaded plugins of one kind, in name order."""
        return tuple(sorted((p for p in self.plugins if p.kind is kind), key=lambda p: p.name))


def _a(word: str) -> str:
    """``word`` with its indefinite article, for messages ("an exit_rule")."""
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


def _new_manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    return manager


def _implemented_hooks(manager: pluggy.PluginManager, plugin: object) -> tuple[str, ...]:
    return tuple(sorted(caller.name for caller in manager.get_hookcallers(plugin) or ()))


def _impl(manager: pluggy.PluginManager, plugin: object, hook: str) -> Any:
    caller = getattr(manager.hook, hook)
    for impl in caller.get_hookimpls():
        if impl.plugin is plugin:
            return impl
    return None


SPEC_NAMES: tuple[str, ...] = tuple(
    sorted(name for name in vars(hookspecs) if name.startswith(f"{hookspecs.PROJECT}_"))
)


def _unknown_hooks(manager: pluggy.PluginManager, plugin: object) -> list[str]:
    """``v6_*`` callables that match no spec: typos, marked or not, that would never be called.

    An implementation that names its spec explicitly (``@hookimpl(specname=...)``) is fine.
    """
    unknown = []
    for attr in dir(plugin):
        if not attr.startswith(f"{hookspecs.PROJECT}_") or attr in SPEC_NAMES:
            continue
        if not callable(getattr(plugin, attr, None)):
            continue
        opts = manager.parse_hookimpl_opts(plugin, attr) or {}
        if opts.get("specname") in SPEC_NAMES:
            continue
        unknown.append(attr)
    return unknown


def _missing_hook_reason(plugin: object, hook: str, kind: PluginKind) -> str:
    if callable(getattr(plugin, hook, None)):
        return f"defines {hook} but does not mark it with @hookimpl"
    return f"{_a(kind.value)} must implement {hook}"


def _validate(
    manager: pluggy.PluginManager, name: str, plugin: object
) -> tuple[PluginInfo, tuple[str, ...]]:
    """Check a registered plugin against the contract; raises PluginError with the reason."""
    unknown = _unknown_hooks(manager, plugin)
    if unknown:
        close = difflib.get_close_matches(unknown[0], SPEC_NAMES, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise PluginError(name, f"unknown hook '{unknown[0]}'{hint}")
    manager.check_pending()  # backstop: any marked hookimpl with no spec
    hooks = _implemented_hooks(manager, plugin)
    info_impl = _impl(manager, plugin, "v6_plugin_info")
    if info_impl is None:
        if callable(getattr(plugin, "v6_plugin_info", None)):
            raise PluginError(name, "defines v6_plugin_info but does not mark it with @hookimpl")
        raise PluginError(name, "does not implement v6_plugin_info")
    try:
        info = info_impl.function()
    except Exception as exc:  # a plugin's own bug: report it, keep loading the others
        raise PluginError(name, f"v6_plugin_info raised {exc!r}") from exc
    try:
        info = checked_result(name, "v6_plugin_info", info, {})
    except PluginCallError as exc:
        raise PluginError(name, str(exc.original)) from None
    if info.name != name:
        raise PluginError(
            name,
            f"declares name '{info.name}' but is registered as '{name}'; "
            "make the entry-point name and PluginInfo.name the same",
        )
    needed = KIND_HOOK[info.kind]
    if needed not in hooks:
        raise PluginError(name, _missing_hook_reason(plugin, needed, info.kind))
    if not (isinstance(info.settings, type) and attrs.has(info.settings)):
        raise PluginError(
            name, f"settings {info.settings!r} is not an attrs class (use @attrs.frozen)"
        )
    if info.kind is PluginKind.EXIT_RULE:
        if not _is_integer(info.priority):
            raise PluginError(
                name,
                f"an exit rule must declare an integer priority (lower is more urgent; the "
                f"built-ins use 10 to 120), got {info.priority!r}",
            )
        # np.int64 and friends are integers too; the engine and the tables see a plain int.
        info = attrs.evolve(info, priority=int(info.priority))
    return info, hooks


def _is_integer(value: object) -> bool:
    """Any integral number (``int``, ``np.int64``), but not ``bool``."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _distribution(ep: EntryPoint) -> tuple[str, str]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "", ""
    return dist.metadata["Name"] or "", dist.version or ""


def _same_plugin(first: object, second: object) -> bool:
    """One plugin found twice: the same object, or the same module (by name, so a module
    imported under its name twice still counts once)."""
    if first is second:
        return True
    return (
        isinstance(first, ModuleType)
        and isinstance(second, ModuleType)
        and first.__name__ == second.__name__
    )


def _origin(distribution: str, version: str, module: str) -> str:
    """Where a plugin came from, for messages: ``acme-plugins 1.2.3 (acme.rule)``."""
    if distribution:
        return f"{distribution} {version} ({module})".replace(" ()", "")
    return f"an object registered in code ({module})" if module else "an object registered in code"


def _clash(first: LoadedPlugin, dist: str, version: str, module: str) -> str:
    won = _origin(first.distribution, first.version, first.module)
    lost = _origin(dist, version, module)
    return (
        f"two plugins have this name: {won} won (found first) and {lost} was not loaded; "
        "uninstall one of them or rename one entry point"
    )


def discover(group: str = GROUP, extra: Iterable[tuple[str, object]] = ()) -> Discovery:
    """Load every plugin of the entry-point ``group`` plus ``extra`` (name, object) pairs.

    Built-ins and third-party packages are found the same way, through entry points, so
    ``v6 plugins`` shows exactly what the engine can select. ``extra`` registers plugin
    objects directly (tests, embedding) without touching the installed set. A plugin that
    fails to import or breaks the contract is unregistered and reported in
    ``Discovery.errors`` by name with the reason (logged at INFO only: the caller decides
    whether it matters); the others still load.

    A plugin found twice under one name is loaded once when it is the same object or
    module (a package under test that is pip-installed *and* passed in ``extra``). Two
    different plugins under one name are a clash: the first found (entry points in name
    order, then ``extra``) is loaded, and the error names both, the winner first.
    """
    manager = _new_manager()
    loaded: list[LoadedPlugin] = []
    errors: list[PluginError] = []
    by_name: dict[str, LoadedPlugin] = {}

    def reject(error: PluginError) -> None:
        # Returned, not warned about: the caller knows whether the plugin matters (a
        # config that selects it fails with the reason; `v6 plugins` prints it once).
        errors.append(error)
        log.info("%s", error)

    # Each source says whether it is an entry point to load or a plugin object: not
    # isinstance(source, EntryPoint), since a library that imports the importlib_metadata
    # backport (Dash does) makes entry_points() return the backport's EntryPoint class.
    sources: list[tuple[str, Any, str, str, str, bool]] = []
    for ep in sorted(entry_points(group=group), key=lambda e: e.name):
        dist, version = _distribution(ep)
        sources.append((ep.name, ep, dist, version, ep.value, True))
    for name, obj in extra:
        module = getattr(obj, "__module__", None) or getattr(obj, "__name__", "")
        sources.append((name, obj, "", "", str(module), False))
    for name, source, dist, version, module, is_entry_point in sources:
        try:
            plugin = source.load() if is_entry_point else source
        except Exception as exc:  # ImportError, SyntaxError, a failing module body...
            reject(PluginError(name, f"cannot be imported: {exc!r}"))
            continue
        first = by_name.get(name)
        if first is not None:
            if not _same_plugin(first.plugin, plugin):
                reject(PluginError(name, _clash(first, dist, version, module)))
            # The same module again (a package under test that is also pip-installed, and
            # registered with ``extra``): it is already loaded, nothing clashes.
            continue
        try:
            manager.register(plugin, name=name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            reject(PluginError(name, f"does not match the hook specs: {exc}"))
            continue
        try:
            info, hooks = _validate(manager, name, plugin)
        except (PluginError, pluggy.PluginValidationError) as exc:
            manager.unregister(plugin)
            reject(exc if isinstance(exc, PluginError) else PluginError(name, str(exc)))
            continue
        by_name[name] = LoadedPlugin(
            name=name,
            kind=info.kind,
            summary=info.summary,
            distribution=dist,
            version=version,
            module=module,
            hooks=hooks,
            priority=info.priority if info.kind is PluginKind.EXIT_RULE else None,
            info=info,
            plugin=plugin,
        )
        loaded.append(by_name[name])
    return Discovery(plugins=tuple(loaded), errors=tuple(errors), manager=manager)


@frozen(slots=True)
class ActivePlugin:
    """A selected plugin with its validated settings and effective priority."""

    plugin: LoadedPlugin
    settings: Any
    priority: int = 0


@frozen(slots=True)
class ActivePlugins:
    """The plugins a config selected, ready for the engine to call."""

    strategies: tuple[ActivePlugin, ...]
    strike_selector: ActivePlugin
    exit_rules: tuple[ActivePlugin, ...]
    regime: ActivePlugin
    """The driving regime detector: its readings drive exits and take-profit targets."""
    regimes: tuple[ActivePlugin, ...]
    """Every selected regime detector, the driver included, in config order."""
    manager: pluggy.PluginManager = attrs.field(eq=False, repr=False)

    def bind(self, active: ActivePlugin, hook: str) -> Callable[..., Any]:
        """``call`` with the implementation looked up once, for hooks called in a hot loop
        (every exit rule for every position every cycle)."""
        impl = _impl(self.manager, active.plugin.plugin, hook)
        name = active.plugin.name
        if impl is None:
            error = PluginCallError(name, hook, LookupError(f"{hook} is not implemented"))

            def missing(**_kwargs: Any) -> Any:
                raise error

            return missing
        function, argnames, settings = impl.function, tuple(impl.argnames), active.settings

        def bound(**kwargs: Any) -> Any:
            kwargs["settings"] = settings
            try:
                args = {arg: kwargs[arg] for arg in argnames}
            except KeyError:
                unknown = [arg for arg in argnames if arg not in kwargs]
                raise PluginCallError(
                    name, hook, TypeError(f"asks for unknown arguments {unknown}")
                ) from None
            try:
                result = function(**args)
            except Exception as exc:
                raise PluginCallError(name, hook, exc) from exc
            return checked_result(name, hook, result, kwargs)

        return bound

    def call(self, active: ActivePlugin, hook: str, **kwargs: Any) -> Any:
        """Call one plugin's ``hook`` with only the arguments its implementation declares.

        ``settings`` is always the plugin's own validated settings. Any exception the
        plugin raises, and any result its hook's spec does not allow
        (:mod:`v6.plugin_results`), comes back as :class:`PluginCallError` for the engine to
        isolate; the value returned is the checked one.
        """
        impl = _impl(self.manager, active.plugin.plugin, hook)
        if impl is None:
            raise PluginCallError(
                active.plugin.name, hook, LookupError(f"{hook} is not implemented")
            )
        available = {**kwargs, "settings": active.settings}
        args = {name: available[name] for name in impl.argnames if name in available}
        missing = [name for name in impl.argnames if name not in available]
        if missing:
            raise PluginCallError(
                active.plugin.name, hook, TypeError(f"asks for unknown arguments {missing}")
            )
        try:
            result = impl.function(**args)
        except Exception as exc:
            raise PluginCallError(active.plugin.name, hook, exc) from exc
        return checked_result(active.plugin.name, hook, result, kwargs)


def _activate(discovery: Discovery, section: str, name: str, block: PluginBlock) -> ActivePlugin:
    kind = SECTION_KIND[section]
    path = f"plugins.{section}.{name}"
    plugin = discovery.get(name)
    if plugin is None:
        failed = next((e for e in discovery.errors if e.plugin == name), None)
        if failed is not None:
            raise ConfigError(path, f"plugin '{name}' failed to load: {failed.reason}")
        same_kind = [p.name for p in discovery.plugins if p.kind is kind]
        close = difflib.get_close_matches(name, same_kind, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ConfigError(
            path,
            f"no {kind.value} plugin named '{name}'{hint} (installed: "
            f"{', '.join(sorted(same_kind)) or 'none'})",
        )
    if plugin.kind is not kind:
        raise ConfigError(
            path, f"'{name}' is {_a(plugin.kind.value)} plugin, not {_a(kind.value)} plugin"
        )
    if block.priority is not None and kind is not PluginKind.EXIT_RULE:
        raise ConfigError(f"{path}.priority", "only exit rules take a priority")
    settings = structure(plugin.info.settings, block.settings or {}, path=f"{path}.settings")
    priority = block.priority if block.priority is not None else (plugin.priority or 0)
    return ActivePlugin(plugin=plugin, settings=settings, priority=priority)


def _single(discovery: Discovery, section: str, blocks: Mapping[str, PluginBlock]) -> ActivePlugin:
    if len(blocks) != 1:
        raise ConfigError(f"plugins.{section}", f"select exactly one plugin, got {len(blocks)}")
    ((name, block),) = blocks.items()
    return _activate(discovery, section, name, block)


def select(discovery: Discovery, plugins_config: PluginsConfig) -> ActivePlugins:
    """Activate the plugins ``plugins_config`` names, with validated settings, in engine order.

    Every selected regime detector is activated; ``regime`` is the driving one
    (:meth:`~v6.config.PluginsConfig.driving_regime`). Each block's raw ``settings``
    mapping is structured into the plugin's own attrs class, so errors name the full key
    path (``plugins.exit_rules.stop_loss.settings.x``). Exit
    rules are ordered by (priority, name): lower is more urgent (any integer, 0 and
    negatives included), a config ``priority`` overrides the declared one, and ties are
    broken by name so the order never depends on discovery order.
    """
    strategies = tuple(
        _activate(discovery, "strategies", name, block)
        for name, block in plugins_config.strategies.items()
    )
    exit_rules = tuple(
        sorted(
            (
                _activate(discovery, "exit_rules", name, block)
                for name, block in plugins_config.exit_rules.items()
            ),
            key=lambda a: (a.priority, a.plugin.name),
        )
    )
    regimes = tuple(
        _activate(discovery, "regime", name, block) for name, block in plugins_config.regime.items()
    )
    driver = plugins_config.driving_regime()  # ConfigError when it cannot say which
    return ActivePlugins(
        strategies=strategies,
        strike_selector=_single(discovery, "strike_selector", plugins_config.strike_selector),
        exit_rules=exit_rules,
        regime=next(a for a in regimes if a.plugin.name == driver),
        regimes=regimes,
        manager=discovery.manager,
    )
