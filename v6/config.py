"""TradingConfig: one YAML file, structured into attrs classes with cattrs.

The classes below are the whole schema. Defaults are the embedded defaults a bare
``v6 run`` uses. Plugin blocks keep their ``settings`` as a raw mapping here; the plugin
manager structures each into the plugin's own attrs settings class, so a plugin
validates its own settings (errors still name the full key path).
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Any

from attrs import Factory, field, frozen, validators

gt0 = validators.gt(0)
ge0 = validators.ge(0)


class Mode(StrEnum):
    SIM = "sim"
    PAPER = "paper"
    LIVE = "live"


@frozen(slots=True)
class IBSettings:
    """Connection to TWS / IB Gateway (paper and live only)."""

    host: str = "127.0.0.1"
    port: int = field(default=7497, validator=[gt0, validators.le(65535)])
    client_id: int = field(default=1, validator=ge0)
    account: str = ""
    timeout_seconds: float = field(default=10.0, validator=gt0)
    market_data_type: str = field(
        default="live", validator=validators.in_(["live", "frozen", "delayed", "delayed_frozen"])
    )
    # Reconnect after a drop, waiting these many seconds between attempts (the last
    # repeats): a gateway restarting at night needs minutes, a blip seconds.
    reconnect_backoff_seconds: list[float] = Factory(lambda: [1.0, 2.0, 5.0, 10.0, 30.0])
    # Option quotes streamed at once. IB allows about 100 market-data lines on a basic
    # account; the strikes nearest the money and every held leg are subscribed first.
    max_option_lines: int = field(default=90, validator=gt0)
    # Which options fill those lines: per underlying the ``expiries`` nearest
    # ``target_dte`` (up to ``max_dte``), strikes within ``strike_range`` of spot spread
    # evenly, at most ``strikes_per_side`` each side.
    expiries: int = field(default=1, validator=gt0)
    target_dte: int = field(default=30, validator=ge0)
    strike_range: float = field(default=0.15, validator=[gt0, validators.le(0.5)])
    strikes_per_side: int = field(default=10, validator=gt0)
    max_dte: int = field(default=60, validator=gt0)
    # Reconcile every position with the broker every N cycles (positions V6 is acting on
    # are followed through their fills every cycle in between).
    reconcile_every_cycles: int = field(default=4, validator=gt0)
    # How long place/modify/cancel wait for the gateway's acknowledgement.
    order_ack_seconds: float = field(default=2.0, validator=gt0)
    # IB reports an execution's commission separately; a fill is booked without it after
    # order_ack_seconds and corrected when it comes. Alert when it has not come in this.
    commission_alert_seconds: float = field(default=120.0, validator=gt0)
    # Messages per second to TWS. IB disconnects a client that sends more than 50; 0
    # turns ib_async's throttle off (only for a local test gateway).
    max_requests_per_second: int = field(default=45, validator=[ge0, validators.le(50)])


@frozen(slots=True)
class StoreSettings:
    """Delta Lake tables. In sim, rows are buffered and flushed every N cycles.

    Every ``compact_every_flushes`` flushes a background thread maintains every table:
    compacts small files, checkpoints the log and deletes what no version needs any more
    (replaced data files, stray files of killed writes, old log entries) once it is older
    than ``retention_hours``, the time a reader that opened an older version has to
    finish. Whole hours, as Delta's vacuum takes them.
    """

    path: str = "data"
    flush_every_cycles: int = field(default=20, validator=gt0)
    compact_every_flushes: int = field(default=10, validator=gt0)
    chain_snapshot_every_cycles: int = field(default=1, validator=gt0)
    retention_hours: int = field(default=1, validator=validators.ge(1))


@frozen(slots=True)
class CycleSettings:
    """How often the engine cycles and how old a quote may be."""

    interval_seconds: int = field(default=900, validator=gt0)
    max_quote_age_seconds: float = field(default=120.0, validator=gt0)


@frozen(slots=True)
class LimitSettings:
    """Hard trading limits checked before every entry."""

    max_open_positions: int = field(default=12, validator=gt0)
    max_positions_per_underlying: int = field(default=4, validator=gt0)
    max_entries_per_cycle: int = field(default=3, validator=gt0)
    max_loss_per_trade: float = field(default=1500.0, validator=gt0)
    max_total_max_loss: float = field(default=20000.0, validator=gt0)
    min_buying_power_reserve: float = field(default=10000.0, validator=ge0)
    # Portfolio limits, checked against the portfolio as it would be after the trade.
    max_loss_per_underlying: float = field(default=8000.0, validator=gt0)
    # No underlying may hold more than this share of ``max_total_max_loss``.
    max_underlying_share: float = field(default=0.5, validator=[gt0, validators.le(1)])
    max_abs_beta_delta: float = field(default=150.0, validator=gt0)  # SPY share equivalents
    max_abs_gamma: float = field(default=60.0, validator=gt0)  # shares per 1.00 move, summed as is
    max_abs_vega: float = field(default=1500.0, validator=gt0)  # dollars per vol point
    max_stress_loss: float = field(default=15000.0, validator=gt0)  # worst scenario, dollars


@frozen(slots=True)
class ExecutionSettings:
    """How a combo order is worked: start at mid, step toward natural, then give up."""

    tick_size: float = field(default=0.01, validator=gt0)
    price_step: float = field(default=0.01, validator=gt0)
    max_price_steps: int = field(default=3, validator=ge0)
    order_timeout_cycles: int = field(default=2, validator=gt0)


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
    risk_free_rate: float = 0.04
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
    """

    enabled: bool = True
    max_daily_loss: float = field(default=3000.0, validator=gt0)
    max_consecutive_losses: int = field(default=4, validator=gt0)
    max_order_rejections: int = field(default=5, validator=gt0)
    rejection_window_minutes: float = field(default=60.0, validator=gt0)
    stale_data_cycles: int = field(default=3, validator=gt0)
    max_rejected_quote_share: float = field(default=0.5, validator=[gt0, validators.le(1)])
    recover_cycles: int = field(default=2, validator=gt0)
    close_positions: list[str] = Factory(list)  # breaker names that also close everything


BREAKER_NAMES = (
    "daily_loss",
    "consecutive_losses",
    "order_rejections",
    "stale_data",
    "broker_disconnect",
)


@frozen(slots=True)
class SlotSettings:
    """How many positions a strategy may hold on one underlying, and how fast it adds.

    ``cooldown_minutes_after_stop``: after a position is closed by one of
    ``stop_out_rules``, the strategy opens nothing more on that underlying for this long.
    """

    max_concurrent: int = field(default=2, validator=gt0)
    entries_per_cycle: int = field(default=1, validator=gt0)
    cooldown_minutes_after_stop: float = field(default=240.0, validator=ge0)
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
    """One selected plugin: its settings and, for exit rules, an optional priority."""

    settings: dict[str, Any] = Factory(dict)
    priority: int | None = field(default=None, validator=validators.optional(gt0))


def _default_strategies() -> dict[str, PluginBlock]:
    return {
        "iron_condor": PluginBlock(),
        "bull_put_spread": PluginBlock(),
        "bear_call_spread": PluginBlock(),
    }


DEFAULT_EXIT_RULES = (  # the twelve priorities, most urgent first
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
    """Which plugins run, by entry-point name, each with its own settings."""

    strategies: dict[str, PluginBlock] = Factory(_default_strategies)
    strike_selector: dict[str, PluginBlock] = Factory(lambda: {"delta_target": PluginBlock()})
    exit_rules: dict[str, PluginBlock] = Factory(_default_exit_rules)
    regime: dict[str, PluginBlock] = Factory(lambda: {"volatility_regime": PluginBlock()})


@frozen(slots=True)
class SimUnderlyingSettings:
    """Starting point of one simulated underlying."""

    spot: float = field(validator=gt0)
    vol: float = field(default=0.18, validator=gt0)  # base annualised volatility (calm regime)
    beta: float = 1.0  # sensitivity to the common market factor
    strike_step: float = field(default=1.0, validator=gt0)
    dividend_yield: float = field(default=0.013, validator=ge0)
    # Slope of the IV smile in standardised moneyness: puts richer than calls when > 0;
    # 0 is a symmetric smile. 0.15 gives a 30-day 25-delta put/call IV ratio near 1.2.
    skew_slope: float = field(default=0.15, validator=ge0)


def _default_sim_underlyings() -> dict[str, SimUnderlyingSettings]:
    return {
        "SPY": SimUnderlyingSettings(spot=590.0, vol=0.13, beta=1.0, strike_step=1.0),
        "QQQ": SimUnderlyingSettings(spot=510.0, vol=0.20, beta=1.2, strike_step=1.0),
        "IWM": SimUnderlyingSettings(spot=225.0, vol=0.22, beta=1.1, strike_step=1.0),
    }


@frozen(slots=True)
class SimBrokerSettings:
    """Simulated broker behaviour, including faults tests can inject."""

    commission_per_contract: float = field(default=0.65, validator=ge0)
    latency_seconds: float = field(default=0.0, validator=ge0)
    # A combo limit fills when it is at least this share of the half-spread beyond mid.
    fill_threshold_half_spreads: float = field(default=0.0, validator=ge0)
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
    liquidity_reference_vix: float = field(default=20.0, validator=gt0)
    liquidity_vix_elasticity: float = field(default=1.0, validator=ge0)


@frozen(slots=True)
class SimSettings:
    """The simulated market and broker used by ``sim`` mode."""

    seed: int = 7
    start: date = date(2026, 1, 5)
    days: int = field(default=5, validator=gt0)
    speed: float = field(default=0.0, validator=ge0)  # 0 = as fast as possible; 1 = real time
    initial_cash: float = field(default=100_000.0, validator=gt0)
    risk_free_rate: float = 0.04
    # Close every open position at the natural price after the last cycle, so a run's P&L
    # is fully realised (useful for comparing runs); off by default, like a real account.
    flatten_at_end: bool = False
    max_dte: int = field(default=60, validator=gt0)
    strikes_per_side: int = field(default=40, validator=gt0)
    force_regime: str | None = field(
        default=None,
        validator=validators.optional(validators.in_(["calm", "trending", "high_vol", "crash"])),
    )
    underlyings: dict[str, SimUnderlyingSettings] = Factory(_default_sim_underlyings)
    broker: SimBrokerSettings = Factory(SimBrokerSettings)


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
    sim: SimSettings = Factory(SimSettings)
