"""The rules a whole config must satisfy, beyond what one field's validator can check.

Each field of :mod:`v6.config` checks its own range. The rules here span keys: names that
refer to other things (breakers, exit rules, strategies, symbols), lists (the stress
grid), limits that contradict each other, settings under which V6 could never trade or a
safety would be silently disarmed, the simulated market's calendar and its size. Every
problem is reported as ``(key path, what is wrong and how to fix it)``; the loader raises
the first as a :class:`~v6.errors.ConfigError` (exit status 2, one line).

Two entry points, both used by ``v6 check-config`` and ``v6 run`` alike, so a config
``check-config`` accepts is one ``run`` accepts:

* :func:`config_problems` needs the config alone (the loader calls it);
* :func:`selection_problems` needs the selected plugins' validated settings (a strategy's
  DTE window) and the installed ones (the names ``stop_out_rules`` may use).

What is an error: anything that would crash or hang ``run``; a name that matches nothing;
a range outside what is physically possible; limits of which one can never bind because
another, wider one is tighter; and a config under which V6 could never open a position or
a configured safety could never act. V6 warns about nothing: a config is either vouched
for or refused.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import attrs

from v6.config import BREAKER_NAMES, SYMBOL, Mode, TradingConfig
from v6.conversion import describe, join_path
from v6.errors import ConfigError

if TYPE_CHECKING:
    from v6.plugin_manager import ActivePlugins, Discovery

Problem = tuple[str, str]

MAX_UNDERLYINGS = 100
# Stress scenarios are every (spot move, vol shift) pair, each repriced for every leg of
# every position every cycle and before every entry.
MAX_STRESS_SCENARIOS = 1000
MAX_SPOT_MOVE = 10.0  # +1,000%
MIN_VOL_SHIFT, MAX_VOL_SHIFT = -0.5, 2.0  # volatility points as decimals
MAX_BETA = 10.0
MAX_DIVIDEND_YIELD = 0.5
MAX_BACKOFF_SECONDS = 3600.0
# The simulated exchange prices every listed option every cycle and the store buffers
# chain snapshots until a flush (about 130 bytes a row): bounds that keep a cycle under a
# second and the buffer under about 300 MB. The embedded defaults list about 6,500.
MAX_OPTIONS_PER_CYCLE = 100_000
MAX_BUFFERED_CHAIN_ROWS = 2_000_000
MIN_SPEED = 0.001
# The simulated clock lists every cycle time of the run up front (about 50 bytes each).
MAX_SIM_CYCLES = 2_000_000
SESSION_SECONDS = 6.5 * 3600
MAX_PATH_BYTES, MAX_NAME_BYTES = 4096, 255  # Linux's PATH_MAX and NAME_MAX
STRIKE_STEPS_PER_SPOT = 5  # a strike step of at most a fifth of spot


def _close(name: str, choices: Iterable[str]) -> str:
    found = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{found[0]}'?" if found else ""


def _unknown(name: str, what: str, choices: Sequence[str]) -> str:
    """``'x' is not a <what>; did you mean 'y'? (choices: ...)``."""
    listed = ", ".join(choices) or "none"
    return f"{describe(name)} is not {what}{_close(name, choices)} (choices: {listed})"


def _first(problems: Iterator[Problem]) -> Problem | None:
    return next(problems, None)


# -- numbers -------------------------------------------------------------------------------


def _first_non_finite(value: Any, path: str) -> Problem | None:
    # The shared converter lets NaN through (table rows use it); a config never means it.
    if isinstance(value, float) and not math.isfinite(value):
        return path, f"expected a finite number, got {value}"
    if attrs.has(type(value)):
        children: Any = ((a.name, getattr(value, a.name)) for a in attrs.fields(type(value)))
    elif isinstance(value, Mapping):
        children = value.items()
    elif isinstance(value, list | tuple):
        children = enumerate(value)
    else:
        return None
    for key, child in children:
        problem = _first_non_finite(child, join_path(path, key))
        if problem is not None:
            return problem
    return None


# -- symbols -------------------------------------------------------------------------------


def symbol_problem(symbol: str) -> str | None:
    """Why ``symbol`` is not an underlying's symbol (see ``v6.config.SYMBOL``), or None."""
    if SYMBOL.match(symbol):
        return None
    fixed = symbol.strip().upper()
    if fixed != symbol and SYMBOL.match(fixed):
        return f"{describe(symbol)} is not a symbol as IB writes it; did you mean '{fixed}'?"
    return (
        f"{describe(symbol)} is not a symbol: expected upper-case letters and digits starting with "
        "a letter, with an optional class after a dot (SPY, BRK.B), at most 15 characters"
    )


def _known_symbols(cfg: TradingConfig) -> list[str]:
    return sorted({*cfg.underlyings, *cfg.sim.underlyings, cfg.risk.beta_reference})


def _underlyings(cfg: TradingConfig) -> Iterator[Problem]:
    if not cfg.underlyings:
        yield "underlyings", "at least one underlying is required"
    if len(cfg.underlyings) > MAX_UNDERLYINGS:
        yield "underlyings", f"at most {MAX_UNDERLYINGS} underlyings, got {len(cfg.underlyings)}"
    seen: set[str] = set()
    for i, symbol in enumerate(cfg.underlyings):
        problem = symbol_problem(symbol)
        if problem is not None:
            yield f"underlyings[{i}]", problem
        if symbol in seen:
            yield f"underlyings[{i}]", f"{describe(symbol)} is listed twice"
        seen.add(symbol)
        if cfg.mode is Mode.SIM and symbol not in cfg.sim.underlyings:
            simulated = ", ".join(cfg.sim.underlyings) or "none"
            yield (
                f"underlyings[{i}]",
                f"{describe(symbol)} has no simulated market; add it under sim.underlyings "
                f"(simulated now: {simulated}) or remove it",
            )
    for symbol in cfg.sim.underlyings:
        problem = symbol_problem(symbol)
        if problem is not None:
            yield join_path("sim.underlyings", symbol), problem


# -- plugins -------------------------------------------------------------------------------


def _plugins(cfg: TradingConfig) -> Iterator[Problem]:
    if not cfg.plugins.strategies:
        yield (
            "plugins.strategies",
            "no strategy selected, so V6 could never open a position; select at least one "
            "(`v6 plugins` lists them)",
        )
    blocks = cfg.plugins.strike_selector
    if len(blocks) != 1:
        names = ", ".join(blocks) or "none"
        yield (
            "plugins.strike_selector",
            f"expected exactly one strike selector, got {len(blocks)} ({names})",
        )
    try:  # one regime detector or more, and which one drives exits
        cfg.plugins.driving_regime()
    except ConfigError as exc:
        yield exc.path, exc.expected
    for kind in ("strategies", "strike_selector", "regime"):
        for name, block in getattr(cfg.plugins, kind).items():
            if block.priority is not None:
                yield (
                    f"plugins.{kind}.{name}.priority",
                    "only exit rules have a priority; remove this key",
                )


def _slots(cfg: TradingConfig) -> Iterator[Problem]:
    selected = list(cfg.plugins.strategies)
    for name in cfg.slots.strategies:
        if name not in cfg.plugins.strategies:
            yield (
                join_path("slots.strategies", name),
                f"{_unknown(name, 'a selected strategy', selected)}; "
                "slots are overridden only for strategies under plugins.strategies",
            )


# -- connection and store ------------------------------------------------------------------


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _connection(cfg: TradingConfig) -> Iterator[Problem]:
    ib = cfg.ib
    if cfg.mode is Mode.LIVE and not ib.account.strip():
        yield (
            "ib.account",
            "live mode needs the IB account id the orders go to (or set V6_IB_ACCOUNT)",
        )
    if cfg.mode is Mode.SIM and not _is_loopback(ib.host):
        yield (
            "ib.host",
            f"{describe(ib.host)} is not this machine; sim mode never connects to a gateway, so "
            "a remote host here means the file was meant for paper or live - set mode, or "
            "keep 127.0.0.1",
        )
    if cfg.mode is not Mode.SIM and not ib.host.strip():
        yield "ib.host", "the TWS / IB Gateway host is required in paper and live mode"
    if len(ib.host) > 253:
        yield "ib.host", f"a host name has at most 253 characters, got {len(ib.host)}"
    if not ib.reconnect_backoff_seconds:
        yield "ib.reconnect_backoff_seconds", "at least one wait is required (the last repeats)"
    for i, wait in enumerate(ib.reconnect_backoff_seconds):
        if not 0 <= wait <= MAX_BACKOFF_SECONDS:
            yield (
                f"ib.reconnect_backoff_seconds[{i}]",
                f"must be >= 0 and <= {MAX_BACKOFF_SECONDS:g} (an hour), got {wait}",
            )
    if ib.target_dte > ib.max_dte:
        yield (
            "ib.target_dte",
            f"{ib.target_dte} is beyond ib.max_dte {ib.max_dte}: no expiry that far is "
            "subscribed; raise ib.max_dte or lower ib.target_dte",
        )


def validate_dashboard_host(host: str) -> str | None:
    """What is wrong with ``host`` as an address for the dashboard to listen on, or None."""
    if not host.strip() or any(c.isspace() or c in "/\\\0" for c in host):
        return f"{describe(host)} is not a host name or address to listen on"
    if len(host) > 253:
        return f"a host name has at most 253 characters, got {len(host)}"
    return None


def _dashboard(cfg: TradingConfig) -> Iterator[Problem]:
    problem = validate_dashboard_host(cfg.dashboard.host)
    if problem is not None:
        yield "dashboard.host", problem


def is_loopback(host: str) -> bool:
    """True for a host name or address that is this machine only (127.0.0.1, ::1,
    localhost): the dashboard binds there without asking for credentials."""
    return _is_loopback(host)


def _store(cfg: TradingConfig) -> Iterator[Problem]:
    path = cfg.store.path
    if not path.strip():
        yield "store.path", "a directory for the Delta tables is required"
    if "\0" in path:
        yield "store.path", "a path cannot contain a NUL character"
    encoded = path.encode("utf-8", "surrogateescape")
    if len(encoded) > MAX_PATH_BYTES:
        yield "store.path", f"a path has at most {MAX_PATH_BYTES} bytes, got {len(encoded)}"
    for part in encoded.split(b"/"):
        if len(part) > MAX_NAME_BYTES:
            yield (
                "store.path",
                f"a directory name has at most {MAX_NAME_BYTES} bytes, got one of {len(part)}",
            )
    rows = _options_per_cycle(cfg) * math.ceil(
        cfg.store.flush_every_cycles / cfg.store.chain_snapshot_every_cycles
    )
    if rows > MAX_BUFFERED_CHAIN_ROWS:
        yield (
            "store.flush_every_cycles",
            f"{cfg.store.flush_every_cycles} cycles of chain snapshots would hold about "
            f"{rows:,} rows in memory (at most {MAX_BUFFERED_CHAIN_ROWS:,}); flush more "
            "often, store chains less often (store.chain_snapshot_every_cycles) or quote "
            "fewer options",
        )


# -- limits, risk, breakers ----------------------------------------------------------------


def _limits(cfg: TradingConfig) -> Iterator[Problem]:
    limits = cfg.limits
    # Each of these limits sits inside the next: a trade is on one underlying, an
    # underlying is part of the portfolio. A narrower limit above a wider one never binds,
    # so the number a user set as a safety would be a number V6 ignores.
    nested = (
        ("max_loss_per_trade", "max_loss_per_underlying", "a trade is on one underlying"),
        ("max_loss_per_underlying", "max_total_max_loss", "an underlying is in the portfolio"),
        ("max_positions_per_underlying", "max_open_positions", "they count the same positions"),
    )
    for narrow, wide, why in nested:
        value, bound = getattr(limits, narrow), getattr(limits, wide)
        if value > bound:
            yield (
                f"limits.{narrow}",
                f"{value:g} is above limits.{wide} {bound:g}, so it could never bind ({why}); "
                f"lower it to at most {bound:g} or raise limits.{wide}",
            )
    if cfg.mode is Mode.SIM and limits.min_buying_power_reserve >= cfg.sim.initial_cash:
        yield (
            "limits.min_buying_power_reserve",
            f"{limits.min_buying_power_reserve:g} is not below sim.initial_cash "
            f"{cfg.sim.initial_cash:g}, so no entry could ever leave the reserve free; lower "
            "it or raise sim.initial_cash",
        )


def _symbol_keys(
    cfg: TradingConfig, section: str, mapping: Mapping[str, float]
) -> Iterator[Problem]:
    # An entry for a symbol this config does not trade is harmless (one file may serve
    # several configs, and the defaults list SPY, QQQ and IWM); one that is a typo of a
    # symbol it does know leaves that symbol at the default (beta 1, no dividend).
    known = _known_symbols(cfg)
    for symbol in mapping:
        path = join_path(f"risk.{section}", symbol)
        problem = symbol_problem(symbol)
        if problem is not None:
            yield path, problem
        elif symbol not in known and _close(symbol, known):
            yield (
                path,
                f"{describe(symbol)} is not an underlying this config knows{_close(symbol, known)} "
                "(known: underlyings, sim.underlyings and risk.beta_reference)",
            )


def _risk(cfg: TradingConfig) -> Iterator[Problem]:
    risk = cfg.risk
    problem = symbol_problem(risk.beta_reference)
    if problem is not None:
        yield "risk.beta_reference", problem
    elif risk.beta_reference not in cfg.underlyings and _close(
        risk.beta_reference, cfg.underlyings
    ):
        yield (
            "risk.beta_reference",
            f"{describe(risk.beta_reference)} is not traded"
            f"{_close(risk.beta_reference, cfg.underlyings)}"
            " (a reference that is not quoted weights deltas by beta alone)",
        )
    yield from _symbol_keys(cfg, "betas", risk.betas)
    for symbol, beta in risk.betas.items():
        if not -MAX_BETA <= beta <= MAX_BETA:
            yield (
                join_path("risk.betas", symbol),
                f"must be >= {-MAX_BETA:g} and <= {MAX_BETA:g}, got {beta}",
            )
    yield from _symbol_keys(cfg, "dividend_yields", risk.dividend_yields)
    for symbol, q in risk.dividend_yields.items():
        if not 0 <= q <= MAX_DIVIDEND_YIELD:
            yield (
                join_path("risk.dividend_yields", symbol),
                f"must be >= 0 and <= {MAX_DIVIDEND_YIELD:g} (50% a year), got {q}",
            )
    yield from _stress_grid(cfg)


def _stress_grid(cfg: TradingConfig) -> Iterator[Problem]:
    moves, shifts = cfg.risk.spot_moves, cfg.risk.vol_shifts
    for key, values in (("spot_moves", moves), ("vol_shifts", shifts)):
        if not values:
            yield (
                f"risk.{key}",
                "an empty list means no stress scenario, which disarms limits.max_stress_loss; "
                "list at least one",
            )
    for i, move in enumerate(moves):
        if not -1.0 < move <= MAX_SPOT_MOVE:
            yield (
                f"risk.spot_moves[{i}]",
                f"must be > -1 and <= {MAX_SPOT_MOVE:g}, got {move} (a share of spot: -1 "
                "would be a price of zero, below is impossible)",
            )
    for i, shift in enumerate(shifts):
        if not MIN_VOL_SHIFT <= shift <= MAX_VOL_SHIFT:
            yield (
                f"risk.vol_shifts[{i}]",
                f"must be >= {MIN_VOL_SHIFT:g} and <= {MAX_VOL_SHIFT:g}, got {shift} "
                "(volatility points as decimals: -0.5 takes 50 points off every option's "
                "volatility, more than it ever fell)",
            )
    if moves and (min(moves) >= 0 or max(moves) <= 0):
        yield (
            "risk.spot_moves",
            "needs a move down and a move up: a grid that moves spot one way only never "
            "stresses the positions that lose the other way",
        )
    if shifts and max(shifts) < 0:
        yield (
            "risk.vol_shifts",
            "needs a shift >= 0: a grid where volatility only falls never stresses "
            "short premium, which loses when volatility rises",
        )
    if len(moves) * len(shifts) > MAX_STRESS_SCENARIOS:
        yield (
            "risk.spot_moves",
            f"{len(moves)} spot moves x {len(shifts)} vol shifts = {len(moves) * len(shifts)} "
            f"scenarios; at most {MAX_STRESS_SCENARIOS} (each is repriced every cycle)",
        )


def _breakers(cfg: TradingConfig) -> Iterator[Problem]:
    breakers = cfg.breakers
    seen: set[str] = set()
    for i, name in enumerate(breakers.close_positions):
        path = f"breakers.close_positions[{i}]"
        if name not in BREAKER_NAMES:
            yield path, _unknown(name, "a circuit breaker", BREAKER_NAMES)
        if name in seen:
            yield path, f"{describe(name)} is listed twice"
        seen.add(name)
    if (
        breakers.enabled
        and breakers.close_positions
        and "circuit_breaker" not in cfg.plugins.exit_rules
    ):
        yield (
            "breakers.close_positions",
            "lists breakers that close every position, but the circuit_breaker exit rule that "
            "closes them is not selected; add it under plugins.exit_rules",
        )
    if (
        cfg.mode is Mode.SIM
        and breakers.enabled
        and breakers.max_daily_loss >= cfg.sim.initial_cash
    ):
        yield (
            "breakers.max_daily_loss",
            f"{breakers.max_daily_loss:g} is not below sim.initial_cash {cfg.sim.initial_cash:g}: "
            "the daily_loss breaker could never trip",
        )


# -- the simulated market ------------------------------------------------------------------


def _expiries_listed(max_dte: int) -> int:
    # At most: the daily expiries of the coming week, a Friday a week out to max_dte.
    return max_dte // 7 + 8


def _options_per_cycle(cfg: TradingConfig) -> int:
    """An upper bound on the options quoted (and stored) each cycle."""
    if cfg.mode is not Mode.SIM:
        return cfg.ib.max_option_lines
    per_expiry = 2 * (2 * cfg.sim.strikes_per_side + 1)  # calls and puts
    return len(cfg.underlyings) * _expiries_listed(cfg.sim.max_dte) * per_expiry


def _sim(cfg: TradingConfig) -> Iterator[Problem]:
    if cfg.mode is not Mode.SIM:
        return
    sim = cfg.sim
    yield from _calendar(cfg)
    for symbol in cfg.underlyings:
        market = sim.underlyings.get(symbol)
        if market is not None and market.strike_step * STRIKE_STEPS_PER_SPOT > market.spot:
            yield (
                join_path(join_path("sim.underlyings", symbol), "strike_step"),
                f"{market.strike_step:g} is more than a fifth of spot {market.spot:g}: "
                "too few strikes between zero and spot to build a spread",
            )
    patience = cfg.execution.order_timeout_cycles * cfg.cycle.interval_seconds
    if sim.broker.latency_seconds >= patience:
        yield (
            "sim.broker.latency_seconds",
            f"{sim.broker.latency_seconds:g} is not below execution.order_timeout_cycles "
            f"x cycle.interval_seconds = {patience} s: every order would be cancelled "
            "before it could fill",
        )
    bad = sim.bad_data
    per_quote = bad.crossed_quote + bad.wide_quote + bad.zero_iv + bad.nan_greeks
    if per_quote > 1.0:
        yield (
            "sim.bad_data",
            f"crossed_quote + wide_quote + zero_iv + nan_greeks add up to {per_quote:g}: "
            "each quote gets at most one of them, so together they must be at most 1",
        )
    if 0 < sim.speed < MIN_SPEED:
        yield (
            "sim.speed",
            f"must be 0 (as fast as possible) or >= {MIN_SPEED:g} (1,000 times slower than "
            f"real time), got {sim.speed}",
        )
    cycles = sim.days * (math.ceil(SESSION_SECONDS / cfg.cycle.interval_seconds) + 1)
    if cycles > MAX_SIM_CYCLES:
        yield (
            "sim.days",
            f"{sim.days} days of cycles every {cfg.cycle.interval_seconds} s are about "
            f"{cycles:,} cycles; at most {MAX_SIM_CYCLES:,} in one run: simulate fewer days "
            "or raise cycle.interval_seconds",
        )
    options = _options_per_cycle(cfg)
    if options > MAX_OPTIONS_PER_CYCLE:
        yield (
            "sim.strikes_per_side",
            f"{len(cfg.underlyings)} underlyings x {2 * sim.strikes_per_side + 1} strikes x "
            f"expiries to sim.max_dte {sim.max_dte} list up to {options:,} options a cycle; "
            f"at most {MAX_OPTIONS_PER_CYCLE:,} (each is priced every cycle): lower "
            "sim.strikes_per_side or sim.max_dte",
        )


def _calendar(cfg: TradingConfig) -> Iterator[Problem]:
    # Imported here: the calendar loads exchange_calendars, needed only in sim mode.
    from v6.market.calendar import ExchangeCalendar

    sim = cfg.sim
    calendar = ExchangeCalendar()
    # The last simulated session lists expiries up to sim.max_dte days later (plus the
    # week a weekly expiry may need): those days must be in the calendar too.
    last_day = calendar.end - timedelta(days=sim.max_dte + 7)
    span = (
        f"the {calendar.name} calendar V6 uses runs from {calendar.start} to {calendar.end}, "
        f"and the last simulated day lists expiries sim.max_dte ({sim.max_dte}) days later"
    )
    available = calendar.sessions_between(sim.start, last_day)
    if sim.start < calendar.start or not available:
        yield (
            "sim.start",
            f"{sim.start} is outside {calendar.start} to {last_day}: {span}",
        )
    elif sim.days > len(available):
        yield (
            "sim.days",
            f"{sim.days} trading days from {sim.start} run past {last_day}: {span}; at most "
            f"{len(available)} from this start",
        )


MAX_INDEX_RATIO = 10_000.0


def _futures(cfg: TradingConfig) -> Iterator[Problem]:
    """Each future names a valid symbol once; one whose ETF this config does not trade is
    not read (one file may serve configs trading fewer ETFs), unless the ETF is a typo
    of one it does trade. In sim every future that is read has an index ratio."""
    futures = cfg.futures
    if not futures.enabled:
        return
    seen: set[str] = set()
    for i, contract in enumerate(futures.contracts):
        path = f"futures.contracts[{i}]"
        problem = symbol_problem(contract.symbol)
        if problem is not None:
            yield f"{path}.symbol", problem
            continue
        if contract.symbol in seen:
            yield f"{path}.symbol", f"{contract.symbol} is listed twice"
        seen.add(contract.symbol)
        if contract.etf not in cfg.underlyings:
            if _close(contract.etf, cfg.underlyings):
                yield (
                    f"{path}.etf",
                    f"{describe(contract.etf)} is not in underlyings"
                    f"{_close(contract.etf, cfg.underlyings)} (a future leads an ETF V6 "
                    f"quotes; underlyings: {', '.join(cfg.underlyings)})",
                )
            continue
        if cfg.mode is Mode.SIM and contract.symbol not in cfg.sim.futures.index_ratios:
            yield (
                "sim.futures.index_ratios",
                f"no ratio for {contract.symbol}: the simulated {contract.symbol} is priced at "
                f"{contract.etf} times it (ES: 10.0, NQ: 41.0, RTY: 10.0)",
            )
    for symbol, ratio in cfg.sim.futures.index_ratios.items():
        key = join_path("sim.futures.index_ratios", symbol)
        if not isinstance(ratio, int | float) or isinstance(ratio, bool):
            yield key, f"must be a number, got {describe(ratio)}"
        elif not 0 < ratio <= MAX_INDEX_RATIO:
            yield (
                key,
                f"must be > 0 and <= {MAX_INDEX_RATIO:g} (index points per ETF share), got {ratio}",
            )


# -- public --------------------------------------------------------------------------------


def _all(cfg: TradingConfig) -> Iterator[Problem]:
    non_finite = _first_non_finite(cfg, "")
    if non_finite is not None:
        yield non_finite
    yield from _underlyings(cfg)
    yield from _plugins(cfg)
    yield from _slots(cfg)
    yield from _connection(cfg)
    yield from _limits(cfg)
    yield from _risk(cfg)
    yield from _breakers(cfg)
    yield from _sim(cfg)
    yield from _futures(cfg)
    yield from _store(cfg)
    yield from _dashboard(cfg)


def config_problems(cfg: TradingConfig) -> Problem | None:
    """The first rule ``cfg`` breaks, as ``(key path, message)``, or None."""
    return _first(_all(cfg))


def _selected(
    cfg: TradingConfig, plugins: ActivePlugins, installed: Discovery
) -> Iterator[Problem]:
    from v6.domain.plugins import PluginKind

    rules = sorted(p.name for p in installed.of_kind(PluginKind.EXIT_RULE))
    slots = [("slots.default", cfg.slots.default)] + [
        (join_path("slots.strategies", name), s) for name, s in cfg.slots.strategies.items()
    ]
    for path, settings in slots:
        for i, name in enumerate(settings.stop_out_rules):
            if name not in rules and name not in cfg.plugins.exit_rules:
                yield (
                    f"{path}.stop_out_rules[{i}]",
                    f"{_unknown(name, 'an installed exit rule', rules)}; a stop-out by a rule "
                    "not listed here starts no cool-down",
                )
    # Strategies choose an expiry inside a DTE window (`min_dte` in their settings, by the
    # convention every built-in and the example plugin follow). An expiry beyond what the
    # market lists never comes, so a strategy whose window starts there never trades.
    listed, where = (
        (cfg.sim.max_dte, "sim.max_dte") if cfg.mode is Mode.SIM else (cfg.ib.max_dte, "ib.max_dte")
    )
    for active in plugins.strategies:
        min_dte = getattr(active.settings, "min_dte", None)
        if isinstance(min_dte, int) and min_dte > listed:
            name = active.plugin.name
            yield (
                f"plugins.strategies.{name}.settings.min_dte",
                f"{min_dte} is beyond {where} {listed}: no expiry that far is listed, so "
                f"{name} could never trade; lower min_dte or raise {where}",
            )


def selection_problems(
    cfg: TradingConfig, plugins: ActivePlugins, installed: Discovery
) -> Problem | None:
    """The first rule that needs the plugins broken: ``stop_out_rules`` naming no
    installed exit rule, a strategy whose DTE window the market never lists."""
    return _first(_selected(cfg, plugins, installed))
