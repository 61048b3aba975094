"""Vendor end-of-day option files made from a known market, for tests and benchmarks.

Prices are Black-Scholes-Merton values of a smile around a volatility path, quoted with a
spread, so a backtest over them has answers a test can compute by hand. ``shock_day``
makes a real volatility shock: the underlying gaps down and implied volatility jumps
(near expiries more than far ones, as in every real crash).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
from attrs import frozen

from v6.pricing.bsm import bsm_greeks, bsm_price

NEW_YORK = ZoneInfo("America/New_York")

CBOE_HEADER = [
    "underlying_symbol",
    "quote_date",
    "root",
    "expiration",
    "strike",
    "option_type",
    "open",
    "high",
    "low",
    "close",
    "trade_volume",
    "bid_size_1545",
    "bid_1545",
    "ask_size_1545",
    "ask_1545",
    "underlying_bid_1545",
    "underlying_ask_1545",
    "active_underlying_price_1545",
    "implied_volatility_1545",
    "delta_1545",
    "gamma_1545",
    "theta_1545",
    "vega_1545",
    "rho_1545",
    "open_interest",
]
HOD_HEADER = [
    "underlying",
    "underlying_last",
    "exchange",
    "optionroot",
    "optionext",
    "type",
    "expiration",
    "quotedate",
    "strike",
    "last",
    "bid",
    "ask",
    "volume",
    "openinterest",
    "impliedvol",
    "delta",
    "gamma",
    "theta",
    "vega",
    "optionalias",
]


@frozen
class Quote:
    """One option quote of one day."""

    underlying: str
    root: str
    day: date
    spot: float
    expiry: date
    strike: float
    is_call: bool
    bid: float
    ask: float
    iv: float
    delta: float
    gamma: float
    theta: float
    vega: float


def weekdays(start: date, count: int) -> list[date]:
    """``count`` weekdays from ``start`` (holidays are not skipped: test data)."""
    days, day = [], start
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def fridays_after(day: date, count: int, step_weeks: int = 1) -> list[date]:
    first = day + timedelta(days=(4 - day.weekday()) % 7 or 7)
    return [first + timedelta(weeks=i * step_weeks) for i in range(count)]


def market_quotes(
    symbol: str,
    days: Sequence[date],
    *,
    spot: float = 100.0,
    vol: float = 0.16,
    strikes_per_side: int = 10,
    strike_step: float = 1.0,
    expiries: int = 3,
    expiry_step_weeks: int = 1,
    shock_day: int | None = None,
    shock_drop: float = 0.08,
    shock_vol: float = 3.0,
    daily_drift: float = 0.0005,
    spread: float = 0.04,
    root: str | None = None,
    rate: float = 0.04,
) -> list[Quote]:
    """Quotes of ``symbol`` for every day of ``days``: a fixed strike grid around the
    first day's spot, the next ``expiries`` Fridays (every ``expiry_step_weeks``)."""
    out: list[Quote] = []
    s, level = spot, vol
    # One strike grid for the whole period, around the first day's spot: a contract
    # listed one day is listed the next (a test drops rows to make strikes come and go).
    center = round(spot / strike_step) * strike_step
    strikes = center + strike_step * np.arange(-strikes_per_side, strikes_per_side + 1)
    for i, day in enumerate(days):
        if shock_day is not None and i == shock_day:
            s *= 1.0 - shock_drop
            level = vol * shock_vol
        elif shock_day is not None and i > shock_day:
            level = max(vol, level * 0.85)  # the shock fades
            s *= 1.0 + daily_drift
        elif i:
            s *= 1.0 + daily_drift
        for expiry in fridays_after(day - timedelta(days=1), expiries, expiry_step_weeks):
            if expiry < day:
                continue
            close = datetime.combine(expiry, datetime.min.time(), NEW_YORK).replace(hour=16)
            now = datetime.combine(day, datetime.min.time(), NEW_YORK).replace(hour=15, minute=45)
            t = max((close - now).total_seconds(), 60.0) / (365.0 * 86400)
            dte = (expiry - day).days
            term = 1.0 + (level / vol - 1.0) * (0.6 if dte > 14 else 1.0)
            for is_call in (True, False):
                moneyness = np.log(strikes / s)
                iv = vol * term * (1.0 - 1.2 * moneyness)
                iv = np.clip(iv, 0.05, 3.0)
                price = bsm_price(s, strikes, t, rate, 0.0, iv, is_call)
                g = bsm_greeks(s, strikes, t, rate, 0.0, iv, is_call)
                half = np.maximum(spread * price, 0.01)
                bid = np.maximum(np.floor((price - half) * 100) / 100, 0.0)
                ask = np.ceil((price + half) * 100) / 100
                for j, k in enumerate(strikes):
                    out.append(
                        Quote(
                            symbol,
                            root or symbol,
                            day,
                            round(s, 2),
                            expiry,
                            float(k),
                            is_call,
                            float(bid[j]),
                            float(ask[j]),
                            float(iv[j]),
                            float(g.delta[j]),
                            float(g.gamma[j]),
                            float(g.theta[j]),
                            float(g.vega[j]),
                        )
                    )
    return out


def write_cboe(path: Path, quotes: Sequence[Quote], *, us_dates: bool = False) -> Path:
    """A CBOE DataShop Option EOD Summary file of ``quotes``."""

    def fmt(d: date) -> str:
        return f"{d.month}/{d.day}/{d.year}" if us_dates else d.isoformat()

    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CBOE_HEADER)
        for q in quotes:
            writer.writerow(
                [
                    "^" + q.underlying if q.underlying in ("SPX", "NDX", "RUT") else q.underlying,
                    fmt(q.day),
                    q.root,
                    fmt(q.expiry),
                    f"{q.strike:.3f}",
                    "c" if q.is_call else "p",
                    0,
                    0,
                    0,
                    0,
                    0,
                    10,
                    f"{q.bid:.2f}",
                    10,
                    f"{q.ask:.2f}",
                    f"{q.spot - 0.01:.2f}",
                    f"{q.spot + 0.01:.2f}",
                    f"{q.spot:.2f}",
                    f"{q.iv:.4f}",
                    f"{q.delta:.4f}",
                    f"{q.gamma:.4f}",
                    f"{q.theta:.4f}",
                    f"{q.vega:.4f}",
                    0,
                    100,
                ]
            )
    return path


def write_hod(path: Path, quotes: Sequence[Quote], *, timestamps: bool = True) -> Path:
    """A historicaloptiondata.com file of ``quotes`` (dates as ``1/4/2016 0:00:00``)."""

    def fmt(d: date) -> str:
        return f"{d.month}/{d.day}/{d.year} 0:00:00" if timestamps else d.isoformat()

    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HOD_HEADER)
        for q in quotes:
            symbol = (
                f"{q.root}{q.expiry:%y%m%d}{'C' if q.is_call else 'P'}{int(q.strike * 1000):08d}"
            )
            writer.writerow(
                [
                    q.underlying,
                    f"{q.spot:.2f}",
                    "*",
                    symbol,
                    "",
                    "call" if q.is_call else "put",
                    fmt(q.expiry),
                    fmt(q.day),
                    f"{q.strike:g}",
                    0,
                    f"{q.bid:.2f}",
                    f"{q.ask:.2f}",
                    0,
                    100,
                    f"{q.iv:.4f}",
                    f"{q.delta:.4f}",
                    f"{q.gamma:.4f}",
                    f"{q.theta:.4f}",
                    f"{q.vega:.4f}",
                    "",
                ]
            )
    return path
