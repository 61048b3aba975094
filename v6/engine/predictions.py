"""Predictions, from the engine's side: predict at entry, grade at close.

When an entry order is about to be sent, the strategy that proposed it is asked for its
prediction (``v6_predict_position``); a strategy that does not implement the hook, or
whose answer is refused (:func:`v6.plugin_results.check_prediction`; logged and alerted as
its ``plugin_error``), gets V6's default model (:mod:`v6.predictions.default_model`). The
prediction is written ``pending`` and committed with the order's write-ahead, before the
order leaves V6, so no traded position is ever without its prediction.

When the position settles closed, however it closed (an exit rule, an unwind of a legged
fill, an expiry settlement, a flatten at the end, a breaker, a restart's settlement with
the broker), the actuals are written against the same prediction id: ``closed`` with
the realised P&L, days held, exit rule and whether it was profitable; or ``void`` when
there is no outcome to grade (the entry never filled, or a sim run's world ended with the
position: ``abandoned``). A position that a late fill reopens goes back to ``pending``.

Rows are state rows (latest ``seq`` wins), each carrying the whole prediction, so a
restart needs nothing but the table: :func:`catch_up` reloads every prediction and
settles those whose position the store already shows closed (an actual lost in a crash
before its flush is written then, from the position's durable row).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from v6.domain.alerts import Severity
from v6.domain.entries import StrikeSelection
from v6.domain.market import MarketView
from v6.domain.positions import Position, PositionStatus
from v6.domain.predictions import Prediction, PredictionInputs
from v6.plugin_manager import ActivePlugin
from v6.predictions import default_model
from v6.store.delta_store import DeltaStore
from v6.store.rows import in_write_order, positions_from_frame, to_json

if TYPE_CHECKING:
    from v6.engine.cycle import Engine

log = logging.getLogger(__name__)

HOOK = "v6_predict_position"
PENDING, CLOSED, VOID = "pending", "closed", "void"
NO_OUTCOME = ("unfilled", "abandoned")
"""Exit rules that leave nothing to grade: the entry never filled, or the simulated
broker ended with the run that held the position."""
_ACTUALS = ("closed_at", "realized_pnl", "days_held", "exit_rule", "profitable")


def prediction_id(position_id: str) -> str:
    """The id of the prediction made for ``position_id`` (one per position)."""
    return f"{position_id}:prediction"


def _optional(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def exit_targets(engine: Engine, regime: str) -> default_model.ExitTargets:
    """The built-in exit rules' targets this config selected (a rule left out sets none).

    Third-party exit rules are not read: their settings mean what their authors say. A
    strategy that knows better implements ``v6_predict_position``.
    """
    values: dict[str, float] = {}
    for rule in engine.plugins.exit_rules:
        name, settings = rule.plugin.name, rule.settings
        if name == "time_exit":
            values["max_days_held"] = float(settings.max_days_held)
            values["max_term_fraction"] = float(settings.max_term_fraction)
        elif name == "days_to_expiry":
            values["close_at_dte"] = float(settings.close_at_dte)
        elif name == "take_profit":
            values["profit_fraction"] = float(settings.profit_fraction)
        elif name == "dynamic_take_profit" and "profit_fraction" not in values:
            values["profit_fraction"] = float(settings.target(regime or None))
    return default_model.ExitTargets(**values)


def _strategy(engine: Engine, name: str) -> ActivePlugin | None:
    return next((s for s in engine.plugins.strategies if s.plugin.name == name), None)


class PredictionLedger:
    """Every prediction of the store by position id (its latest row), for settling."""

    def __init__(self) -> None:
        self._rows: dict[str, dict[str, Any]] = {}

    def __len__(self) -> int:
        return len(self._rows)

    def status(self, position_id: str) -> str | None:
        """The prediction's current status, None when the position has none."""
        row = self._rows.get(position_id)
        return None if row is None else row["status"]

    def load(self, store: DeltaStore) -> None:
        """Every prediction's latest row from ``store`` (after a restart)."""
        frame = store.read("predictions")
        if frame.empty:
            return
        latest = in_write_order(frame).drop_duplicates("prediction_id", keep="last")
        columns = [c for c in latest.columns if c not in ("run_id", "seq")]
        # Through Arrow so nulls come back as None and times as aware datetimes.
        for row in pa.Table.from_pandas(latest[columns], preserve_index=False).to_pylist():
            self._rows[row["position_id"]] = row

    def remember(self, row: dict[str, Any]) -> None:
        self._rows[row["position_id"]] = row

    def pending_ids(self) -> list[str]:
        return [pid for pid, row in self._rows.items() if row["status"] == PENDING]

    def settled_row(self, position: Position, time: datetime) -> dict[str, Any] | None:
        """The row to write for ``position``'s new state, or None when nothing changes."""
        row = self._rows.get(position.position_id)
        if row is None:
            return None
        if position.status is PositionStatus.CLOSED:
            if row["status"] != PENDING:
                return None
            closed_at = position.closed_at or time
            held = (closed_at - row["predicted_at"]).total_seconds() / 86400.0
            graded = position.exit_rule not in NO_OUTCOME
            return {
                **row,
                "time": time,
                "status": CLOSED if graded else VOID,
                "closed_at": closed_at,
                "realized_pnl": float(position.realized_pnl),
                "days_held": max(held, 0.0),
                "exit_rule": position.exit_rule,
                "profitable": bool(position.realized_pnl > 0),
            }
        if row["status"] != PENDING:  # reopened by a late fill: its outcome is not known yet
            return {**row, "time": time, "status": PENDING, **dict.fromkeys(_ACTUALS)}
        return None


def predict(engine: Engine, selection: StrikeSelection, view: MarketView, position_id: str) -> None:
    """Make and buffer the prediction for a position about to be opened.

    Never stops the entry: a strategy's bad prediction falls back to the default model,
    and a chain the default model cannot read (no usable volatility) is alerted and
    leaves the position without a prediction.
    """
    candidate = selection.candidate
    chain = view.chains[candidate.underlying]
    reading = engine.regimes.get(candidate.underlying)
    regime = reading.regime.value if reading is not None else ""
    combo = default_model.traded_combo(selection, chain)
    inputs = default_model.measure(
        selection,
        chain,
        combo,
        view.time,
        engine.config.risk.risk_free_rate,
        exit_targets(engine, regime),
    )
    default = default_model.predict(combo, inputs)
    prediction: Prediction = default
    strategy = _strategy(engine, candidate.strategy)
    if strategy is not None and HOOK in strategy.plugin.hooks:
        own = engine.call_plugin(
            strategy,
            HOOK,
            view.time,
            default=None,
            selection=selection,
            chain=chain,
            market=view,
            regime=reading,
            regimes_by_detector=engine.regimes_by_detector,
            inputs=inputs,
            default_prediction=default,
        )
        if own is not None:
            prediction = own
    if not (
        math.isfinite(prediction.probability_of_profit) and math.isfinite(prediction.expected_pnl)
    ):
        engine.alert(
            Severity.WARNING,
            "predictions",
            "prediction_failed",
            f"{position_id}: no usable implied volatility on the traded chain; "
            "the position is opened without a prediction",
            view.time,
        )
        return
    row = prediction_row(
        position_id, selection, inputs, prediction, regime, engine.plugins.regime.plugin.name
    )
    row["time"] = view.time
    row["predicted_at"] = view.time
    engine.predictions.remember(row)
    engine.recorder.prediction(row)


def prediction_row(
    position_id: str,
    selection: StrikeSelection,
    inputs: PredictionInputs,
    prediction: Prediction,
    regime: str,
    detector: str,
) -> dict[str, Any]:
    """A pending row (without ``time``/``predicted_at``, which the caller stamps)."""
    candidate = selection.candidate
    return {
        "prediction_id": prediction_id(position_id),
        "position_id": position_id,
        "strategy": candidate.strategy,
        "underlying": candidate.underlying,
        "structure": candidate.structure,
        "status": PENDING,
        "model": prediction.model,
        "regime": regime,
        "detector": detector,
        "probability_of_profit": float(prediction.probability_of_profit),
        "expected_pnl": float(prediction.expected_pnl),
        "expected_move": _optional(prediction.expected_move),
        "expected_days": _optional(prediction.expected_days),
        "spot": inputs.spot,
        "atm_iv": _optional(inputs.atm_iv),
        "put_call_iv_ratio": _optional(inputs.put_call_iv_ratio),
        "dte": inputs.dte,
        "short_deltas": to_json([_optional(d) for d in inputs.short_deltas]),
        "credit": inputs.credit,
        "max_loss": _finite_or_inf(inputs.max_loss),
        "max_profit": _finite_or_inf(inputs.max_profit),
        "quantity": inputs.quantity,
        "holding_days": _optional(inputs.holding_days),
        "model_inputs": to_json(_numbers(prediction.inputs)),
        **dict.fromkeys(_ACTUALS),
    }


def _finite_or_inf(value: float) -> float:
    return float(value) if not math.isnan(value) else float("inf")


def _numbers(inputs: Mapping[str, float]) -> dict[str, float | None]:
    return {str(k): (float(v) if np.isfinite(v) else None) for k, v in inputs.items()}


def on_position(engine: Engine, position: Position, time: datetime) -> None:
    """Write the prediction's new state when ``position`` closed (or reopened)."""
    row = engine.predictions.settled_row(position, time)
    if row is not None:
        engine.predictions.remember(row)
        engine.recorder.prediction(row)


def catch_up(engine: Engine, store: DeltaStore, now: datetime) -> int:
    """At start: load every prediction, then settle the pending ones whose position the
    store already shows closed (closed while actuals were still buffered when V6 died,
    settled by recovery with the broker, or abandoned with an ended sim world).

    Returns how many were settled.
    """
    engine.predictions.load(store)
    pending = engine.predictions.pending_ids()
    if not pending:
        return 0
    frame = store.read("positions", filters=[("position_id", "in", pending)])
    settled = 0
    for position in positions_from_frame(frame):
        if position.status is PositionStatus.CLOSED:
            on_position(engine, position, position.closed_at or now)
            settled += 1
    if settled:
        engine.recorder.flush_predictions()
        log.info("predictions: %d pending predictions settled from the store", settled)
    return settled
