"""Every live position's Greeks and mark, stored once per cycle (``position_risk``).

The risk phase measures the book every cycle for the rules and the entry checks; this
keeps what it measured, with each open position's mark at mid, so the dashboard can show
the portfolio's Greeks against their limits and each position's value over time without
repricing anything. A position the risk pass could not value (``valid`` False) has its
Greeks stored as null, never the zeros the risk pass carries for it, so no sum can mistake
it for a flat position. Vectorised over the book: one mark pass, one Arrow table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from v6.domain.market import MarketView
from v6.domain.positions import PositionStatus
from v6.engine.marks import mark_positions
from v6.store.schemas import POSITION_RISK

if TYPE_CHECKING:
    from v6.engine.cycle import Engine

TABLE = "position_risk"


def _finite(values: list[float] | np.ndarray) -> pa.Array:
    array = np.asarray(values, dtype=np.float64)
    return pa.array(array, mask=~np.isfinite(array), type=pa.float64())


def record(engine: Engine, view: MarketView) -> None:
    """Buffer one row per position in this cycle's risk (stored with the next flush)."""
    risk = engine.risk
    if not len(risk):
        return
    index = {pid: i for i, pid in enumerate(risk.position_ids)}
    positions = [
        p
        for p in engine.book.positions([PositionStatus.OPEN, PositionStatus.CLOSING])
        if p.position_id in index
    ]
    if not positions:
        return
    marks = mark_positions(positions, view)
    at = np.array([index[m.position.position_id] for m in marks], dtype=np.int64)
    n = len(marks)
    valued = risk.valid[at]  # an unvalued position's Greeks are unknown (null), never 0

    def greek(values: np.ndarray) -> pa.Array:
        return _finite(np.where(valued, values[at], np.nan))

    columns = {
        "time": pa.array([view.time] * n, type=POSITION_RISK.field("time").type),
        "position_id": [m.position.position_id for m in marks],
        "strategy": [m.position.strategy for m in marks],
        "underlying": [m.position.underlying for m in marks],
        "spot": _finite([m.spot for m in marks]),
        "mark": _finite([m.close_mid for m in marks]),
        "unrealized_pnl": _finite([m.unrealized_pnl for m in marks]),
        "pnl_fraction": _finite([m.pnl_fraction_of_max_profit for m in marks]),
        "dte": [m.dte for m in marks],
        "delta": greek(risk.delta),
        "beta_delta": greek(risk.beta_delta),
        "gamma": greek(risk.gamma),
        "vega": greek(risk.vega),
        "theta": greek(risk.theta),
        "max_loss": risk.max_loss[at],
        "valid": valued & np.array([m.quotes_valid for m in marks], dtype=bool),
        "run_id": [engine.recorder.run_id] * n,
    }
    engine.recorder.store.append(TABLE, pa.table(columns, schema=POSITION_RISK))
