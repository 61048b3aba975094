"""Audit a store's order tables for what a crash must never leave behind.

Used by the crash tests and the kill harness (``make killtest``): after a process is
killed at any instant, every row that names another row must find it (an opening order
its position's prediction too), an order stored
filled must have its fills, and a closed position's realised P&L must equal the cash of
its fills to the cent. A position row may *lag* its fills (they are committed first);
that is a stale state recovery repairs, not an orphan, and is not reported here.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from v6.store.delta_store import DeltaStore
from v6.store.rows import in_write_order


def audit(store: DeltaStore) -> list[str]:
    """Every inconsistency found, one line each (an empty list is a clean store)."""
    orders = in_write_order(store.read("orders"))
    fills = store.read("fills")
    positions = in_write_order(store.read("positions"))
    problems: list[str] = []
    position_ids = set(positions["position_id"])
    order_refs = set(orders["order_ref"])

    for ref, pid in orders.drop_duplicates("order_ref")[["order_ref", "position_id"]].itertuples(
        index=False
    ):
        if pid not in position_ids:
            problems.append(f"order {ref}: no row for its position {pid}")
    trades = fills[fills["kind"] != "expiration"]
    attributed = trades[trades["position_id"] != ""]
    for row in attributed[~attributed["order_ref"].isin(order_refs)].itertuples(index=False):
        problems.append(f"fill {row.exec_id}: no row for its order {row.order_ref}")
    owned = fills[fills["position_id"] != ""]
    for row in owned[~owned["position_id"].isin(position_ids)].itertuples(index=False):
        problems.append(f"fill {row.exec_id}: no row for its position {row.position_id}")
    problems += _predictions_out_of_place(orders, position_ids, store.read("predictions"))
    problems += _filled_without_fills(orders, trades)
    problems += _closed_pnl_mismatches(positions, owned)
    if not fills.empty and fills["exec_id"].duplicated().any():
        twice = sorted(set(fills.loc[fills["exec_id"].duplicated(), "exec_id"]))
        problems.append(f"fills booked twice: {', '.join(twice[:5])}")
    return problems


def _predictions_out_of_place(
    orders: pd.DataFrame, position_ids: set[str], predictions: pd.DataFrame
) -> list[str]:
    """An opening order whose position has no prediction (it is committed before the
    order), or a prediction whose position has no row (the position's comes first)."""
    predicted = set(predictions["position_id"])
    opened = orders.loc[orders["intent"] == "open", "position_id"].drop_duplicates()
    problems = [
        f"position {pid}: opening order stored without its prediction"
        for pid in opened[~opened.isin(predicted)]
    ]
    problems += [
        f"prediction for {pid}: no row for its position" for pid in sorted(predicted - position_ids)
    ]
    return problems


def _filled_without_fills(orders: pd.DataFrame, trades: pd.DataFrame) -> list[str]:
    """Orders whose latest stored state claims more units than their stored fills hold."""
    latest = orders.drop_duplicates("order_ref", keep="last")
    claimed = latest[latest["filled_quantity"] > 0]
    shares = trades.groupby(["order_ref", "contract_key"])["quantity"].apply(
        lambda q: int(np.abs(q).sum())
    )
    problems = []
    for row in claimed.itertuples(index=False):
        for leg in json.loads(row.legs):
            ratio = abs(int(leg["ratio"]))
            have = int(shares.get((row.order_ref, leg["key"]), 0))
            if have < row.filled_quantity * ratio:
                problems.append(
                    f"order {row.order_ref} stored {row.status} x{row.filled_quantity} but "
                    f"{leg['key']} has {have} of {row.filled_quantity * ratio} shares filled"
                )
                break
    return problems


def _closed_pnl_mismatches(positions: pd.DataFrame, fills: pd.DataFrame) -> list[str]:
    """Closed positions whose realised P&L is not the cash of their fills, to the cent."""
    latest = positions.drop_duplicates("position_id", keep="last")
    closed = latest[latest["status"] == "closed"]
    cash = fills.groupby("position_id")["cash_flow"].sum()
    problems = []
    for row in closed.itertuples(index=False):
        expected = round(float(cash.get(row.position_id, 0.0)), 2)
        if abs(expected - row.realized_pnl) > 0.005:
            problems.append(
                f"position {row.position_id}: realised {row.realized_pnl:.2f} but its fills' "
                f"cash is {expected:.2f}"
            )
    return problems
