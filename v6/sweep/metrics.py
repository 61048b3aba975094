"""The summary metrics a sweep can rank by (``--rank-by``), without pandas: the ``v6``
argument parser lists them, and every command builds that parser."""

from __future__ import annotations

RANK_METRICS = ("sharpe", "sortino", "total_pnl", "cagr", "win_rate", "max_drawdown", "trades")
LOWER_IS_BETTER = frozenset({"max_drawdown"})
