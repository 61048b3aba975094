"""The numbers a trader reads after a backtest, computed from the tables it wrote.

Formulas (docs/BACKTEST.md):

* equity is ``account_snapshots.net_liquidation`` after every cycle; the daily equity is
  the last value of each New York date, and daily returns are its changes, the first
  measured from the starting cash;
* total return = final equity / starting cash - 1; total P&L = final equity - starting
  cash (commissions included);
* CAGR = (final equity / starting cash) ** (365.25 / calendar days) - 1, over the
  calendar days from the first snapshot to the last (at least one);
* max drawdown = the largest fall from a running peak of the per-cycle equity, as a
  share of that peak (and in dollars);
* Sharpe = mean / sample standard deviation of daily excess returns (over
  ``risk.risk_free_rate`` / 252) x sqrt(252); Sortino uses the downside deviation,
  sqrt(mean(min(excess, 0) ** 2)), instead. Both are None with fewer than two daily
  returns or no variation;
* a trade is a position whose entry filled; win rate = closed trades with a positive
  realised P&L (net of commissions) / closed trades; average credit = the mean net
  credit per share of the trades opened for a credit.
"""

from __future__ import annotations

import math
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from v6.store.delta_store import DeltaStore
from v6.store.rows import in_write_order

NEW_YORK = ZoneInfo("America/New_York")
TRADING_DAYS = 252


def _number(value: float) -> float | None:
    """A JSON-safe number: None for NaN or infinity (NaN is never a number)."""
    return float(value) if math.isfinite(value) else None


def equity_curve(account: pd.DataFrame) -> pd.Series:
    """Net liquidation after each cycle, by time (the last row of each cycle)."""
    if account.empty:
        return pd.Series(dtype=float)
    frame = account.sort_values(["time", "cycle"], kind="stable")
    return frame.groupby("time", sort=True)["net_liquidation"].last()


def daily_returns(curve: pd.Series, initial: float) -> np.ndarray:
    if curve.empty:
        return np.empty(0)
    days = curve.index.tz_convert(NEW_YORK).date
    closes = curve.groupby(days).last().to_numpy(dtype=float)
    values = np.concatenate([[initial], closes])
    return values[1:] / values[:-1] - 1.0


def drawdown(curve: pd.Series) -> pd.Series:
    """The fall from the running peak, as a share of the peak, after each cycle."""
    peak = curve.cummax()
    return (peak - curve) / peak


def ratios(returns: np.ndarray, risk_free_rate: float) -> tuple[float, float]:
    """(Sharpe, Sortino) of daily returns, annualised with sqrt(252); NaN if undefined."""
    if returns.size < 2:
        return float("nan"), float("nan")
    excess = returns - risk_free_rate / TRADING_DAYS
    std = float(np.std(excess, ddof=1))
    sharpe = float(np.mean(excess)) / std * math.sqrt(TRADING_DAYS) if std > 1e-12 else math.nan
    downside = float(np.sqrt(np.mean(np.minimum(excess, 0.0) ** 2)))
    sortino = (
        float(np.mean(excess)) / downside * math.sqrt(TRADING_DAYS)
        if downside > 1e-12
        else math.nan
    )
    return sharpe, sortino


def final_positions(positions: pd.DataFrame) -> pd.DataFrame:
    """The last state of every position (the row written last wins)."""
    if positions.empty:
        return positions
    return in_write_order(positions).drop_duplicates("position_id", keep="last")


def trades_of(positions: pd.DataFrame) -> pd.DataFrame:
    """Positions whose entry filled (an entry cancelled unfilled is no trade)."""
    latest = final_positions(positions)
    if latest.empty:
        return latest
    filled = latest["exit_rule"].fillna("") != "unfilled"
    return latest[filled & (latest["status"] != "opening")]


def _by(frame: pd.DataFrame, column: str) -> dict[str, float]:
    if frame.empty:
        return {}
    keys = frame[column].fillna("none").replace("", "none")
    sums = frame.groupby(keys)["realized_pnl"].sum()
    return {str(k): round(float(v), 2) for k, v in sorted(sums.items())}


def summarise(
    frames: dict[str, pd.DataFrame], initial_cash: float, risk_free_rate: float
) -> dict[str, Any]:
    """The backtest summary from its tables (``account_snapshots``, ``positions``)."""
    curve = equity_curve(frames["account_snapshots"])
    final = float(curve.iloc[-1]) if not curve.empty else initial_cash
    returns = daily_returns(curve, initial_cash)
    sharpe, sortino = ratios(returns, risk_free_rate)
    if curve.empty:
        days = 1.0
    else:
        days = max((curve.index[-1] - curve.index[0]).total_seconds() / 86400.0, 1.0)
    growth = final / initial_cash
    cagr = growth ** (365.25 / days) - 1.0 if growth > 0 else -1.0
    dd = drawdown(curve) if not curve.empty else pd.Series(dtype=float)
    dd_dollars = (curve.cummax() - curve) if not curve.empty else pd.Series(dtype=float)
    trades = trades_of(frames["positions"])
    closed = trades[trades["status"] == "closed"] if not trades.empty else trades
    wins = int((closed["realized_pnl"] > 0).sum()) if not closed.empty else 0
    credits = -trades["entry_price"][trades["entry_price"] < 0] if not trades.empty else []
    exits = (
        {
            str(k): int(v)
            for k, v in sorted(closed["exit_rule"].fillna("none").value_counts().items())
        }
        if not closed.empty
        else {}
    )
    return {
        "start": curve.index[0].isoformat() if not curve.empty else None,
        "end": curve.index[-1].isoformat() if not curve.empty else None,
        "cycles": len(curve),
        "initial_cash": round(initial_cash, 2),
        "final_equity": round(final, 2),
        "total_pnl": round(final - initial_cash, 2),
        "total_return": _number(growth - 1.0),
        "cagr": _number(cagr),
        "max_drawdown": _number(float(dd.max()) if not dd.empty else 0.0),
        "max_drawdown_dollars": round(float(dd_dollars.max()) if not dd.empty else 0.0, 2),
        "sharpe": _number(sharpe),
        "sortino": _number(sortino),
        "trades": len(trades),
        "closed_trades": len(closed),
        "open_trades": int(len(trades) - len(closed)),
        "win_rate": _number(wins / len(closed)) if len(closed) else None,
        "average_credit": _number(float(np.mean(credits))) if len(credits) else None,
        "realized_pnl": round(float(closed["realized_pnl"].sum()) if len(closed) else 0.0, 2),
        "commissions": round(float(trades["commissions"].sum()) if len(trades) else 0.0, 2),
        "pnl_by_strategy": _by(closed, "strategy"),
        "pnl_by_regime": _by(closed, "entry_regime"),
        "pnl_by_exit_rule": _by(closed, "exit_rule"),
        "exits_by_rule": exits,
    }


def read_frames(store: DeltaStore, run_id: str) -> dict[str, pd.DataFrame]:
    """The tables a summary and a report read, this run's rows only."""
    only = [("run_id", "=", run_id)]
    return {
        "account_snapshots": store.read(
            "account_snapshots", columns=["time", "net_liquidation", "cycle"], filters=only
        ),
        "positions": store.read("positions", filters=only),
        "regimes": store.read(
            "regimes", columns=["time", "underlying", "regime", "detector"], filters=only
        ),
    }
