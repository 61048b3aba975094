"""The Delta tables V6 writes: every schema declared once, here.

The dashboard and the analysis tools read these tables and nothing else, so a column's
name, type and nullability are part of V6's contract. Timestamps are microseconds in
UTC. Nested values (a combo's legs, a rule's inputs) are JSON strings: they stay
readable from any Delta client and never force a schema change when a plugin adds an
input. Every table carries ``run_id`` so runs that share a store stay separable (the
engine's recorder stamps it on every row).

Adding a nullable column here is safe: the store appends with schema merging, so older
files read back with nulls in the new column.
"""

from __future__ import annotations

import pyarrow as pa
from attrs import field, frozen

TIME = pa.timestamp("us", tz="UTC")


def _required(name: str, kind: pa.DataType) -> pa.Field:
    return pa.field(name, kind, nullable=False)


def _optional(name: str, kind: pa.DataType) -> pa.Field:
    return pa.field(name, kind, nullable=True)


_TIME = _required("time", TIME)
_RUN_ID = _required("run_id", pa.string())

CHAIN_SNAPSHOTS = pa.schema(
    [
        _TIME,
        _required("underlying", pa.string()),
        _required("date", pa.string()),  # YYYY-MM-DD of ``time`` in UTC; the partition
        _required("spot", pa.float64()),
        _required("expiry", pa.date32()),
        _required("strike", pa.float64()),
        _required("right", pa.string()),  # "C" or "P"
        # Quotes and Greeks may be NaN (IB sends NaN Greeks); ``valid`` says which to trust.
        _required("bid", pa.float64()),
        _required("ask", pa.float64()),
        _required("iv", pa.float64()),
        _required("delta", pa.float64()),
        _required("gamma", pa.float64()),
        _required("vega", pa.float64()),
        _required("theta", pa.float64()),
        _required("valid", pa.bool_()),
        _RUN_ID,
        # What a replay needs besides the quotes (nullable: stores written before V6 had
        # them read back with nulls, and replay falls back to ``time``, 100, the style of
        # the underlying's symbol (v6.domain.contract_specs) and no dividend yield).
        _optional("quote_time", TIME),  # when the quote was taken (``time`` is the snapshot)
        _optional("multiplier", pa.int64()),
        _optional("exercise_style", pa.string()),  # "european" or "american"
        _optional("settlement", pa.string()),  # "cash_am", "cash_pm" or "physical"
        _optional("root", pa.string()),  # the option root (SPX vs SPXW), or the underlying
        _optional("dividend_yield", pa.float64()),
    ]
)

ORDERS = pa.schema(
    [
        _TIME,
        _required("order_ref", pa.string()),
        _required("broker_order_id", pa.string()),
        _required("position_id", pa.string()),
        _required("strategy", pa.string()),
        _required("underlying", pa.string()),
        _required("intent", pa.string()),
        _required("legs", pa.string()),  # JSON list of {key, underlying, expiry, ...}
        _required("quantity", pa.int64()),
        _required("limit_price", pa.float64()),
        _required("status", pa.string()),
        _required("filled_quantity", pa.int64()),
        _required("remaining_quantity", pa.int64()),
        _optional("avg_fill_price", pa.float64()),
        _required("message", pa.string()),
        _optional("seq", pa.int64()),  # write order (breaks ties between same-time rows)
        _RUN_ID,
    ]
)

FILLS = pa.schema(
    [
        _TIME,
        _required("exec_id", pa.string()),
        _required("order_ref", pa.string()),
        _required("position_id", pa.string()),
        _required("strategy", pa.string()),
        _required("contract_key", pa.string()),
        _required("underlying", pa.string()),
        _required("expiry", pa.date32()),
        _required("strike", pa.float64()),
        _required("right", pa.string()),
        _required("multiplier", pa.int64()),
        _required("quantity", pa.int64()),  # signed: + bought, - sold
        _required("price", pa.float64()),
        _required("commission", pa.float64()),
        _required("cash_flow", pa.float64()),  # dollars, commission included
        _required("kind", pa.string()),  # "trade" or "expiration"
        _RUN_ID,
    ]
)

POSITIONS = pa.schema(
    [
        _TIME,
        _required("position_id", pa.string()),
        _required("strategy", pa.string()),
        _required("underlying", pa.string()),
        _required("structure", pa.string()),
        _required("legs", pa.string()),
        _required("quantity", pa.int64()),
        _required("entry_price", pa.float64()),
        _required("status", pa.string()),
        _required("max_profit", pa.float64()),
        _required("max_loss", pa.float64()),
        _required("opened_at", TIME),
        _optional("closed_at", TIME),
        _optional("exit_price", pa.float64()),
        _required("realized_pnl", pa.float64()),
        _required("commissions", pa.float64()),
        _optional("entry_regime", pa.string()),
        _optional("exit_rule", pa.string()),
        _optional("slot", pa.string()),
        # Write order within a run: two rows of one position can share a time (the row
        # written before an order is sent and the cycle's final row), and the later wins.
        _optional("seq", pa.int64()),
        _RUN_ID,
    ]
)

DECISIONS = pa.schema(
    [
        _TIME,
        _required("position_id", pa.string()),
        _required("rule", pa.string()),
        _required("priority", pa.int64()),
        _required("action", pa.string()),
        _required("reason", pa.string()),
        _required("inputs", pa.string()),  # JSON object
        _optional("underlying", pa.string()),
        _optional("regime", pa.string()),
        # JSON list of every rule's verdict that cycle: {rule, priority, action, reason, error}
        _optional("verdicts", pa.string()),
        _optional("unrealized_pnl", pa.float64()),
        _optional("pnl_fraction", pa.float64()),
        _optional("half_spread", pa.float64()),
        _optional("spot", pa.float64()),
        _RUN_ID,
    ]
)

ACCOUNT_SNAPSHOTS = pa.schema(
    [
        _TIME,
        _required("cash", pa.float64()),
        _required("net_liquidation", pa.float64()),
        _required("buying_power", pa.float64()),
        _required("maintenance_margin", pa.float64()),
        _required("realized_pnl", pa.float64()),
        _required("unrealized_pnl", pa.float64()),
        _required("commissions", pa.float64()),
        # The engine cycle that took the snapshot: orders rows taken at the same instant
        # (a final flatten at the closing bell) by the order they happened in.
        _required("cycle", pa.int64()),
        _RUN_ID,
    ]
)

ALERTS = pa.schema(
    [
        _TIME,
        _required("severity", pa.string()),
        _required("source", pa.string()),
        _required("code", pa.string()),
        _required("message", pa.string()),
        _RUN_ID,
    ]
)

REGIMES = pa.schema(
    [
        _TIME,
        _required("underlying", pa.string()),
        _required("regime", pa.string()),
        _required("reason", pa.string()),
        _required("inputs", pa.string()),  # JSON object
        _RUN_ID,
        # The detector that made the reading (several may run; ``plugins.regime_driver``
        # names the one whose reading drives exits). Null in rows written before V6 had
        # the column, when one detector ran: the config in ``runs`` names it.
        _optional("detector", pa.string()),
    ]
)

# The simulator's hidden state per cycle (sim mode only), beside the detected regimes:
# what a regime detector is graded against. Never written by paper or live runs.
SIM_TRUTH = pa.schema(
    [
        _TIME,
        _required("regime", pa.string()),  # calm, trending, high_vol or crash
        _required("vol_level", pa.float64()),  # multiplier on calm volatility
        _required("climate", pa.float64()),  # the slow volatility climate (1 = average)
        _required("skew_multiplier", pa.float64()),  # on every underlying's skew_slope
        _RUN_ID,
    ]
)

# What a strategy (or V6's default model) predicted for each position it opened, and what
# happened. One row per state change of a prediction, latest row wins (highest ``seq``),
# like orders and positions: ``pending`` when the entry order is sent (committed before
# it is), then ``closed`` with the actuals when the position closes, or ``void`` when it
# never opened or its simulated world ended with it (no outcome to grade). Every row
# carries the whole prediction, so the latest row alone is the record. docs/PREDICTIONS.md.
PREDICTIONS = pa.schema(
    [
        _TIME,  # when this state was written
        _required("prediction_id", pa.string()),
        _required("position_id", pa.string()),
        _required("strategy", pa.string()),
        _required("underlying", pa.string()),
        _required("structure", pa.string()),
        _required("status", pa.string()),  # pending, closed or void
        _required("model", pa.string()),  # v6_default, or the strategy's own model name
        _required("predicted_at", TIME),  # when the entry order was sent
        _required("regime", pa.string()),  # the driving detector's reading at entry ("" none)
        _required("detector", pa.string()),  # the driving detector
        # The prediction (money in dollars for the whole position, commissions included).
        _required("probability_of_profit", pa.float64()),
        _required("expected_pnl", pa.float64()),
        _optional("expected_move", pa.float64()),  # underlying points, 1 sd over the hold
        _optional("expected_days", pa.float64()),
        # The inputs, as V6 measured them on the traded chain.
        _required("spot", pa.float64()),
        _optional("atm_iv", pa.float64()),
        _optional("put_call_iv_ratio", pa.float64()),
        _required("dte", pa.int64()),
        _required("short_deltas", pa.string()),  # JSON list, signed (puts negative)
        _required("credit", pa.float64()),  # per share at mid; negative for a debit
        _required("max_loss", pa.float64()),
        _required("max_profit", pa.float64()),
        _required("quantity", pa.int64()),
        _optional("holding_days", pa.float64()),  # what the exit rules' targets imply
        _required("model_inputs", pa.string()),  # JSON object: the model's own numbers
        # The actuals (null while pending).
        _optional("closed_at", TIME),
        _optional("realized_pnl", pa.float64()),  # dollars, commissions included
        _optional("days_held", pa.float64()),
        _optional("exit_rule", pa.string()),
        _optional("profitable", pa.bool_()),
        _optional("seq", pa.int64()),  # write order (breaks ties between same-time rows)
        _RUN_ID,
    ]
)

DATA_QUALITY = pa.schema(
    [
        _TIME,
        _required("underlying", pa.string()),
        # a rejection (nan, crossed, stale, impossible_greeks, ...: quality.REASONS) or a
        # repair (repaired_greeks: quality.REPAIRS)
        _required("reason", pa.string()),
        _required("count", pa.int64()),
        _required("sample", pa.string()),  # a few contract keys
        _RUN_ID,
    ]
)

ENTRIES = pa.schema(
    [
        _TIME,
        _required("strategy", pa.string()),
        _required("underlying", pa.string()),
        _required("structure", pa.string()),
        _required("outcome", pa.string()),  # accepted or rejected
        _required("reason", pa.string()),
        _optional("order_ref", pa.string()),
        _optional("net_price", pa.float64()),
        _optional("max_loss", pa.float64()),
        _RUN_ID,
    ]
)

BREAKER_EVENTS = pa.schema(
    [
        _TIME,
        _required("breaker", pa.string()),
        _required("event", pa.string()),  # trip, reset or reset_request
        _required("reason", pa.string()),
        _required("source", pa.string()),  # "engine" (its own rule) or "manual" (v6 breaker)
        _RUN_ID,
    ]
)

# One row per index future per engine cycle while CME trades (docs/FUTURES.md): the front
# contract read, its quote, the ETF it leads at the same instant, and the change metrics
# in percent on the ratio-adjusted continuous series (null: no price at the reference).
FUTURES_SNAPSHOTS = pa.schema(
    [
        _TIME,
        _required("symbol", pa.string()),  # the future's root: ES, NQ, RTY
        _required("date", pa.string()),  # YYYY-MM-DD of ``time`` in UTC; the partition
        _required("etf", pa.string()),  # the ETF it leads: SPY, QQQ, IWM
        _required("local_symbol", pa.string()),  # the contract read: ESH6
        _required("expiry", pa.date32()),  # that contract's expiry
        _required("price", pa.float64()),  # mid of a sound quote, else the last trade
        _optional("bid", pa.float64()),
        _optional("ask", pa.float64()),
        # New contract's price over the old one's at a roll (both quoted that cycle), 1
        # otherwise; null when the old one had no quote (no change spans that roll).
        _optional("roll_ratio", pa.float64()),
        _optional("etf_price", pa.float64()),  # the ETF's mid at the same instant
        _optional("change_1h", pa.float64()),
        _optional("change_4h", pa.float64()),
        _optional("change_overnight", pa.float64()),
        _optional("change_daily", pa.float64()),
        _RUN_ID,
    ]
)

RUNS = pa.schema(
    [
        _TIME,
        _RUN_ID,
        _required("mode", pa.string()),
        _required("config", pa.string()),  # the effective config as YAML
        _optional("seed", pa.int64()),
        _required("event", pa.string()),  # start or stop
        _required("message", pa.string()),
    ]
)


# One row per engine cycle, flushed on a wall-clock cadence of its own (v6.engine.heartbeat):
# what the dashboard's Health page and ``GET /health`` judge a running engine by.
HEARTBEAT = pa.schema(
    [
        _TIME,  # the cycle's time (simulated in sim)
        _required("written_at", TIME),  # the wall clock when the cycle ended
        _required("cycle", pa.int64()),
        _required("cycle_seconds", pa.float64()),  # wall seconds the cycle took
        # Wall seconds until the next cycle is due: how old a heartbeat may be before the
        # engine counts as stalled.
        _required("interval_seconds", pa.float64()),
        _required("broker_connected", pa.bool_()),
        _required("mode", pa.string()),
        _required("pid", pa.int64()),
        _required("open_positions", pa.int64()),
        _required("tripped_breakers", pa.string()),  # comma-separated names, "" if none
        _required("unusable_underlyings", pa.string()),  # comma-separated, "" if none
        _required("rejected_quotes", pa.int64()),
        _required("failing_plugins", pa.string()),  # comma-separated, "" if none
        _RUN_ID,
    ]
)

# Every live position's Greeks and mark, once per cycle: the portfolio's Greeks are the sum
# over one ``time``. Greeks in the units of :class:`v6.domain.risk.PortfolioRisk` (shares,
# dollars per vol point, dollars per day); NaN (stored null) for a position that could
# not be valued.
POSITION_RISK = pa.schema(
    [
        _TIME,
        _required("position_id", pa.string()),
        _required("strategy", pa.string()),
        _required("underlying", pa.string()),
        _optional("spot", pa.float64()),
        _optional("mark", pa.float64()),  # net debit per share to close at mid
        _optional("unrealized_pnl", pa.float64()),  # dollars at mid
        _optional("pnl_fraction", pa.float64()),  # of max profit
        _required("dte", pa.int64()),
        _optional("delta", pa.float64()),
        _optional("beta_delta", pa.float64()),
        _optional("gamma", pa.float64()),
        _optional("vega", pa.float64()),
        _optional("theta", pa.float64()),
        _required("max_loss", pa.float64()),
        _required("valid", pa.bool_()),
        _RUN_ID,
    ]
)

# Operator tables: written by the dashboard (never by the engine, which only reads them),
# so an operator's click never races an engine commit on the same table.
ALERT_ACKS = pa.schema(
    [
        _TIME,  # when it was acknowledged
        _required("alert_id", pa.string()),  # v6.alert_acks.alert_id of the alert
        _required("user", pa.string()),
        _required("note", pa.string()),
        _RUN_ID,  # "dashboard"
    ]
)

MANUAL_COMMANDS = pa.schema(
    [
        _TIME,
        _required("command_id", pa.string()),
        _required("command", pa.string()),  # halt_entries or resume_entries
        _required("reason", pa.string()),
        _required("user", pa.string()),
        _RUN_ID,  # "dashboard"
    ]
)

# `v6 sweep` (v6.sweep): one row per combination and period each time one finishes, in the
# sweep's own store. ``run_id`` is the sweep id; a rerun of an interrupted sweep skips the
# combinations that have an ``ok`` row. Metrics are those of the backtest's summary
# (docs/BACKTEST.md); null where undefined or where the combination failed.
SWEEP_RESULTS = pa.schema(
    [
        _TIME,  # when the combination finished (wall clock, UTC)
        _RUN_ID,  # the sweep id
        _required("combination_id", pa.string()),  # a digest of the settings
        _required("settings", pa.string()),  # JSON: key path -> value
        _required("period", pa.string()),  # full, in_sample or out_of_sample
        _required("period_from", pa.date32()),
        _required("period_to", pa.date32()),
        _required("status", pa.string()),  # ok or failed
        _required("error", pa.string()),  # "" when ok
        _optional("backtest_run_id", pa.string()),
        _optional("trades", pa.int64()),
        _optional("total_pnl", pa.float64()),
        _optional("cagr", pa.float64()),
        _optional("max_drawdown", pa.float64()),
        _optional("sharpe", pa.float64()),
        _optional("sortino", pa.float64()),
        _optional("win_rate", pa.float64()),
        _required("seconds", pa.float64()),  # wall seconds the backtest took
        _required("out", pa.string()),  # the combination's backtest directory
    ]
)


@frozen(slots=True)
class TableSpec:
    """A table's name, its schema and the columns its files are partitioned by.

    ``plain_columns`` are written without a Parquet dictionary: full-precision numbers
    that seldom repeat within a file, where building and then writing a dictionary
    costs time and saves no space. Only the encoding changes; the values read back do not.
    """

    name: str
    schema: pa.Schema
    partition_by: tuple[str, ...] = field(default=(), converter=tuple)
    plain_columns: tuple[str, ...] = field(default=(), converter=tuple)

    def __attrs_post_init__(self) -> None:
        for label, columns in (("partition", self.partition_by), ("plain", self.plain_columns)):
            missing = [c for c in columns if c not in self.schema.names]
            if missing:
                raise ValueError(f"table {self.name}: {label} columns {missing} not in schema")


def _specs(*specs: TableSpec) -> dict[str, TableSpec]:
    return {spec.name: spec for spec in specs}


TABLES: dict[str, TableSpec] = _specs(
    # Chains are the bulk of the data: partitions let replay and analysis read one
    # underlying on one day without opening the rest.
    # The Greeks are V6's own full-precision figures: a dictionary of them is waste.
    TableSpec(
        "chain_snapshots",
        CHAIN_SNAPSHOTS,
        ("underlying", "date"),
        plain_columns=("delta", "gamma", "vega", "theta"),
    ),
    TableSpec("orders", ORDERS),
    TableSpec("fills", FILLS),
    TableSpec("positions", POSITIONS),
    TableSpec("decisions", DECISIONS),
    TableSpec("account_snapshots", ACCOUNT_SNAPSHOTS),
    TableSpec("alerts", ALERTS),
    TableSpec("regimes", REGIMES),
    TableSpec("data_quality", DATA_QUALITY),
    TableSpec("entries", ENTRIES),
    TableSpec("breaker_events", BREAKER_EVENTS),
    TableSpec("runs", RUNS),
    TableSpec("sim_truth", SIM_TRUTH),
    TableSpec("futures_snapshots", FUTURES_SNAPSHOTS, ("symbol", "date")),
    TableSpec("heartbeat", HEARTBEAT),
    TableSpec("position_risk", POSITION_RISK),
    TableSpec("alert_acks", ALERT_ACKS),
    TableSpec("manual_commands", MANUAL_COMMANDS),
    TableSpec("predictions", PREDICTIONS),
    TableSpec("sweep_results", SWEEP_RESULTS),
)
"""Every table V6 writes, by name."""

OPERATOR_TABLES = ("alert_acks", "manual_commands")
"""Tables the dashboard writes and the engine only reads (never configures or compacts)."""

SWEEP_TABLES = ("sweep_results",)
"""Tables ``v6 sweep`` writes in a sweep's own store (never an engine's)."""

ENGINE_TABLES = tuple(
    name for name in TABLES if name not in OPERATOR_TABLES and name not in SWEEP_TABLES
)
"""Tables the engine writes (and maintains)."""
