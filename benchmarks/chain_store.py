"""Synthetic end-of-day chain data for the backtest benchmarks, written vectorised.

``write_chain_store``: ``days`` daily snapshots (15:45 New York) of SPY, QQQ and IWM,
each about 2,000 options (50 strikes a side x 10 expiries... see ``STRIKES``), priced
with V6's own Black-Scholes under a skewed smile along a seeded random walk.
``write_cboe_csv``: the same kind of rows as a CBOE Option EOD Summary file.
"""

from __future__ import annotations

import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.csv as pv

from v6.pricing.bsm import bsm_greeks
from v6.store.delta_store import DeltaStore
from v6.store.schemas import CHAIN_SNAPSHOTS, TIME

NEW_YORK = ZoneInfo("America/New_York")
UNDERLYINGS = {"SPY": (200.0, 0.15), "QQQ": (110.0, 0.20), "IWM": (110.0, 0.22)}
STRIKES = 50  # a side, so 101 strikes
EXPIRIES = 10  # the next ten Fridays, weekly
STEP = {"SPY": 1.0, "QQQ": 0.5, "IWM": 0.5}


def trading_days(start: date, count: int) -> list[date]:
    days, day = [], start
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def day_table(symbol: str, day: date, spot: float, vol: float) -> pa.Table:
    """One snapshot of ``symbol``: every strike x expiry x right, priced."""
    step = STEP[symbol]
    center = round(spot / step) * step
    strikes = center + step * np.arange(-STRIKES, STRIKES + 1)
    first = day + timedelta(days=(4 - day.weekday()) % 7 or 7)
    expiries = np.array([first + timedelta(weeks=i) for i in range(EXPIRIES)], "datetime64[D]")
    k, e, c = np.meshgrid(strikes, expiries, [True, False], indexing="ij")
    k, e, c = k.ravel(), e.ravel(), c.ravel()
    now = datetime.combine(day, datetime.min.time(), NEW_YORK).replace(hour=15, minute=45)
    dte = (e - np.datetime64(day, "D")).astype(np.int64)
    t = (dte + 0.01) / 365.0
    iv = np.clip(vol * (1.0 - 1.5 * np.log(k / spot)), 0.05, 2.0)
    g = bsm_greeks(spot, k, t, 0.04, 0.0, iv, c)
    half = np.maximum(0.03 * g.price, 0.01)
    bid = np.maximum(np.floor((g.price - half) * 100) / 100, 0.0)
    ask = np.ceil((g.price + half) * 100) / 100
    n = k.size
    when = pa.scalar(now, type=TIME)
    columns = {
        "time": pa.repeat(when, n),
        "underlying": pa.repeat(pa.scalar(symbol), n),
        "date": pa.repeat(pa.scalar(now.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%d")), n),
        "spot": pa.repeat(pa.scalar(spot), n),
        "expiry": pa.array(e, pa.date32()),
        "strike": pa.array(k),
        "right": pa.array(np.where(c, "C", "P")),
        "bid": pa.array(bid),
        "ask": pa.array(ask),
        "iv": pa.array(iv),
        "delta": pa.array(g.delta),
        "gamma": pa.array(g.gamma),
        "vega": pa.array(g.vega),
        "theta": pa.array(g.theta),
        "valid": pa.repeat(pa.scalar(True), n),
        "run_id": pa.repeat(pa.scalar("bench"), n),
        "quote_time": pa.repeat(when, n),
        "multiplier": pa.repeat(pa.scalar(100, pa.int64()), n),
        "exercise_style": pa.repeat(pa.scalar("american"), n),
        "settlement": pa.repeat(pa.scalar("physical"), n),
        "root": pa.repeat(pa.scalar(symbol), n),
        "dividend_yield": pa.repeat(pa.scalar(0.0), n),
    }
    return pa.table(columns).select(CHAIN_SNAPSHOTS.names)


def write_chain_store(
    root: Path, days: int, start: date = date(2015, 1, 5), seed: int = 7
) -> list[date]:
    """Write ``days`` snapshots of the three underlyings; returns the trading days."""
    rng = np.random.default_rng(seed)
    store = DeltaStore(root)
    calendar = trading_days(start, days)
    spots = {s: v[0] for s, v in UNDERLYINGS.items()}
    for i, day in enumerate(calendar):
        for symbol, (_, vol) in UNDERLYINGS.items():
            spots[symbol] *= float(np.exp(rng.normal(0.0003, vol / np.sqrt(252))))
            store.append("chain_snapshots", day_table(symbol, day, spots[symbol], vol))
        if (i + 1) % 50 == 0:
            store.flush()
    store.flush()
    return calendar


def write_cboe_csv(path: Path, rows: int, seed: int = 7) -> int:
    """A CBOE Option EOD Summary file of about ``rows`` rows; returns the row count."""
    from v6.testing.vendor_files import CBOE_HEADER

    days = trading_days(date(2016, 1, 4), 300)
    tables, total, i = [], 0, 0
    while total < rows:
        day = days[i % len(days)]
        symbol = list(UNDERLYINGS)[(i // len(days)) % 3]
        t = day_table(
            symbol, day + timedelta(days=0), UNDERLYINGS[symbol][0], UNDERLYINGS[symbol][1]
        )
        n = t.num_rows
        spot = t.column("spot")
        cols = {h: pa.repeat(pa.scalar("0"), n) for h in CBOE_HEADER}
        cols.update(
            underlying_symbol=t.column("underlying"),
            quote_date=pa.repeat(pa.scalar(f"{day.month}/{day.day}/{day.year}"), n),
            root=t.column("underlying"),
            expiration=t.column("expiry").cast(pa.string()),
            strike=t.column("strike").cast(pa.string()),
            option_type=t.column("right"),
            bid_1545=t.column("bid").cast(pa.string()),
            ask_1545=t.column("ask").cast(pa.string()),
            underlying_bid_1545=spot.cast(pa.string()),
            underlying_ask_1545=spot.cast(pa.string()),
            active_underlying_price_1545=spot.cast(pa.string()),
            implied_volatility_1545=t.column("iv").cast(pa.string()),
            delta_1545=t.column("delta").cast(pa.string()),
            gamma_1545=t.column("gamma").cast(pa.string()),
            theta_1545=t.column("theta").cast(pa.string()),
            vega_1545=t.column("vega").cast(pa.string()),
        )
        tables.append(pa.table({h: cols[h] for h in CBOE_HEADER}))
        total += n
        i += 1
    pv.write_csv(pa.concat_tables(tables), path)
    return total


if __name__ == "__main__":
    write_chain_store(Path(sys.argv[1]), int(sys.argv[2]))
