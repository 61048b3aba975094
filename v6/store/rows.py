"""Domain records to table rows and back.

One function per record type turns a domain value into a row for its table (see
``v6.store.schemas``); nested values (legs, rule inputs) become JSON strings. The reverse
readers rebuild domain values from what analysis reads, so a restart can recover its book
from the ``positions`` table. Rows carry no ``run_id``: the engine's recorder stamps it.

Chains are the one bulk record: ``chain_table`` builds an Arrow table straight from the
chain's arrays, with no Python loop over options.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any

import attrs
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from v6.conversion import converter as shared_converter
from v6.domain.account import AccountSnapshot
from v6.domain.alerts import Alert
from v6.domain.contract_specs import contract_spec, normalise_symbol
from v6.domain.contracts import Leg, OptionContract
from v6.domain.decisions import DecisionRecord, RegimeReading
from v6.domain.market import OptionChain
from v6.domain.orders import ComboOrder, Fill, OrderState
from v6.domain.positions import Position
from v6.market.index_roots import PM_ROOT_OF_AM_MONTHLY, listed_roots
from v6.store.schemas import CHAIN_SNAPSHOTS, TIME

Row = dict[str, Any]

# The chain_snapshots columns a chain provides; the recorder adds run_id.
CHAIN_COLUMNS = CHAIN_SNAPSHOTS.remove(CHAIN_SNAPSHOTS.get_field_index("run_id"))

_CONTRACT_FIELDS = tuple(f.name for f in attrs.fields(OptionContract))
_POSITION_FIELDS = tuple(f.name for f in attrs.fields(Position))
_LATER_TEXT_FIELDS = ("entry_regime", "exit_rule", "slot")


# One converter for YAML and rows alike (v6.conversion); pandas hands timestamps back as
# pd.Timestamp, which is a datetime subclass the shared hooks already accept.
converter = shared_converter


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, tuple | set | frozenset | np.ndarray):
        return list(value)
    raise TypeError(f"cannot store {type(value).__name__} as JSON: {value!r}")


def to_json(value: Any) -> str:
    """JSON for a nested value stored in a string column (keys sorted, stable)."""
    return json.dumps(value, default=_json_default, sort_keys=True)


# -- legs ----------------------------------------------------------------------------


def legs_json(legs: tuple[Leg, ...]) -> str:
    """A combo's legs as a JSON list of flat objects an analyst can read without V6.

    Each leg is ``{key, underlying, expiry, strike, right, multiplier, ratio}``.
    """
    return to_json(
        [
            {"key": leg.contract.key, **converter.unstructure(leg.contract), "ratio": leg.ratio}
            for leg in legs
        ]
    )


def _nested_legs(text: str) -> list[Row]:
    # The flat stored form -> the shape cattrs structures into Leg(contract, ratio).
    return [
        {"contract": {name: item[name] for name in _CONTRACT_FIELDS}, "ratio": item["ratio"]}
        for item in json.loads(text)
    ]


def legs_from_json(text: str) -> tuple[Leg, ...]:
    """The legs ``legs_json`` stored, as domain values (validated by their classes)."""
    return converter.structure(_nested_legs(text), tuple[Leg, ...])


# -- one row per record --------------------------------------------------------------


def order_row(order: ComboOrder, state: OrderState) -> Row:
    """One order event: the order as sent and what the broker last said about it.

    The limit is the state's when the broker reports one (price improvement moves it),
    else the order's.
    """
    return {
        "time": state.time,
        "order_ref": order.order_ref,
        "broker_order_id": state.broker_order_id,
        "position_id": order.position_id,
        "strategy": order.strategy,
        "underlying": order.underlying,
        "intent": order.intent.value,
        "legs": legs_json(order.legs),
        "quantity": order.quantity,
        "limit_price": order.limit_price if state.limit_price is None else state.limit_price,
        "status": state.status.value,
        "filled_quantity": state.filled_quantity,
        "remaining_quantity": state.remaining_quantity,
        "avg_fill_price": state.avg_fill_price,
        "message": state.message,
        "seq": None,  # the recorder numbers the rows it writes
    }


def fill_row(fill: Fill, position_id: str, strategy: str) -> Row:
    """One execution of one leg, with the position and strategy it belongs to."""
    contract = fill.contract
    return {
        "time": fill.time,
        "exec_id": fill.exec_id,
        "order_ref": fill.order_ref,
        "position_id": position_id,
        "strategy": strategy,
        "contract_key": contract.key,
        "underlying": contract.underlying,
        "expiry": contract.expiry,
        "strike": contract.strike,
        "right": contract.right.value,
        "multiplier": contract.multiplier,
        "quantity": fill.quantity,
        "price": fill.price,
        "commission": fill.commission,
        "cash_flow": fill.cash_flow,
        "kind": fill.kind,
    }


def position_row(position: Position, time: datetime) -> Row:
    """A position's whole state at ``time``; the latest row per position is its state."""
    row = converter.unstructure(position)
    row["legs"] = legs_json(position.legs)
    row["status"] = position.status.value
    return {"time": time, **row, "seq": None}  # the recorder numbers the rows it writes


def decision_row(record: DecisionRecord) -> Row:
    """An exit decision with the rule that made it and the inputs it saw."""
    row = converter.unstructure(record)
    row["action"] = record.action.value
    row["inputs"] = to_json(record.inputs)
    for name in ("unrealized_pnl", "pnl_fraction", "half_spread", "spot"):
        if not np.isfinite(row[name]):
            row[name] = None  # stored as null: no price to record this cycle
    row["verdicts"] = to_json(
        [
            {
                "rule": v.rule,
                "priority": v.priority,
                "action": v.action.value if v.action is not None else None,
                "reason": v.reason,
                "error": v.error,
            }
            for v in record.verdicts
        ]
    )
    return row


def account_row(snapshot: AccountSnapshot, cycle: int = 0) -> Row:
    """The account at one instant, taken by engine cycle ``cycle`` (0: outside a cycle)."""
    return {**converter.unstructure(snapshot), "cycle": cycle}


def alert_row(alert: Alert) -> Row:
    """An alert as the dashboard lists it."""
    row = converter.unstructure(alert)
    row["severity"] = alert.severity.value
    return row


def regime_row(time: datetime, reading: RegimeReading, detector: str) -> Row:
    """A regime reading for one underlying, with the evidence ``detector`` used."""
    row = converter.unstructure(reading)
    row["regime"] = reading.regime.value
    row["inputs"] = to_json(reading.inputs)
    return {"time": time, **row, "detector": detector}


# -- chains --------------------------------------------------------------------------


def chain_table(chain: OptionChain) -> pa.Table:
    """A whole chain as chain_snapshots columns (all but run_id), built from its arrays.

    ``date`` is the UTC calendar date of ``as_of``: the partition a day's replay reads.
    Quote times, multiplier, exercise style and settlement go with it, so a recorded
    sim, paper or live chain replays like an imported one. They are the root's, per
    contract: a chain carries no trading class, so an SPX, NDX or RUT contract's root is
    told by its expiry (:func:`v6.market.index_roots.listed_roots`: the AM monthly on the
    third Friday, the PM weekly SPXW, NDXP or RUTW on any other day).
    """
    n = len(chain)
    as_of = chain.as_of.astimezone(UTC)
    roots, styles, settlements = contract_styles(chain.underlying, chain.expiry)
    arrays = [
        pa.repeat(pa.scalar(as_of, type=TIME), n),
        pa.repeat(pa.scalar(chain.underlying, type=pa.string()), n),
        pa.repeat(pa.scalar(as_of.strftime("%Y-%m-%d"), type=pa.string()), n),
        pa.repeat(pa.scalar(float(chain.spot), type=pa.float64()), n),
        pa.array(chain.expiry, type=pa.date32()),
        pa.array(chain.strike, type=pa.float64()),
        pc.if_else(pa.array(chain.is_call, type=pa.bool_()), "C", "P"),
        pa.array(chain.bid, type=pa.float64()),
        pa.array(chain.ask, type=pa.float64()),
        pa.array(chain.iv, type=pa.float64()),
        pa.array(chain.delta, type=pa.float64()),
        pa.array(chain.gamma, type=pa.float64()),
        pa.array(chain.vega, type=pa.float64()),
        pa.array(chain.theta, type=pa.float64()),
        pa.array(chain.valid, type=pa.bool_()),
        # The quote times are naive UTC in the chain (datetime64[us]).
        pa.array(chain.quote_time.astype("datetime64[us]"), type=pa.timestamp("us")).cast(TIME),
        pa.repeat(pa.scalar(int(chain.multiplier), type=pa.int64()), n),
        pa.array(styles, type=pa.string()),
        pa.array(settlements, type=pa.string()),
        pa.array(roots, type=pa.string()),
        pa.repeat(pa.scalar(float(chain.dividend_yield), type=pa.float64()), n),
    ]
    return pa.Table.from_arrays(arrays, schema=CHAIN_COLUMNS)


def contract_styles(
    underlying: str, expiry: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(root, exercise style, settlement) of each expiry of ``underlying``'s options,
    object arrays of str, from one spec per distinct root."""
    days = np.asarray(expiry, dtype="datetime64[D]").astype(np.int64)
    roots = listed_roots(underlying, days)
    if normalise_symbol(underlying) not in PM_ROOT_OF_AM_MONTHLY:  # one root: one spec
        spec = contract_spec(underlying)
        n = len(roots)
        return roots, np.full(n, spec.exercise_style, object), np.full(n, spec.settlement, object)
    distinct, inverse = np.unique(roots.astype(str), return_inverse=True)
    specs = [contract_spec(underlying, root) for root in distinct.tolist()]
    style = np.array([s.exercise_style for s in specs], dtype=object)
    settle = np.array([s.settlement for s in specs], dtype=object)
    if not specs:
        return roots, style, settle
    return roots, style[inverse], settle[inverse]


# -- readers -------------------------------------------------------------------------


def in_write_order(frame: pd.DataFrame) -> pd.DataFrame:
    """State rows (orders, positions) in the order they were written.

    The recorder numbers every state row it writes (``seq``, increasing across runs:
    it starts at the wall clock in ns), so the last row written is the latest state even
    when two rows carry the same time or clocks disagree (a restart stamps its recovered
    states on the broker's clock, then cycles run on it). Rows from before ``seq``
    existed come first, ordered by time.
    """
    if "seq" not in frame:
        return frame.sort_values("time", kind="stable")
    return frame.assign(seq=frame["seq"].fillna(-1)).sort_values(["seq", "time"], kind="stable")


def positions_from_frame(frame: pd.DataFrame) -> list[Position]:
    """The latest state of every position in a ``positions`` frame, as domain values.

    The row written last wins (:func:`in_write_order`). The
    list is ordered by ``opened_at`` then ``position_id`` so a rebuilt book is
    deterministic. Nulls (a position not yet closed) come back as None.
    """
    if frame.empty:
        return []
    latest = in_write_order(frame).drop_duplicates("position_id", keep="last")
    latest = latest.sort_values(["opened_at", "position_id"], kind="stable")
    # Through Arrow so nulls arrive as None (not NaN/NaT) and times as aware datetimes.
    latest = latest.copy()
    for name in _LATER_TEXT_FIELDS:  # columns added after the first release: "" when absent
        if name not in latest:
            latest[name] = ""
    records = pa.Table.from_pandas(latest[list(_POSITION_FIELDS)], preserve_index=False)
    return [
        converter.structure(
            record
            | {"legs": _nested_legs(record["legs"])}
            | {name: record[name] or "" for name in _LATER_TEXT_FIELDS},
            Position,
        )
        for record in records.to_pylist()
    ]


def _records(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    """Rows as dicts with nulls as None and times as aware datetimes (through Arrow)."""
    return pa.Table.from_pandas(frame[columns], preserve_index=False).to_pylist()


@attrs.frozen(slots=True)
class StoredOrder:
    """An order's latest row: the order as sent and the last state V6 stored for it."""

    order: ComboOrder
    state: OrderState


def orders_from_frame(frame: pd.DataFrame) -> list[StoredOrder]:
    """The latest row of every order in an ``orders`` frame, oldest order first."""
    if frame.empty:
        return []
    frame = in_write_order(frame)
    first_seen = frame.drop_duplicates("order_ref", keep="first").set_index("order_ref")["time"]
    latest = frame.drop_duplicates("order_ref", keep="last").copy()
    latest["created_at"] = latest["order_ref"].map(first_seen)
    latest = latest.sort_values(["created_at", "order_ref"], kind="stable")
    out = []
    columns = frame.columns.drop(["run_id", "seq"], errors="ignore")
    for r in _records(latest, [*columns, "created_at"]):
        order = ComboOrder(
            order_ref=r["order_ref"],
            position_id=r["position_id"],
            strategy=r["strategy"],
            underlying=r["underlying"],
            intent=r["intent"],
            legs=legs_from_json(r["legs"]),
            quantity=r["quantity"],
            limit_price=r["limit_price"],
            created_at=r["created_at"],
        )
        state = OrderState(
            order_ref=r["order_ref"],
            status=r["status"],
            filled_quantity=r["filled_quantity"],
            remaining_quantity=r["remaining_quantity"],
            avg_fill_price=r["avg_fill_price"],
            time=r["time"],
            broker_order_id=r["broker_order_id"],
            limit_price=r["limit_price"],
            message=r["message"],
        )
        out.append(StoredOrder(order, state))
    return out


def fills_from_frame(frame: pd.DataFrame) -> list[Fill]:
    """Every fill in a ``fills`` frame as a domain value, in time order (once per exec id)."""
    if frame.empty:
        return []
    frame = frame.sort_values("time", kind="stable").drop_duplicates("exec_id", keep="first")
    out = []
    for r in _records(frame, list(frame.columns.drop("run_id", errors="ignore"))):
        contract = OptionContract(
            underlying=r["underlying"],
            expiry=r["expiry"],
            strike=r["strike"],
            right=r["right"],
            multiplier=r["multiplier"],
        )
        out.append(
            Fill(
                exec_id=r["exec_id"],
                order_ref=r["order_ref"],
                contract=contract,
                quantity=r["quantity"],
                price=r["price"],
                commission=r["commission"],
                time=r["time"],
                kind=r["kind"],
            )
        )
    return out
