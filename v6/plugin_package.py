"""``v6 plugin new``: write a ready-to-install plugin package of one kind.

The package is what docs/PLUGINS.md describes, and what a third party publishes::

    v6-pin-risk/                  the distribution ``v6-pin-risk``
      pyproject.toml              one ``v6`` entry point: ``pin_risk = "v6_pin_risk.pin_risk"``
      README.md
      v6_pin_risk/__init__.py
      v6_pin_risk/pin_risk.py     the plugin: documented hooks and an attrs ``Settings``
      tests/test_pin_risk.py      unit tests and a simulated session, on V6's fixtures

Each kind's module is a small working plugin (a put credit spread, a pin-risk exit, a
VIX-band regime detector that runs alone or beside others, a delta selector with a width
cap that says why it found nothing) that passes its own tests and trades in a sim session
beside the built-ins; the author replaces the idea and keeps the shape.
"""

from __future__ import annotations

import keyword
import re
from importlib.metadata import version
from pathlib import Path
from string import Template

from v6.domain.plugins import PluginKind
from v6.errors import V6Error

NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*\Z")
MAX_NAME = 40


class PackageError(V6Error):
    """``v6 plugin new`` cannot write the package asked for (exit status 2)."""

    exit_status = 2


def check_name(name: str) -> None:
    """Refuse a plugin name a config, an entry point and a module could not all use."""
    if not NAME_PATTERN.match(name) or len(name) > MAX_NAME or "__" in name:
        raise PackageError(
            f"plugin name {name!r} must be lowercase letters, digits and single underscores, "
            f"starting with a letter, at most {MAX_NAME} characters (e.g. pin_risk)"
        )
    if keyword.iskeyword(name):
        raise PackageError(f"plugin name {name!r} is a Python keyword; choose another")
    from v6.plugin_manager import discover

    taken = discover().get(name)
    if taken is not None:
        origin = f"{taken.distribution} {taken.version}" if taken.distribution else taken.module
        raise PackageError(
            f"a plugin named {name!r} is already installed ({taken.kind.value}, from {origin}); "
            "choose another name"
        )


def exit_rule_priority() -> int:
    """A priority for a new exit rule: just after ``days_to_expiry``, in the middle of the
    gap before the next built-in (45, between 40 and ``stop_loss``'s 50), or equal to it
    when there is no gap (ties are broken by name)."""
    from v6.plugin_manager import discover

    discovery = discover()
    anchor = discovery.get("days_to_expiry")
    if anchor is None or anchor.priority is None:
        return 45
    later = sorted(
        p.priority
        for p in discovery.of_kind(PluginKind.EXIT_RULE)
        if p.priority is not None and p.priority > anchor.priority and p.distribution == "v6"
    )
    if later and later[0] - anchor.priority > 1:
        return anchor.priority + (later[0] - anchor.priority) // 2
    return anchor.priority


def write_package(name: str, kind: PluginKind, parent: Path) -> Path:
    """Write the package for plugin ``name`` of ``kind`` under ``parent``; returns its root.

    Raises :class:`PackageError` for a bad or taken name, or a directory that exists.
    """
    check_name(name)
    dist = "v6-" + name.replace("_", "-")
    package = "v6_" + name
    root = parent / dist
    if root.exists():
        raise PackageError(f"{root} already exists; remove it or choose another --dir")
    from v6.plugin_manager import SECTION_KIND

    values = {
        "section": next(section for section, k in SECTION_KIND.items() if k is kind),
        "name": name,
        "dist": dist,
        "package": package,
        "title": name.replace("_", " ").capitalize(),
        "kind": kind.value,
        "v6_version": version("v6"),
        "priority": str(exit_rule_priority()) if kind is PluginKind.EXIT_RULE else "",
        "use_note": Template(REGIME_NOTE).substitute(name=name)
        if kind is PluginKind.REGIME
        else "",
    }
    spec = KINDS[kind]
    values["summary"] = Template(spec.summary).substitute(values)
    files = {
        "pyproject.toml": PYPROJECT,
        "README.md": README,
        f"{package}/__init__.py": INIT,
        f"{package}/{name}.py": spec.module,
        f"tests/test_{name}.py": spec.tests,
    }
    root.mkdir(parents=True)
    for relative, template in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(template).substitute(values), encoding="utf-8")
    return root


class _Kind:
    """The per-kind parts of a package: its one-line summary, module and tests."""

    def __init__(self, summary: str, module: str, tests: str) -> None:
        self.summary = summary
        self.module = module
        self.tests = tests


PYPROJECT = """\
[build-system]
requires = ["setuptools>=70.1"]
build-backend = "setuptools.build_meta"

[project]
name = "${dist}"
version = "0.1.0"
description = "${summary}"
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["v6>=${v6_version}"]

[project.optional-dependencies]
test = ["pytest>=8"]

# All V6 needs to find the plugin: the entry-point name is the name a config selects,
# and must equal the name v6_plugin_info returns.
[project.entry-points.v6]
${name} = "${package}.${name}"

[tool.setuptools]
packages = ["${package}"]

[tool.pytest.ini_options]
testpaths = ["tests"]

[tool.ruff]
line-length = 100

[tool.ruff.lint]
select = ["E", "F", "W", "I", "B", "UP", "RUF", "SIM"]
"""

REGIME_NOTE = """

Several regime detectors may run at once: each reads every underlying every cycle, its
readings are stored in `regimes` with its name in the `detector` column, and strategies,
strike selectors and exit rules see them all (`regimes_by_detector`). One of them drives
exits, take-profit targets and the regime recorded at entry; with more than one
selected, name it:

```yaml
plugins:
  regime:
    volatility_regime: {}
    ${name}: {}
  regime_driver: volatility_regime    # or ${name}
```"""

INIT = '''\
"""${title}: a V6 ${kind} plugin, the module ``${name}``."""
'''

README = """\
# ${dist}

${summary}: a V6 `${kind}` plugin named `${name}`.

## Install and check

```bash
pip install -e .            # or: pip install ${dist}, once published
v6 plugins                  # lists ${name} with its distribution and version
v6 plugins --settings ${name}
```

## Use

Select it in a V6 config by its name, like a built-in (`v6 check-config --config FILE`
validates its settings):

```yaml
plugins:
  ${section}:
    ${name}: {settings: {}}
```

A section in a config replaces the default one: list the built-ins you keep beside it
(`v6 plugins` lists them all).${use_note}

## Test

```bash
pip install -e '.[test]'
pytest
```

The tests use the `v6_*` fixtures V6 installs as a pytest plugin: a seeded simulated
market (`v6_market`, `v6_chain`, `v6_history`), a position and its mark (`v6_position`,
`v6_mark`) and a whole simulated session (`v6_session`). See V6's docs/PLUGINS.md.

## Publish

Bump `version` in pyproject.toml, `python -m build`, upload the wheel and sdist. Users
`pip install ${dist}`; nothing in V6 changes.
"""

_STRATEGY_MODULE = '''\
"""${title}: a V6 strategy.

Sells a put credit spread on every underlying it may trade that has room, a chain, an
open market and a calm enough regime: a short put at ``short_delta``, a long put
``wing_width`` points below. A strategy only describes legs (``LegTemplate``); the
configured strike selector picks the strikes, and the engine checks the portfolio
limits and sends the order. Replace the legs and the gates with your own idea.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from attrs import field, frozen, validators
from v6.domain.contracts import Right
from v6.domain.decisions import Regime, RegimeReading
from v6.domain.entries import EntryCandidate, LegTemplate
from v6.domain.market import MarketView
from v6.domain.plugins import PluginInfo, PluginKind
from v6.domain.positions import Position, PositionStatus
from v6.hookspecs import hookimpl

NAME = "${name}"


def _regimes(values: Iterable[str | Regime]) -> tuple[Regime, ...]:
    return tuple(Regime(value) for value in ((values,) if isinstance(values, str) else values))


@frozen
class Settings:
    """What the strategy sells, and when.

    Attributes:
        short_delta: target absolute delta of the short put.
        wing_width: points between the short put and the long put below it.
        min_dte: fewest calendar days to expiry to open on.
        max_dte: most calendar days to expiry to open on.
        quantity: units per entry.
        min_credit: least credit per share at mid worth opening for.
        max_positions_per_underlying: positions (opening, open or closing) held at once
            per underlying.
        avoid_regimes: regimes in which the strategy proposes nothing.
    """

    short_delta: float = field(default=0.20, validator=[validators.gt(0), validators.lt(1)])
    wing_width: float = field(default=5.0, validator=validators.gt(0))
    min_dte: int = field(default=5, validator=validators.ge(0))
    max_dte: int = field(default=30, validator=validators.ge(0))
    quantity: int = field(default=1, validator=validators.gt(0))
    min_credit: float = field(default=0.10, validator=validators.ge(0))
    max_positions_per_underlying: int = field(default=1, validator=validators.gt(0))
    avoid_regimes: tuple[Regime, ...] = field(
        default=(Regime.CRASH, Regime.HIGH_VOL), converter=_regimes
    )

    def __attrs_post_init__(self) -> None:
        if self.max_dte < self.min_dte:
            raise ValueError(f"max_dte {self.max_dte} must be >= min_dte {self.min_dte}")


@hookimpl
def v6_plugin_info() -> PluginInfo:
    """Describe the plugin; its name must equal the entry-point name in pyproject.toml."""
    return PluginInfo(
        name=NAME,
        kind=PluginKind.STRATEGY,
        summary="${summary}",
        settings=Settings,
    )


def legs(settings: Settings) -> tuple[LegTemplate, ...]:
    """The short put at the target delta, the long put ``wing_width`` points below it."""
    return (
        LegTemplate(Right.PUT, -1, delta=settings.short_delta),
        LegTemplate(Right.PUT, +1, anchor=0, offset=-settings.wing_width),
    )


@hookimpl
def v6_propose_entries(
    market: MarketView,
    regimes: Mapping[str, RegimeReading],
    positions: Sequence[Position],
    underlyings: Sequence[str],
    settings: Settings,
) -> list[EntryCandidate]:
    """One put spread per underlying with room, a chain, an open market and a calm regime.

    Called once per cycle while the market is open and no circuit breaker holds entries.
    ``positions`` are this strategy's own; ``underlyings`` those it may trade.
    ``regimes`` holds the driving regime detector's reading per underlying; take
    ``regimes_by_detector`` as well to see every selected detector's.
    """
    if not market.market_open:
        return []
    candidates = []
    for symbol in underlyings:
        held = sum(
            1 for p in positions if p.underlying == symbol and p.status is not PositionStatus.CLOSED
        )
        reading = regimes.get(symbol)
        if (
            symbol not in market.chains
            or held >= settings.max_positions_per_underlying
            or (reading is not None and reading.regime in settings.avoid_regimes)
        ):
            continue
        candidates.append(
            EntryCandidate(
                strategy=NAME,
                underlying=symbol,
                structure="put_credit_spread",
                legs=legs(settings),
                min_dte=settings.min_dte,
                max_dte=settings.max_dte,
                quantity=settings.quantity,
                min_credit=settings.min_credit,
                reason=f"{settings.short_delta:.2f}-delta put spread, "
                f"{settings.wing_width:g}-point wing",
            )
        )
    return candidates
'''

_TESTS_HEAD = '''\
"""Tests of the ${name} plugin, against the real V6 engine.

The ``v6_*`` fixtures come from V6's pytest plugin, installed with V6: nothing to import.
"""

from __future__ import annotations

IMPORTS


def test_${name}_loads_and_is_listed_under_its_entry_point_name():
    # The package may also be pip-installed: registering its module again is no clash.
    discovery = discover(extra=[("${name}", plugin)])
    assert [e for e in discovery.errors if e.plugin == "${name}"] == []
    loaded = discovery.get("${name}")
    assert loaded.kind == "${kind}"
    assert loaded.plugin is plugin


def test_${name}_defaults_are_a_working_configuration():
    assert plugin.Settings() == plugin.v6_plugin_info().settings()
'''


def _tests(imports: str, body: str) -> str:
    """A tests module: the kind's imports with the common ones, the common tests, ``body``."""
    lines = {*imports.splitlines(), "from v6.plugin_manager import discover"}
    third_party = sorted(lines, key=lambda line: (line.startswith("from "), line))
    block = "\n".join(third_party) + "\n\nimport ${package}.${name} as plugin\n"
    return _TESTS_HEAD.replace("IMPORTS\n", block) + body


_STRATEGY_TESTS = _tests(
    "",
    """

def test_${name}_proposes_one_put_spread_per_underlying(v6_market):
    candidates = plugin.v6_propose_entries(
        market=v6_market,
        regimes={},
        positions=[],
        underlyings=list(v6_market.chains),
        settings=plugin.Settings(),
    )
    assert [c.underlying for c in candidates] == list(v6_market.chains)
    assert all(c.strategy == "${name}" and len(c.legs) == 2 for c in candidates)


def test_${name}_trades_in_a_simulated_session(v6_session):
    session = v6_session(cycles=20, strategies={"${name}": {}})
    entries = session.table("entries")
    assert (entries["strategy"] == "${name}").any()
    assert session.alerts("plugin_error").empty
""",
)

_EXIT_RULE_MODULE = '''\
"""${title}: a V6 exit rule.

Closes a position whose underlying sits within ``distance`` points of a short strike in
its last ``within_dte`` calendar days: pinned near a short strike at expiry, a position
risks assignment and a large swing in value for little premium left. Replace the test
with your own idea; keep the rule a pure function of its arguments.
"""

from __future__ import annotations

from attrs import field, frozen, validators
from v6.domain.decisions import ExitAction, ExitDecision
from v6.domain.plugins import PluginInfo, PluginKind
from v6.domain.positions import PositionMark
from v6.hookspecs import hookimpl

NAME = "${name}"
# Lower is more urgent, any integer; the built-ins use multiples of 10, from catastrophe
# (10) to hold (120), and `v6 plugins` lists them. This one is asked right after
# days_to_expiry (40), before stop_loss (50); equal priorities are asked in name order.
PRIORITY = ${priority}


@frozen
class Settings:
    """When a position counts as pinned.

    Attributes:
        distance: points between the underlying and a short strike that count as pinned.
        within_dte: act only this many calendar days to expiry or fewer.
    """

    distance: float = field(default=1.0, validator=validators.gt(0))
    within_dte: int = field(default=2, validator=validators.ge(0))


@hookimpl
def v6_plugin_info() -> PluginInfo:
    """Describe the plugin; its name must equal the entry-point name in pyproject.toml."""
    return PluginInfo(
        name=NAME,
        kind=PluginKind.EXIT_RULE,
        summary="${summary}",
        settings=Settings,
        priority=PRIORITY,
    )


@hookimpl
def v6_evaluate_exit(mark: PositionMark, settings: Settings) -> ExitDecision | None:
    """Close when pinned near a short strike close to expiry; otherwise no opinion (None).

    Called for every open position every cycle. Never acts on a mark whose quotes
    failed the data-quality gate.
    """
    if not mark.quotes_valid or mark.dte > settings.within_dte:
        return None
    shorts = [leg.contract.strike for leg in mark.position.legs if leg.is_short]
    if not shorts:
        return None
    gap = min(abs(mark.spot - strike) for strike in shorts)
    if gap > settings.distance:
        return None
    return ExitDecision(
        action=ExitAction.CLOSE,
        reason=f"spot {mark.spot:.2f} is {gap:.2f} from a short strike at {mark.dte} DTE",
        inputs={"spot": mark.spot, "gap": gap, "dte": mark.dte},
    )
'''

_EXIT_RULE_TESTS = _tests(
    "import attrs\nfrom v6.domain.decisions import ExitAction\n",
    """

def test_${name}_has_no_opinion_far_from_expiry(v6_mark):
    assert v6_mark.dte > plugin.Settings().within_dte
    assert plugin.v6_evaluate_exit(mark=v6_mark, settings=plugin.Settings()) is None


def test_${name}_closes_a_position_pinned_near_expiry(v6_mark):
    short = next(leg.contract.strike for leg in v6_mark.position.legs if leg.is_short)
    pinned = attrs.evolve(v6_mark, spot=short + 0.5, dte=1)
    decision = plugin.v6_evaluate_exit(mark=pinned, settings=plugin.Settings())
    assert decision.action is ExitAction.CLOSE
    assert decision.inputs["gap"] == 0.5
    bad_quotes = attrs.evolve(pinned, quotes_valid=False)
    assert plugin.v6_evaluate_exit(mark=bad_quotes, settings=plugin.Settings()) is None


def test_${name}_judges_positions_beside_the_built_in_rules(v6_session, v6_config):
    exit_rules = {**v6_config.plugins.exit_rules, "${name}": {}}
    session = v6_session(cycles=20, exit_rules=exit_rules)
    verdicts = session.table("decisions")["verdicts"].dropna()
    assert verdicts.str.contains('"${name}"').any()
    assert session.alerts("plugin_error").empty
""",
)

_REGIME_MODULE = '''\
"""${title}: a V6 regime detector.

Reads VIX and calls the market high_vol at or above ``high_vix``, low_vol at or below
``low_vix``, and normal between, for every underlying quoted. Replace the evidence with
your own; ``history`` holds recent cycles and ``previous`` this detector's own readings
of the last cycle, for hysteresis.

It may run alone or beside other detectors (``volatility_regime``, say). Every selected
detector's readings are stored with its name and shown to strategies, strike selectors
and exit rules as ``regimes_by_detector``; the one ``plugins.regime_driver`` names (or
the only one selected) also drives exits and take-profit targets.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from attrs import field, frozen, validators
from v6.domain.decisions import Regime, RegimeReading
from v6.domain.market import MarketView
from v6.domain.plugins import PluginInfo, PluginKind
from v6.hookspecs import hookimpl

NAME = "${name}"


@frozen
class Settings:
    """VIX bands, in points.

    Attributes:
        high_vix: VIX at or above this is high_vol.
        low_vix: VIX at or below this is low_vol.
    """

    high_vix: float = field(default=25.0, validator=validators.gt(0))
    low_vix: float = field(default=13.0, validator=validators.gt(0))

    def __attrs_post_init__(self) -> None:
        if self.low_vix >= self.high_vix:
            raise ValueError(f"low_vix {self.low_vix} must be < high_vix {self.high_vix}")


@hookimpl
def v6_plugin_info() -> PluginInfo:
    """Describe the plugin; its name must equal the entry-point name in pyproject.toml."""
    return PluginInfo(
        name=NAME,
        kind=PluginKind.REGIME,
        summary="${summary}",
        settings=Settings,
    )


def classify(vix: float, settings: Settings) -> Regime:
    """The regime VIX alone says (normal when VIX is missing)."""
    if not math.isfinite(vix):
        return Regime.NORMAL
    if vix >= settings.high_vix:
        return Regime.HIGH_VOL
    if vix <= settings.low_vix:
        return Regime.LOW_VOL
    return Regime.NORMAL


@hookimpl
def v6_detect_regime(
    market: MarketView, previous: Mapping[str, RegimeReading], settings: Settings
) -> dict[str, RegimeReading]:
    """One reading per underlying quoted, keyed by its symbol.

    Called once per cycle, before exits and entries.
    """
    regime = classify(market.vix, settings)
    return {
        symbol: RegimeReading(
            underlying=symbol,
            regime=regime,
            reason=f"VIX {market.vix:.1f} (bands {settings.low_vix:g}-{settings.high_vix:g})",
            inputs={"vix": float(market.vix)},
        )
        for symbol in market.underlyings
    }
'''

_REGIME_TESTS = _tests(
    "from v6.domain.decisions import Regime\n",
    """

def test_${name}_reads_every_underlying_of_the_simulated_market(v6_market):
    readings = plugin.v6_detect_regime(market=v6_market, previous={}, settings=plugin.Settings())
    assert set(readings) == set(v6_market.underlyings)
    assert all(symbol == reading.underlying for symbol, reading in readings.items())


def test_${name}_bands(v6_market):
    settings = plugin.Settings(high_vix=20.0, low_vix=12.0)
    assert plugin.classify(30.0, settings) is Regime.HIGH_VOL
    assert plugin.classify(10.0, settings) is Regime.LOW_VOL
    assert plugin.classify(15.0, settings) is Regime.NORMAL
    assert plugin.classify(float("nan"), settings) is Regime.NORMAL


def test_${name}_drives_a_simulated_session_alone(v6_session):
    session = v6_session(cycles=10, regime={"${name}": {}})
    regimes = session.table("regimes")
    assert len(regimes) >= 10
    assert (regimes["detector"] == "${name}").all()
    assert regimes["reason"].str.startswith("VIX ").all()
    assert session.alerts("plugin_error").empty


def test_${name}_runs_beside_the_built_in_detector(v6_session):
    # Both read every cycle and both are stored; the built-in one drives the exits here.
    session = v6_session(
        cycles=10,
        regime={"volatility_regime": {}, "${name}": {}},
        regime_driver="volatility_regime",
    )
    regimes = session.table("regimes")
    assert set(regimes["detector"]) == {"volatility_regime", "${name}"}
    assert regimes[regimes["detector"] == "${name}"]["reason"].str.startswith("VIX ").all()
    assert session.alerts("plugin_error").empty
""",
)

_SELECTOR_MODULE = '''\
"""${title}: a V6 strike selector.

Places each leg the way the built-in ``delta_target`` does (shorts at the nearest delta,
wings by offset, on the expiry nearest ``target_dte``), refuses a structure whose wings
are wider than ``max_width`` points, and opens nothing while the driving regime of the
candidate's underlying is one of ``avoid_regimes`` or VIX is above ``max_vix``. It reuses
V6's vectorised ``v6.entry.strike_selection.search_by_delta``; replace it with your own
search.

When it finds nothing it says why with a ``NoSelection``: the engine stores the reason
with the rejected entry (``entries.reason``: ``no acceptable strikes: <reason>``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from attrs import field, frozen, validators
from v6.domain.decisions import Regime, RegimeReading
from v6.domain.entries import EntryCandidate, NoSelection, StrikeSelection
from v6.domain.market import MarketView, OptionChain
from v6.domain.plugins import PluginInfo, PluginKind
from v6.entry.strike_selection import search_by_delta
from v6.hookspecs import hookimpl

NAME = "${name}"


def _regimes(values: Iterable[str | Regime]) -> tuple[Regime, ...]:
    return tuple(Regime(value) for value in ((values,) if isinstance(values, str) else values))


@frozen
class Settings:
    """Where to look, and what to refuse.

    Attributes:
        target_dte: the calendar days to expiry to aim for; null means the middle of the
            candidate's DTE window.
        max_spread_fraction: refuse a short leg whose bid/ask spread is wider than this
            share of its mid.
        max_width: refuse a structure with a wing more than this many points from its
            short strike.
        max_vix: open nothing while VIX is above this.
        avoid_regimes: open nothing while the driving regime of the underlying is one of
            these.
    """

    target_dte: int | None = field(default=None, validator=validators.optional(validators.ge(0)))
    max_spread_fraction: float = field(default=0.5, validator=validators.gt(0))
    max_width: float = field(default=10.0, validator=validators.gt(0))
    max_vix: float = field(default=40.0, validator=validators.gt(0))
    avoid_regimes: tuple[Regime, ...] = field(default=(Regime.CRASH,), converter=_regimes)


@hookimpl
def v6_plugin_info() -> PluginInfo:
    """Describe the plugin; its name must equal the entry-point name in pyproject.toml."""
    return PluginInfo(
        name=NAME,
        kind=PluginKind.STRIKE_SELECTOR,
        summary="${summary}",
        settings=Settings,
    )


@hookimpl
def v6_select_strikes(
    candidate: EntryCandidate,
    chain: OptionChain,
    market: MarketView,
    regime: RegimeReading | None,
    regimes_by_detector: Mapping[str, Mapping[str, RegimeReading]],
    settings: Settings,
) -> StrikeSelection | NoSelection:
    """Concrete legs for ``candidate`` from the valid rows of ``chain``, or why not.

    Called once per candidate with its underlying's gated chain; work on whole arrays.
    ``market`` is the whole market view (VIX, the other underlyings); ``regime`` the
    driving detector's reading of the candidate's underlying (None before the first);
    ``regimes_by_detector`` every selected detector's readings, by detector name then
    underlying. Take only the arguments you use: V6 passes them by name.
    """
    if market.vix > settings.max_vix:
        return NoSelection(f"VIX {market.vix:.1f} above {settings.max_vix:g}")
    if regime is not None and regime.regime in settings.avoid_regimes:
        return NoSelection(f"{regime.regime.value} regime on {candidate.underlying}")
    return search_by_delta(
        candidate,
        chain,
        target_dte=settings.target_dte,
        max_spread_fraction=settings.max_spread_fraction,
        max_width=settings.max_width,
    )
'''

_SELECTOR_TESTS = _tests(
    "from v6.domain.decisions import Regime, RegimeReading\n"
    "from v6.domain.entries import EntryCandidate, NoSelection, StrikeSelection\n"
    "from v6.testing.positions import IRON_CONDOR\n",
    """

def _condor(underlying: str) -> EntryCandidate:
    return EntryCandidate(
        strategy="test",
        underlying=underlying,
        structure="iron_condor",
        legs=IRON_CONDOR,
        min_dte=7,
        max_dte=45,
    )


def _select(v6_market, v6_chain, settings, regime=None):
    return plugin.v6_select_strikes(
        candidate=_condor(v6_chain.underlying),
        chain=v6_chain,
        market=v6_market,
        regime=regime,
        regimes_by_detector={},
        settings=settings,
    )


def test_${name}_picks_valid_strikes_on_the_simulated_chain(v6_market, v6_chain):
    selection = _select(v6_market, v6_chain, plugin.Settings())
    assert isinstance(selection, StrikeSelection) and len(selection.legs) == 4
    assert selection.net_mid < 0  # a credit


def test_${name}_says_why_it_refuses_wings_wider_than_max_width(v6_market, v6_chain):
    refused = _select(v6_market, v6_chain, plugin.Settings(max_width=1.0))
    assert isinstance(refused, NoSelection)
    assert "over the 1 maximum" in refused.reason


def test_${name}_opens_nothing_in_an_avoided_regime_or_above_max_vix(v6_market, v6_chain):
    crash = RegimeReading(underlying=v6_chain.underlying, regime=Regime.CRASH, reason="test")
    refused = _select(v6_market, v6_chain, plugin.Settings(), regime=crash)
    assert refused == NoSelection(f"crash regime on {v6_chain.underlying}")
    calm_vix = plugin.Settings(max_vix=v6_market.vix / 2)
    assert _select(v6_market, v6_chain, calm_vix).reason.startswith("VIX ")


def test_${name}_selects_strikes_in_a_simulated_session(v6_session):
    session = v6_session(cycles=10, strike_selector={"${name}": {}})
    entries = session.table("entries")
    assert (entries["outcome"] == "accepted").any()
    assert session.alerts("plugin_error").empty
""",
)

KINDS: dict[PluginKind, _Kind] = {
    PluginKind.STRATEGY: _Kind(
        "${title}: a put credit spread strategy", _STRATEGY_MODULE, _STRATEGY_TESTS
    ),
    PluginKind.EXIT_RULE: _Kind(
        "${title}: close when pinned near a short strike at expiry",
        _EXIT_RULE_MODULE,
        _EXIT_RULE_TESTS,
    ),
    PluginKind.REGIME: _Kind("${title}: VIX-band regime detector", _REGIME_MODULE, _REGIME_TESTS),
    PluginKind.STRIKE_SELECTOR: _Kind(
        "${title}: delta strike selector with a wing-width cap", _SELECTOR_MODULE, _SELECTOR_TESTS
    ),
}
