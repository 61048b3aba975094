"""TradingConfig: one YAML file, structured into attrs classes with cattrs.

The classes below are the whole schema. Defaults are the embedded defaults a bare
``v6 run`` uses. Plugin blocks keep their ``settings`` as a raw mapping here; the plugin
manager structures each into the plugin's own attrs settings class, so a plugin
validates its own settings (errors still name the full key path).

Every number has a physical range, checked beside its field: a count of cycles, a
number of seconds or of dollars is positive and below a bound past which V6 could not
run (an overflow, memory) or the setting would mean nothing (a breaker that can never
trip). Rules that span keys, lists and the names one key uses for another live in
:mod:`v6.config_rules`.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable
from datetime import date
from enum import StrEnum
from typing import Any

from attrs import Attribute, Factory, field, fields, frozen, validators

from v6.errors import ConfigError

gt0 = validators.gt(0)
ge0 = validators.ge(0)

# Upper bounds shared by several fields, each with the reason a user reads.
MAX_DOLLARS = 1e10
DOLLARS = "ten billion dollars is beyond any account"
MAX_DTE = 1100
DTE = "LEAPS are listed up to about three years out"
MAX_COUNT = 10_000
COUNT = "a count this high could never be reached"
MAX_RATE = 1.0
RATE = "an annual rate from -10% to 100%"
MAX_STRIKES_PER_SIDE = 500
STRIKES = "no exchange lists more; each strike is priced every cycle"
CHANCE = "a chance from 0 (never) to 1 (every time)"

SYMBOL = re.compile(r"[A-Z][A-Z0-9]{0,9}(\.[A-Z0-9]{1,4})?\Z")
"""An underlying's symbol as IB writes it: upper-case letters and digits, starting with a
letter, with one optional class suffix after a dot (``BRK.B``), at most 15 characters."""


def _number(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else repr(bound)


def bounded(
    *,
    gt: float | None = None,
    ge: float | None = None,
    le: float | None = None,
    why: str = "",
) -> Callable[[Any, Attribute[Any], Any], None]:
    """An attrs validator for a number inside a range, the reason for the range in its message.

    Reads like attrs' own (``'port' must be > 0 and <= 65535 (...), got 70000``), so the
    converter moves it to the field's key path. Non-finite numbers pass: the config
    loader refuses them everywhere with its own message.
    """
    parts = [f"{op} {_number(b)}" for op, b in ((">", gt), (">=", ge), ("<=", le)) if b is not None]
    text = " and ".join(parts) + (f" ({why})" if why else "")

    def check(_instance: Any, attribute: Attribute[Any], value: Any) -> None:
        if isinstance(value, float) and not math.isfinite(value):
            return
        inside = (
            (gt is None or value > gt)
            and (ge is None or value >= ge)
            and (le is None or value <= le)
        )
        if not inside:
            raise ValueError(f"'{attribute.name}' must be {text}, got {value}")

    return check


def seconds(most: float, why: str) -> Callable[[Any, Attribute[Any], Any], None]:
    """A positive number of seconds, at most ``most``."""
    return bounded(gt=0, le=most, why=why)


def count(most: int = MAX_COUNT, why: str = COUNT) -> Callable[[Any, Attribute[Any], Any], None]:
    """A positive integer, at most ``most``."""
    return bounded(gt=0, le=most, why=why)


_GREEKS = bounded(gt=0, le=1e9, why="a billion shares or dollars is beyond any account")


def dollars(why: str = DOLLARS) -> Callable[[Any, Attribute[Any], Any], None]:
    """A positive amount of money, below ``MAX_DOLLARS``."""
    return bounded(gt=0, le=MAX_DOLLARS, why=why)


class Mode(StrEnum):
    SIM = "sim"
    PAPER = "paper"
    LIVE = "live"


@frozen(slots=True)
class IBSettings:
    """Connection to TWS / IB Gateway (paper and live only)."""

    host: str = "127.0.0.1"
    port: int = field(default=7497, validator=[gt0, validators.le(65535)])
    client_id: int = field(
        default=1, validator=[ge0, bounded(le=2**31 - 1, why="IB client ids are 32-bit")]
    )
    account: str = ""
    timeout_seconds: float = field(default=10.0, validator=seconds(600, "ten minutes"))
    market_data_type: str = field(
        default="live", validator=validators.in_(["live", "frozen", "delayed", "delayed_frozen"])
    )
    # Reconnect after a drop, waiting these many seconds between attempts (the last
    # repeats): a gateway restarting at night needs minutes, a blip seconds.
    reconnect_backoff_seconds: list[float] = Factory(lambda: [1.0, 2.0, 5.0, 10.0, 30.0])
    # Option quotes streamed at once. IB allows about 100 market-data lines on a basic
    # account; the strikes nearest the money and every held leg are subscribed first.
    max_option_lines: int = field(
        default=90, validator=count(10_000, "IB sells at most a few thousand lines")
    )
    # Which options fill those lines: per underlying the ``expiries`` nearest
    # ``target_dte`` (up to ``max_dte``), strikes within ``strike_range`` of spot spread
    # evenly, at most ``strikes_per_side`` each side.
    expiries: int = field(default=1, validator=count(52, "a year of weeklies"))
    target_dte: int = field(default=30, validator=bounded(ge=0, le=MAX_DTE, why=DTE))
    strike_range: float = field(default=0.15, validator=[gt0, validators.le(0.5)])
    strikes_per_side: int = field(default=10, validator=count(MAX_STRIKES_PER_SIDE, STRIKES))
    max_dte: int = field(default=60, validator=count(MAX_DTE, DTE))
    # Reconcile every position with the broker every N cycles (positions V6 is acting on
    # are followed through their fills every cycle in between).
    reconcile_every_cycles: int = field(default=4, validator=count(1000))
    # How long place/modify/cancel wait for the gateway's acknowledgement.
    order_ack_seconds: float = field(default=2.0, validator=seconds(600, "ten minutes"))
    # IB reports an execution's commission separately; a fill is booked without it after
    # order_ack_seconds and corrected when it comes. Alert when it has not come in this.
    commission_alert_seconds: float = field(default=120.0, validator=seconds(86_400, "a day"))
    # Messages per second to TWS. IB disconnects a client that sends more than 50; 0
    # turns ib_async's throttle off (only for a local test gateway).
    max_requests_per_second: int = field(default=45, validator=[ge0, validators.le(50)])


@frozen(slots=True)
class StoreSettings:
    """Delta Lake tables. In sim, rows are buffered and flushed every N cycles; paper and
    live write every cycle's rows at its end, whatever ``flush_every_cycles`` says.

    Every ``compact_every_flushes`` flushes a background thread maintains every table:
    compacts small files, checkpoints the log and deletes what no version needs any more
    (replaced data files, stray files of killed writes, old log entries) once it is older
    than ``retention_hours``, the time a reader that opened an older version has to
    finish. Whole hours, as Delta's vacuum takes them.
    """

    path: str = "data"
    # Rows wait in memory until flushed, and a crash loses those not yet written.
    flush_every_cycles: int = field(
        default=20, validator=count(1000, "rows of more cycles would wait in memory")
    )
    compact_every_flushes: int = field(
        default=10, validator=count(1000, "tables would pile up small files in between")
    )
    chain_snapshot_every_cycles: int = field(default=1, validator=count(1_000_000))
    retention_hours: int = field(default=1, validator=bounded(ge=1, le=8760, why="a year"))


@frozen(slots=True)
class DashboardSettings:
    """``v6 dashboard``: where it listens, how often it refreshes, and when the engine
    counts as unhealthy (the Health page and ``GET /health``, see ``v6.health``).

    Any ``host`` other than this machine (127.0.0.1, ::1, localhost) needs credentials
    from the environment (``V6_DASHBOARD_USER``, ``V6_DASHBOARD_PASSWORD``), never from this
    file. A heartbeat older than ``stale_heartbeat_cycles`` cycle intervals plus
    ``heartbeat_grace_seconds`` means the engine has stalled or stopped.
    """

    host: str = "127.0.0.1"  # checked in v6.config_rules (non-empty, a host name)
    port: int = field(default=8050, validator=bounded(ge=1, le=65_535, why="a TCP port"))
    refresh_seconds: float = field(
        default=5.0, validator=bounded(ge=1.0, le=3600, why="a second to an hour")
    )
    stale_heartbeat_cycles: float = field(
        default=2.0, validator=bounded(ge=1.0, le=1000, why="cycles a heartbeat may miss")
    )
    heartbeat_grace_seconds: float = field(
        default=60.0, validator=bounded(ge=0.0, le=86_400, why="a day")
    )


@frozen(slots=True)
class CycleSettings:
    """How often the engine cycles and how old a quote may be."""

    interval_seconds: int = field(default=900, validator=count(86_400, "a day"))
    # At least a second: a quote reaches V6 some milliseconds old, so a smaller bound
    # would reject every quote and never trade.
    max_quote_age_seconds: float = field(
        default=120.0, validator=bounded(ge=1.0, le=86_400, why="a second to a day")
    )


@frozen(slots=True)
class LimitSettings:
    """Hard trading limits checked before every entry."""

    max_open_positions: int = field(default=12, validator=count())
    max_positions_per_underlying: int = field(default=4, validator=count())
    max_entries_per_cycle: int = field(default=3, validator=count(1000))
    max_loss_per_trade: float = field(default=1500.0, validator=dollars())
    max_total_max_loss: float = field(default=20000.0, validator=dollars())
    min_buying_power_reserve: float = field(
        default=10000.0, validator=bounded(ge=0, le=MAX_DOLLARS, why=DOLLARS)
    )
    # Portfolio limits, checked against the portfolio as it would be after the trade.
    max_loss_per_underlying: float = field(default=8000.0, validator=dollars())
    # No underlying may hold more than this share of ``max_total_max_loss``.
    max_underlying_share: float = field(default=0.5, validator=[gt0, validators.le(1)])
    max_abs_beta_delta: float = field(default=150.0, validator=_GREEKS)  # SPY share equivalents
    max_abs_gamma: float = field(default=60.0, validator=_GREEKS)  # shares per 1.00 move, summed
    max_abs_vega: float = field(default=1500.0, validator=_GREEKS)  # dollars per vol point
    max_stress_loss: float = field(default=15000.0, validator=dollars())  # worst scenario


@frozen(slots=True)
class ExecutionSettings:
    """How a combo order is worked: start at mid, step toward natural, then give up."""

    # US equity options trade in pennies, nickels or dimes: IB rejects any other price.
    tick_size: float = field(default=0.01, validator=validators.in_([0.01, 0.05, 0.10]))
    price_step: float = field(
        default=0.01, validator=bounded(gt=0, le=10.0, why="ten dollars a step")
    )
    max_price_steps: int = field(default=3, validator=bounded(ge=0, le=100, why=COUNT))
    order_timeout_cycles: int = field(default=2, validator=count(1000))


def _default_spot_moves() -> list[float]:
    return [-0.20, -0.15, -0.10, -0.05, -0.02, 0.0, 0.02, 0.05, 0.10]


@frozen(slots=True)
class RiskSettings:
    """How portfolio risk is measured.

    Deltas are beta-weighted to ``beta_reference`` with ``betas`` (an underlying not
    listed has beta 1). Stress scenarios are every combination of ``spot_moves`` (share of
    spot) and ``vol_shifts`` (volatility points as decimals, 0.10 = +10 points), repriced
    by full Black-Scholes revaluation of every leg.
    """

    beta_reference: str = "SPY"
    betas: dict[str, float] = Factory(lambda: {"SPY": 1.0, "QQQ": 1.2, "IWM": 1.1})
    spot_moves: list[float] = Factory(_default_spot_moves)
    vol_shifts: list[float] = Factory(lambda: [-0.05, 0.0, 0.10, 0.20])
    risk_free_rate: float = field(default=0.04, validator=bounded(ge=-0.1, le=MAX_RATE, why=RATE))
    dividend_yields: dict[str, float] = Factory(dict)  # default 0 for unlisted underlyings


@frozen(slots=True)
class BreakerSettings:
    """Circuit breakers. A tripped breaker stops new entries; with ``close_positions`` it
    also closes every position (through the ``circuit_breaker`` exit rule).

    Each resets only by its own rule or by ``v6 breaker reset NAME``:

    * ``daily_loss``: net liquidation down ``max_daily_loss`` dollars from the day's start;
      resets at the next trading day.
    * ``consecutive_losses``: ``max_consecutive_losses`` positions closed at a loss in a
      row; resets only by hand (a human should look).
    * ``order_rejections``: ``max_order_rejections`` rejected orders within
      ``rejection_window_minutes``; resets once the window holds fewer.
    * ``stale_data``: ``stale_data_cycles`` cycles in a row with an underlying unusable
      (bad underlying quote or more than ``max_rejected_quote_share`` of its chain
      rejected); resets after ``recover_cycles`` good cycles.
    * ``broker_disconnect``: the broker connection is down; resets after
      ``recover_cycles`` connected cycles.
    * ``manual_halt``: a person pressed "halt entries" on the dashboard (a row in the
      ``manual_commands`` table); resets only by hand (the dashboard's "resume entries"
      or ``v6 breaker reset manual_halt``).
    * ``disk_space``: less than ``min_free_disk_mb`` megabytes free on the store's disk,
      so entries stop well before a write can fail (exits still run: closing a position
      writes a few rows); resets after ``recover_cycles`` cycles with enough room again.
    """

    enabled: bool = True
    # A breaker whose threshold can never be reached is disarmed without saying so;
    # `enabled: false` is the way to disarm them on purpose.
    max_daily_loss: float = field(default=3000.0, validator=dollars())
    max_consecutive_losses: int = field(default=4, validator=count(1000))
    max_order_rejections: int = field(default=5, validator=count(1000))
    rejection_window_minutes: float = field(
        default=60.0, validator=bounded(gt=0, le=10_080, why="a week")
    )
    stale_data_cycles: int = field(default=3, validator=count(1000))
    max_rejected_quote_share: float = field(default=0.5, validator=[gt0, validators.le(1)])
    recover_cycles: int = field(default=2, validator=count(1000))
    # A year of 15-minute cycles stores a few hundred MB; 256 MB is hours of headroom and
    # far above the megabyte a flush needs (v6.store.disk). 0 disarms the breaker.
    min_free_disk_mb: float = field(
        default=256.0, validator=bounded(ge=0, le=10_000_000, why="10 TB of free disk")
    )
    close_positions: list[str] = Factory(list)  # breaker names that also close everything


BREAKER_NAMES = (
    "daily_loss",
    "consecutive_losses",
    "order_rejections",
    "stale_data",
    "broker_disconnect",
    "manual_halt",
    "disk_space",
)


@frozen(slots=True)
class SlotSettings:
    """How many positions a strategy may hold on one underlying, and how fast it adds.

    ``cooldown_minutes_after_stop``: after a position is closed by one of
    ``stop_out_rules``, the strategy opens nothing more on that underlying for this long.
    """

    max_concurrent: int = field(default=2, validator=count())
    entries_per_cycle: int = field(default=1, validator=count(1000))
    cooldown_minutes_after_stop: float = field(
        default=240.0, validator=bounded(ge=0, le=525_600, why="a year")
    )
    stop_out_rules: list[str] = Factory(lambda: ["stop_loss", "trailing_stop", "catastrophe"])


@frozen(slots=True)
class SlotsConfig:
    """Strategy slots: ``default`` for every strategy, ``strategies`` to override one."""

    default: SlotSettings = Factory(SlotSettings)
    strategies: dict[str, SlotSettings] = Factory(dict)

    def for_strategy(self, name: str) -> SlotSettings:
        return self.strategies.get(name, self.default)


@frozen(slots=True)
class PluginBlock:
    """One selected plugin: its settings and, for exit rules, an optional priority
    (any integer, lower is more urgent: the built-ins use 10 to 120)."""

    settings: dict[str, Any] = Factory(dict)
    priority: int | None = None


def _default_strategies() -> dict[str, PluginBlock]:
    return {
        "iron_condor": PluginBlock(),
        "bull_put_spread": PluginBlock(),
        "bear_call_spread": PluginBlock(),
    }


DEFAULT_EXIT_RULES = (  # the twelve rules, most urgent first (priorities 10 to 120)
    "catastrophe",
    "circuit_breaker",
    "data_integrity",
    "days_to_expiry",
    "stop_loss",
    "trailing_stop",
    "portfolio_limits",
    "dynamic_take_profit",
    "delta_breach",
    "regime_change",
    "time_exit",
    "hold",
)


def _default_exit_rules() -> dict[str, PluginBlock]:
    return {name: PluginBlock() for name in DEFAULT_EXIT_RULES}


@frozen(slots=True)
class PluginsConfig:
    """Which plugins run, by entry-point name, each with its own settings.

    ``regime`` may select several detectors; every one reads every underlying each cycle
    and its readings are stored and shown to strategies and exit rules. ``regime_driver``
    names the one whose readings drive exits, take-profit targets and a position's entry
    regime; it may be left out when one detector is selected.
    """

    strategies: dict[str, PluginBlock] = Factory(_default_strategies)
    strike_selector: dict[str, PluginBlock] = Factory(lambda: {"delta_target": PluginBlock()})
    exit_rules: dict[str, PluginBlock] = Factory(_default_exit_rules)
    regime: dict[str, PluginBlock] = Factory(lambda: {"volatility_regime": PluginBlock()})
    regime_driver: str | None = None

    def driving_regime(self) -> str:
        """The name of the detector whose readings drive exits: ``regime_driver``, or the
        only detector selected. Raises ConfigError when it cannot say which."""
        selected = list(self.regime)
        listed = ", ".join(selected) or "none"
        if self.regime_driver is None:
            if len(selected) == 1:
                return selected[0]
            if not selected:
                raise ConfigError("plugins.regime", "select at least one regime detector")
            raise ConfigError(
                "plugins.regime_driver",
                f"{len(selected)} regime detectors are selected ({listed}); name the one "
                "whose readings drive exits and take-profit targets",
            )
        if self.regime_driver not in self.regime:
            close = difflib.get_close_matches(self.regime_driver, selected, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(
                "plugins.regime_driver",
                f"'{self.regime_driver}' is not a selected regime detector{hint} "
                f"(selected under plugins.regime: {listed})",
            )
        return self.regime_driver


@frozen(slots=True)
class SimUnderlyingSettings:
    """Starting point of one simulated underlying."""

    spot: float = field(validator=bounded(gt=0, le=1e6, why="a million dollars a share"))
    # Realised annualised volatility in a calm market, 1% to 500% a year; its implied
    # volatility trades above it by the variance risk premium (docs/SIM-MARKET.md).
    vol: float = field(default=0.18, validator=bounded(ge=0.01, le=5.0, why="1% to 500% a year"))
    # Sensitivity to the common market factor (inverse and leveraged ETFs reach -3 and 3).
    beta: float = field(default=1.0, validator=bounded(ge=-5.0, le=5.0, why="ETFs reach -3 to 3"))
    # At least a cent; at most a fifth of spot (checked across keys), so strikes surround it.
    strike_step: float = field(
        default=1.0, validator=bounded(ge=0.01, le=1e5, why="strikes are listed in cents")
    )
    dividend_yield: float = field(default=0.013, validator=bounded(ge=0, le=0.5, why="50% a year"))
    # Slope of the IV smile in standardised moneyness: puts richer than calls when > 0;
    # 0 is a symmetric smile. 0.15 gives a 30-day 25-delta put/call IV ratio near 1.2.
    skew_slope: float = field(
        default=0.15, validator=bounded(ge=0, le=2.0, why="index smiles sit near 0.15 (ratio 1.2)")
    )


def _default_sim_underlyings() -> dict[str, SimUnderlyingSettings]:
    return {
        "SPY": SimUnderlyingSettings(spot=590.0, vol=0.10, beta=1.0, strike_step=1.0),
        "QQQ": SimUnderlyingSettings(spot=510.0, vol=0.16, beta=1.2, strike_step=1.0),
        "IWM": SimUnderlyingSettings(spot=225.0, vol=0.18, beta=1.1, strike_step=1.0),
    }


@frozen(slots=True)
class SimBrokerSettings:
    """Simulated broker behaviour, including faults tests can inject."""

    commission_per_contract: float = field(
        default=0.65, validator=bounded(ge=0, le=100.0, why="brokers charge about $1")
    )
    latency_seconds: float = field(default=0.0, validator=bounded(ge=0, le=3600, why="an hour"))
    # A combo limit fills when it is at least this share of the half-spread beyond mid.
    # At most 1 (the natural price): the executor never bids past natural, so a larger
    # threshold would never fill.
    fill_threshold_half_spreads: float = field(
        default=0.0, validator=bounded(ge=0, le=1.0, why="1 is the natural price")
    )
    partial_fill_probability: float = field(default=0.0, validator=[ge0, validators.le(1)])
    # A combo that executes on some legs only and is then cancelled (legged), for the
    # unwind path: which legs fill is drawn at random, at least one and not all.
    legged_fill_probability: float = field(default=0.0, validator=[ge0, validators.le(1)])
    reject_probability: float = field(default=0.0, validator=[ge0, validators.le(1)])
    # How a resting combo limit fills (docs/SIM-MARKET.md). ``liquidity``: each market
    # snapshot (cycle) it fills with a probability that rises from
    # ``fill_probability_at_mid`` at mid to 1 at the natural price, scaled down by the
    # market's illiquidity (VIX above ``liquidity_reference_vix``), drawn from the seed,
    # the order and the time. ``immediate_mid``: every limit at or above mid (plus the
    # threshold) fills at once, for tests of something else.
    fill_model: str = field(
        default="liquidity", validator=validators.in_(("liquidity", "immediate_mid"))
    )
    fill_probability_at_mid: float = field(default=0.3, validator=[ge0, validators.le(1)])
    liquidity_reference_vix: float = field(
        default=20.0, validator=bounded(ge=5.0, le=100.0, why="VIX has lived between 9 and 90")
    )
    liquidity_vix_elasticity: float = field(
        default=1.0, validator=bounded(ge=0, le=10.0, why="beyond 10 no fill in any stress")
    )


@frozen(slots=True)
class SimFuturesSettings:
    """How the simulated index futures move against their ETFs (docs/FUTURES.md).

    The hidden index path drives the futures at once and the ETFs ``lead_cycles`` cycles
    later, so a lead-lag analysis has something real to find; 0 means no lead. A future
    is priced at cost of carry, ``index * (1 + (r - q) * T)``, the index being the ETF's
    leading spot times the contract's ratio in ``index_ratios`` (ES is about 10 x SPY),
    plus a mean-reverting basis noise of ``basis_noise_bps`` basis points.
    """

    lead_cycles: int = field(
        default=2, validator=bounded(ge=0, le=100, why="a lead of more than 100 cycles is days")
    )
    basis_noise_bps: float = field(
        default=2.0, validator=bounded(ge=0, le=100.0, why="index futures basis noise is bps")
    )
    basis_half_life_minutes: float = field(
        default=60.0, validator=bounded(gt=0, le=10_080, why="a week at most")
    )
    # Index level per ETF share, by future: S&P 500 / SPY ~ 10, Nasdaq-100 / QQQ ~ 41,
    # Russell 2000 / IWM ~ 10. Every future of ``futures.contracts`` needs one in sim.
    index_ratios: dict[str, float] = Factory(lambda: {"ES": 10.0, "NQ": 41.0, "RTY": 10.0})


@frozen(slots=True)
class SimBadDataSettings:
    """How often the simulated data feed delivers a broken quote (docs/SIM-MARKET.md).

    The simulated exchange stays clean; its feed, like a real vendor's, now and then is
    not: these are the rates of each kind of fault, drawn from the seed and the snapshot
    time. 0 turns a kind off; ``SimBadDataSettings.off()`` turns them all off, for tests
    that pin behaviour on clean data. Per-underlying rates are chances per underlying and
    cycle; per-quote rates are chances per option quote and cycle.
    """

    # The underlying's quote is the previous cycle's (its feed froze): the gate rejects
    # the whole chain as bad_underlying for that cycle.
    stale_underlying: float = field(default=0.01, validator=bounded(ge=0, le=1, why=CHANCE))
    # One live strike (call and put of one expiry) is missing from the chain.
    missing_strike: float = field(default=0.02, validator=bounded(ge=0, le=1, why=CHANCE))
    # The bid sits above the ask (a stale side after a move): rejected as crossed.
    crossed_quote: float = field(default=0.00005, validator=bounded(ge=0, le=1, why=CHANCE))
    # Both sides pulled out around an unchanged mid (a market maker widening): a real,
    # if poor, market; the gate keeps it and strike selection refuses it for a short leg.
    wide_quote: float = field(default=0.0001, validator=bounded(ge=0, le=1, why=CHANCE))
    # An implied volatility of zero on a sound quote: the gate re-derives IV and Greeks.
    zero_iv: float = field(default=0.00005, validator=bounded(ge=0, le=1, why=CHANCE))
    # NaN IV and Greeks, as IB sends for an option its model could not price: rejected.
    nan_greeks: float = field(default=0.00005, validator=bounded(ge=0, le=1, why=CHANCE))

    @classmethod
    def off(cls) -> SimBadDataSettings:
        """A clean feed: every rate 0."""
        return cls(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)

    @property
    def enabled(self) -> bool:
        """True when any kind of fault can happen."""
        return any(getattr(self, f.name) > 0 for f in fields(type(self)))


@frozen(slots=True)
class SimSettings:
    """The simulated market and broker used by ``sim`` mode."""

    # NumPy seeds are non-negative; the runs table stores the seed as a 64-bit integer.
    seed: int = field(default=7, validator=bounded(ge=0, le=2**63 - 1, why="a 64-bit seed"))
    # The first trading day on or after it; it and ``days`` must lie in the exchange
    # calendar (checked across keys, in v6.config_rules).
    start: date = date(2026, 1, 5)
    days: int = field(default=5, validator=gt0)
    # 0 = as fast as possible; 1 = real time; else 0.001 (1,000 times slower) and up.
    speed: float = field(default=0.0, validator=bounded(ge=0, le=1e6, why="a million times"))
    initial_cash: float = field(default=100_000.0, validator=dollars())
    risk_free_rate: float = field(default=0.04, validator=bounded(ge=-0.1, le=MAX_RATE, why=RATE))
    # Close every open position at the natural price after the last cycle, so a run's P&L
    # is fully realised (useful for comparing runs); off by default, like a real account.
    flatten_at_end: bool = False
    max_dte: int = field(default=60, validator=count(MAX_DTE, DTE))
    strikes_per_side: int = field(default=40, validator=count(MAX_STRIKES_PER_SIDE, STRIKES))
    force_regime: str | None = field(
        default=None,
        validator=validators.optional(validators.in_(["calm", "trending", "high_vol", "crash"])),
    )
    underlyings: dict[str, SimUnderlyingSettings] = Factory(_default_sim_underlyings)
    broker: SimBrokerSettings = Factory(SimBrokerSettings)
    futures: SimFuturesSettings = Factory(SimFuturesSettings)
    bad_data: SimBadDataSettings = Factory(SimBadDataSettings)


@frozen(slots=True)
class FutureContractSettings:
    """One index future and the ETF it leads (``ES`` leads ``SPY``)."""

    symbol: str
    etf: str
    exchange: str = "CME"
    # Price increment: 0.25 index points for ES and NQ, 0.10 for RTY.
    tick_size: float = field(
        default=0.25, validator=bounded(gt=0, le=100.0, why="index futures tick in points")
    )


def _default_futures() -> list[FutureContractSettings]:
    return [
        FutureContractSettings(symbol="ES", etf="SPY", tick_size=0.25),
        FutureContractSettings(symbol="NQ", etf="QQQ", tick_size=0.25),
        FutureContractSettings(symbol="RTY", etf="IWM", tick_size=0.10),
    ]


@frozen(slots=True)
class FuturesSettings:
    """Index futures read every cycle as leading indicators of the ETFs (docs/FUTURES.md).

    The front contract is the nearest quarterly (March, June, September, December) whose
    expiry is more than ``roll_days_before_expiry`` calendar days away. After
    ``stale_alert_cycles`` cycles in a row without a usable quote while CME trades, an
    alert is raised (never inside the daily maintenance break or the weekend).
    """

    enabled: bool = True
    roll_days_before_expiry: int = field(
        default=7, validator=bounded(ge=0, le=80, why="a quarterly contract is front ~91 days")
    )
    stale_alert_cycles: int = field(default=3, validator=count(1000))
    contracts: list[FutureContractSettings] = Factory(_default_futures)


BACKTEST_COLUMNS = (
    "underlying",
    "quote_date",
    "expiration",
    "strike",
    "option_type",
    "bid",
    "ask",
    "underlying_price",
    "implied_volatility",
    "delta",
    "gamma",
    "theta",
    "vega",
    "root",
)
"""The fields a vendor's column mapping (``backtest.columns``) may name; the first eight
are required (docs/BACKTEST.md)."""
TIME_OF_DAY = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]\Z")


def _columns(_instance: Any, attribute: Attribute[Any], value: dict[str, str]) -> None:
    for key, header in value.items():
        if key not in BACKTEST_COLUMNS:
            close = difflib.get_close_matches(key, BACKTEST_COLUMNS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(
                f"'{attribute.name}' has an unknown field {key!r}{hint}; "
                f"fields: {', '.join(BACKTEST_COLUMNS)}"
            )
        if not isinstance(header, str) or not header.strip():
            raise ValueError(f"'{attribute.name}.{key}' must name a column of the file")


def _time_of_day(_instance: Any, attribute: Attribute[Any], value: str) -> None:
    if not TIME_OF_DAY.match(value):
        raise ValueError(f"'{attribute.name}' must be HH:MM (24-hour, New York), got {value!r}")


@frozen(slots=True)
class BacktestSettings:
    """``v6 backtest`` and ``v6 data import`` (docs/BACKTEST.md).

    A backtest's market price of a combo lies ``fill_point`` of the way from mid to the
    natural price (0 = mid, 1 = natural), plus ``slippage_per_leg`` dollars per share per
    leg against the trader, never beyond the natural price. An order whose limit reaches
    it fills at its own limit (an order at natural, at the natural). One whose limit does
    not is, with ``work_to_fill_point``, worked through the day to the market's price and
    filled there (end-of-day data cannot show the intraday steps a trader takes toward
    natural; the fill point is their average cost); without it, it rests and is repriced
    toward natural or timed out by the executor, one step a snapshot, as live.
    Commissions, the seed and the starting cash are ``sim.broker.commission_per_contract``,
    ``sim.seed`` and ``sim.initial_cash``.
    """

    fill_point: float = field(
        default=0.5, validator=bounded(ge=0, le=1.0, why="0 is mid, 1 is the natural price")
    )
    slippage_per_leg: float = field(
        default=0.0, validator=bounded(ge=0, le=10.0, why="ten dollars a share a leg")
    )
    # A limit the market's price does not reach is worked to it within the snapshot (true)
    # or rests until the executor's steps reach it, one a snapshot (false).
    work_to_fill_point: bool = True
    # Close what is still open at the last snapshot (natural price), so every trade's P&L
    # is realised and the summary's trade statistics cover every position.
    flatten_at_end: bool = True
    # Rows of this many cycles are written in one commit per table (memory grows with it).
    flush_every_cycles: int = field(
        default=500, validator=count(100_000, "rows of more cycles would wait in memory")
    )
    # ``--format mapped``: V6 field -> the header of that column in the vendor's file.
    columns: dict[str, str] = field(factory=dict, validator=_columns)
    # The time of day (New York) a mapped file's end-of-day quotes were taken.
    snapshot_time: str = field(default="16:00", validator=_time_of_day)


@frozen(slots=True)
class NotifySettings:
    """Alerts sent to a phone or an inbox through apprise (v6.ops.notify).

    Where they go is a secret and lives in the environment, ``V6_NOTIFY_URLS`` (apprise
    URLs separated by spaces: ntfy, Telegram, Slack, email, ...); without it nothing is
    sent. Alerts of ``min_severity`` and up go out; the same alert again within
    ``dedupe_minutes`` is not repeated; at most ``max_per_hour`` messages leave per hour
    (the rest are counted in the next one). ``daily_summary``: one message per trading day
    with its P&L, trades and breaker events.
    """

    min_severity: str = field(
        default="error", validator=validators.in_(["info", "warning", "error", "critical"])
    )
    dedupe_minutes: float = field(default=60.0, validator=bounded(ge=0, le=10_080, why="a week"))
    max_per_hour: int = field(default=20, validator=count(3600, "one a second"))
    daily_summary: bool = True


@frozen(slots=True)
class LogSettings:
    """Where ``v6 run`` logs besides stderr, and how.

    ``format``: ``text`` lines or ``json`` (one object per line, for a log shipper).
    ``file``: also log to this file ("" for stderr only), rotated at ``max_mb`` megabytes
    with ``backups`` old files kept. Secrets from the environment (the IB account, the
    dashboard password, the notification URLs) are masked in every line.
    """

    format: str = field(default="text", validator=validators.in_(["text", "json"]))
    file: str = ""
    max_mb: float = field(default=50.0, validator=bounded(ge=0.01, le=100_000, why="100 GB"))
    backups: int = field(default=5, validator=count(1000, "rotated files"))


@frozen(slots=True)
class TradingConfig:
    """The whole configuration of a V6 run."""

    mode: Mode = Mode.SIM
    underlyings: list[str] = Factory(lambda: ["SPY", "QQQ", "IWM"])
    ib: IBSettings = Factory(IBSettings)
    store: StoreSettings = Factory(StoreSettings)
    cycle: CycleSettings = Factory(CycleSettings)
    limits: LimitSettings = Factory(LimitSettings)
    risk: RiskSettings = Factory(RiskSettings)
    breakers: BreakerSettings = Factory(BreakerSettings)
    slots: SlotsConfig = Factory(SlotsConfig)
    execution: ExecutionSettings = Factory(ExecutionSettings)
    plugins: PluginsConfig = Factory(PluginsConfig)
    futures: FuturesSettings = Factory(FuturesSettings)
    sim: SimSettings = Factory(SimSettings)
    dashboard: DashboardSettings = Factory(DashboardSettings)
    backtest: BacktestSettings = Factory(BacktestSettings)
    notify: NotifySettings = Factory(NotifySettings)
    logging: LogSettings = Factory(LogSettings)
