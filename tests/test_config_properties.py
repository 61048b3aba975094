"""Property-based and fuzz tests: ``check-config`` vouches for everything ``run`` does.

Every config either passes ``check-config`` and then runs two simulated cycles cleanly,
or fails with exit status 2 and one line naming the key. Values are drawn to stress each
field's boundaries: huge and negative integers, zero, floats where integers belong,
strings, lists, mappings, NaN and infinities, names that are almost right.

Both tests are derandomized (the same examples on every run, so CI is deterministic) and
bounded (``fuzz_budget``): in ``make test``, 60 configs checked (and about a third run) in
process and 20 mutations of the embedded defaults checked (and run, when accepted) as
real processes under a timeout, which is what proves the absence of a hang; ``make
fuzz`` draws 600 and 200.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import typing
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import attrs
import pytest
import yaml
from fuzz_budget import examples
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

import v6.config as schema
from v6.cli import main
from v6.config import BREAKER_NAMES, DEFAULT_EXIT_RULES, TradingConfig
from v6.config_loader import ENV_OVERRIDES

pytestmark = pytest.mark.slow

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
ERROR_LINE = re.compile(r"v6: .*(config error at '.+': |invalid YAML)")

# -- values that stress a field's boundaries -------------------------------------------------

INT_EDGES = [
    -(2**63),
    -1,
    0,
    1,
    2,
    3,
    7,
    45,
    60,
    500,
    501,
    1000,
    1001,
    1100,
    9000,
    86_400,
    86_401,
    2**31 - 1,
    2**31,
    2**63 - 1,
    2**63,
    10**20,
]
FLOAT_EDGES = [
    -1e300,
    -5.0,
    -1.0,
    -0.999,
    -0.5,
    -0.05,
    0.0,
    1e-12,
    0.001,
    0.01,
    0.05,
    0.1,
    0.5,
    0.999,
    1.0,
    2.0,
    5.0,
    10.0,
    100.0,
    1e4,
    1e6,
    1e10,
    1e300,
    math.nan,
    math.inf,
    -math.inf,
]
WRONG_TYPES = [None, "abc", "1e3", [], [1], {}, {"a": 1}, True]
SYMBOLS = ["SPY", "QQQ", "IWM", "BRK.B", "spy", "S/P", "", "QQQQ", "TOOLONGSYMBOL", "X"]
NAMES = [
    *BREAKER_NAMES,
    *DEFAULT_EXIT_RULES,
    "take_profit",
    "daily_losses",
    "stop_los",
    "",
    "iron_condor",
]
STRATEGIES = ["iron_condor", "bull_put_spread", "bear_call_spread", "iron_fly", "iron_condr"]
SELECTORS = ["delta_target", "smart_strike", "delta_targt"]
REGIMES = ["volatility_regime", "vol_regime"]

integers = st.one_of(
    st.sampled_from(INT_EDGES), st.integers(-3, 120), st.sampled_from([*WRONG_TYPES, 1.5, 2.0])
)
floats = st.one_of(
    st.sampled_from(FLOAT_EDGES),
    st.floats(-3, 3, allow_nan=False, allow_infinity=False),
    st.sampled_from(WRONG_TYPES),
)
texts = st.sampled_from(
    [
        "",
        "SPY",
        "spy",
        "S/P",
        "BRK.B",
        "x" * 300,
        "live",
        "delayed",
        "calm",
        "nonsense",
        *WRONG_TYPES,
    ]
)
dates = st.one_of(
    st.dates(date(1995, 1, 1), date(2040, 12, 31)),
    st.sampled_from([date(2000, 1, 1), date(2035, 10, 22), date(2035, 12, 31), "2026-02-30"]),
)
name_lists = st.one_of(st.lists(st.sampled_from(NAMES), max_size=4), st.sampled_from(WRONG_TYPES))
symbol_lists = st.one_of(
    st.lists(st.sampled_from(SYMBOLS), min_size=0, max_size=4), st.sampled_from(WRONG_TYPES)
)
sim_underlying = st.fixed_dictionaries(
    {"spot": floats},
    optional={
        "vol": floats,
        "beta": floats,
        "strike_step": floats,
        "dividend_yield": floats,
        "skew_slope": floats,
    },
)


def plugin_blocks(names: list[str], settings: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    block = st.one_of(st.just({}), st.fixed_dictionaries({"settings": settings}))
    return st.one_of(
        st.dictionaries(st.sampled_from(names), block, max_size=3), st.sampled_from(WRONG_TYPES)
    )


dte_window = st.one_of(
    st.just({}),
    st.fixed_dictionaries({"min_dte": integers, "max_dte": integers}),
)

# Keys whose values need more than their type says. `mode` stays sim (paper and live need
# a gateway); `store.path` is the test's own directory; `sim.speed` avoids the valid slow
# speeds (0 < speed < 1,000), under which two cycles take real minutes by design.
SPECIAL: dict[tuple[str, ...], st.SearchStrategy[Any]] = {
    ("underlyings",): symbol_lists,
    ("ib", "host"): st.sampled_from(["127.0.0.1", "localhost", "::1", "10.0.0.1", ""]),
    ("risk", "beta_reference"): st.sampled_from(SYMBOLS),
    ("risk", "betas"): st.dictionaries(st.sampled_from(SYMBOLS), floats, max_size=3),
    ("risk", "dividend_yields"): st.dictionaries(st.sampled_from(SYMBOLS), floats, max_size=3),
    ("breakers", "close_positions"): name_lists,
    ("slots", "default", "stop_out_rules"): name_lists,
    ("slots", "strategies"): st.dictionaries(
        st.sampled_from(STRATEGIES),
        st.fixed_dictionaries(
            {}, optional={"max_concurrent": integers, "stop_out_rules": name_lists}
        ),
        max_size=2,
    ),
    ("plugins", "strategies"): plugin_blocks(STRATEGIES, dte_window),
    ("plugins", "strike_selector"): plugin_blocks(SELECTORS, st.just({})),
    ("plugins", "exit_rules"): plugin_blocks(NAMES, st.just({})),
    ("plugins", "regime"): plugin_blocks(REGIMES, st.just({})),
    ("sim", "speed"): st.sampled_from([0.0, 1e4, 1e6, 1e-7, -1.0, math.inf, "fast"]),
    ("sim", "force_regime"): st.sampled_from([None, "calm", "crash", "high_vol", "bogus", 3]),
    ("sim", "underlyings"): st.one_of(
        st.dictionaries(st.sampled_from(SYMBOLS), sim_underlying, max_size=4),
        st.sampled_from(WRONG_TYPES),
    ),
}
SKIPPED = {("mode",), ("store", "path")}


def _leaves(cls: type, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """Every settable key of the schema with its type: attrs sections are walked into."""
    hints = typing.get_type_hints(cls, vars(schema))
    found = []
    for field in attrs.fields(cls):
        path = (*prefix, field.name)
        kind = hints[field.name]
        if path in SKIPPED:
            continue
        if path not in SPECIAL and isinstance(kind, type) and attrs.has(kind):
            found.extend(_leaves(kind, path))
        else:
            found.append((path, kind))
    return found


LEAVES = _leaves(TradingConfig)


def _default(path: tuple[str, ...]) -> Any:
    value: Any = TradingConfig()
    for key in path:
        value = getattr(value, key)
    return value


def near_default(path: tuple[str, ...]) -> st.SearchStrategy[Any]:
    """Ordinary values: the default scaled by up to a factor of two either way."""
    default = _default(path)
    if isinstance(default, bool) or not isinstance(default, int | float):
        return st.just(schema_value(default))
    if isinstance(default, int):
        return st.integers(max(0, default // 2), default * 2 + 1)
    if default == 0:
        return st.floats(0.0, 0.1)
    low, high = sorted((default * 0.5, default * 2.0))
    return st.floats(low, high)


def schema_value(value: Any) -> Any:
    """A schema default as YAML writes it (attrs records as mappings)."""
    if attrs.has(type(value)):
        return {a.name: schema_value(getattr(value, a.name)) for a in attrs.fields(type(value))}
    if isinstance(value, dict):
        return {k: schema_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [schema_value(v) for v in value]
    return value


def boundary_values(path: tuple[str, ...], kind: Any) -> st.SearchStrategy[Any]:
    """Values at and beyond a key's boundaries, of its type and of others."""
    if path in SPECIAL:
        return SPECIAL[path]
    origin = typing.get_origin(kind)
    if kind is bool:
        return st.one_of(st.booleans(), st.sampled_from(WRONG_TYPES))
    if kind is int:
        return integers
    if kind is float:
        return floats
    if kind is date:
        return dates
    if origin is list:
        return st.one_of(st.lists(floats, max_size=5), st.sampled_from(WRONG_TYPES))
    if origin is dict:
        return st.dictionaries(st.sampled_from(SYMBOLS), floats, max_size=3)
    return texts  # str, str | None


def value_for(path: tuple[str, ...], kind: Any) -> st.SearchStrategy[Any]:
    """A quarter of the time a boundary value, else an ordinary one, so that configs with
    several keys set are accepted often enough for the run half of the property to be
    tested."""
    if path in SPECIAL:
        return SPECIAL[path]
    boundary, near = boundary_values(path, kind), near_default(path)
    return st.integers(0, 3).flatmap(lambda i: boundary if i == 0 else near)


@st.composite
def config_overlays(draw: st.DrawFn) -> dict[str, Any]:
    """A config file's content: one key at a boundary value and up to three more set as
    `value_for` draws them; every other key keeps its default."""
    chosen = draw(st.lists(st.sampled_from(LEAVES), min_size=1, max_size=4, unique=True))
    overlay: dict[str, Any] = {}
    for i, (path, kind) in enumerate(chosen):
        node = overlay
        for key in path[:-1]:
            node = node.setdefault(key, {})
        values = boundary_values(path, kind) if i == 0 else value_for(path, kind)
        node[path[-1]] = draw(values)
    return overlay


# -- running v6 in process -------------------------------------------------------------------


def v6_in_process(*args: str) -> tuple[int, str, str]:
    """``v6 ARGS`` through ``main``; the stop signals' handlers are put back after."""
    saved = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(list(args))
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)
    return status, out.getvalue(), err.getvalue()


def assert_refused_in_one_line(status: int, err: str, source: str) -> None:
    assert status == 2, err
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert ERROR_LINE.match(lines[0]) and source in lines[0], lines[0]


def assert_ran_cleanly(status: int, out: str, err: str) -> None:
    assert status == 0, err
    assert "Traceback" not in err, err
    assert re.search(r"session \w+: [12] cycles", out), out


@pytest.fixture(autouse=True)
def _no_v6_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_OVERRIDES:
        monkeypatch.delenv(name, raising=False)


@settings(
    max_examples=examples(quick=60, deep=600),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(overlay=config_overlays())
# The configs of issue 10 that check-config accepted and run then crashed on.
@example(overlay={"sim": {"seed": -1}})
@example(overlay={"sim": {"days": 1_000_000_000}})
@example(overlay={"cycle": {"interval_seconds": 2**63}})
@example(overlay={"sim": {"strikes_per_side": 10_000_000}})
@example(overlay={"underlyings": ["S/P"], "sim": {"underlyings": {"S/P": {"spot": 100.0}}}})
@example(overlay={"underlyings": [""], "sim": {"underlyings": {"": {"spot": 100.0}}}})
@example(overlay={"sim": {"start": date(2036, 1, 7)}})
@example(overlay={"sim": {"start": date(1999, 6, 1)}})
def test_every_config_either_runs_two_cycles_or_is_refused_in_one_line(overlay):
    with tempfile.TemporaryDirectory() as tmp:
        document = {**overlay, "store": {**overlay.get("store", {}), "path": f"{tmp}/store"}}
        path = Path(tmp) / "v6.yaml"
        path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        status, out, err = v6_in_process("check-config", "--config", str(path))
        if status != 0:
            assert_refused_in_one_line(status, err, str(path))
            event("refused")
            return
        event("accepted and run")
        assert out.strip() == f"config OK: {path}"
        assert_ran_cleanly(*v6_in_process("run", "--config", str(path), "--cycles", "2"))


# -- fuzzing the embedded defaults as real processes -----------------------------------------

DEFAULTS = yaml.safe_load((resources.files("v6") / "defaults" / "sim.yaml").read_text())


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, child in node.items():
            found.extend(_paths(child, (*prefix, key)))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            found.extend(_paths(child, (*prefix, i)))
    return found


PATHS = _paths(DEFAULTS)
EXTREMES = [*INT_EDGES, *FLOAT_EDGES, *WRONG_TYPES, "", "x" * 1000, [[[]]], {"z": {"z": {}}}]
SNIPPETS = ["\t", ": ", "- ", "{", "]", "&a ", "*a", "!!int x ", "\x00", "<<: *b", "'", "%"]


def _nested(depth: int) -> str:
    return "{a: " * depth + "1" + "}" * depth


@st.composite
def mutated_defaults(draw: st.DrawFn) -> str:
    """The embedded defaults with keys deleted, values swapped for extremes or other types,
    a section replaced by deep nesting, or the text itself cut or spliced."""
    tree = yaml.safe_load(yaml.safe_dump(DEFAULTS))
    nested_key = None
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        parent = tree
        try:
            for key in path[:-1]:
                parent = parent[key]
            op = draw(st.sampled_from(["delete", "set", "set", "nest"]))
            if op == "delete":
                del parent[path[-1]]
            elif op == "set":
                parent[path[-1]] = draw(st.sampled_from(EXTREMES))
            else:
                nested_key = (str(path[0]), draw(st.sampled_from([5, 33, 250, 3000])))
                tree.pop(path[0], None)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or replaced the way there
    text = yaml.safe_dump(tree, sort_keys=False, width=1000)
    if nested_key is not None:
        text += f"{nested_key[0]}: {_nested(nested_key[1])}\n"
    if draw(st.booleans()) and draw(st.booleans()):  # a quarter: damage the text itself
        at = draw(st.integers(0, len(text)))
        cut = draw(st.booleans())
        text = text[:at] if cut else text[:at] + draw(st.sampled_from(SNIPPETS)) + text[at:]
    return text


def v6_process(*args: str, cwd: str, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ENV_OVERRIDES}
    return subprocess.run(
        [sys.executable, "-m", "v6.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@settings(
    max_examples=examples(quick=20, deep=200),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(text=mutated_defaults())
def test_mutated_defaults_never_hang_or_crash_a_real_process(text):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "v6.yaml"
        path.write_text(text, encoding="utf-8")
        checked = v6_process("check-config", "--config", str(path), cwd=tmp, timeout=60)
        if checked.returncode != 0:
            assert_refused_in_one_line(checked.returncode, checked.stderr, str(path))
            event("refused")
            return
        event("accepted and run")
        assert checked.stdout.strip() == f"config OK: {path}", checked.stderr
        ran = v6_process("run", "--config", str(path), "--cycles", "2", cwd=tmp, timeout=180)
        assert_ran_cleanly(ran.returncode, ran.stdout, ran.stderr)
