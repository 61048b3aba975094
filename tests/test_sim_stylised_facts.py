"""The simulated market has the stylised facts of US index options, measured on what it
quotes (SPY chains and VIX) over seeded two-month sessions: implied above subsequent
realised by a few vol points, spot and volatility moving against each other (in down
trends too), a VIX curve in contango when calm and inverted in stress, and overnight
gaps. docs/SIM-MARKET.md gives the figures beside published ones; ``pytest -s`` prints
them.
"""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest

from v6.config import SimBadDataSettings, SimSettings
from v6.domain.market import OptionChain
from v6.market.calendar import ExchangeCalendar
from v6.market.sim_clock import SimClock
from v6.market.sim_market import SimMarket

pytestmark = pytest.mark.slow

SEEDS = range(16)
DAYS = 42
INTERVAL = 3600  # hourly snapshots: realised variance does not depend on the sampling
START = date(2026, 1, 5)
MONTH = 21  # trading days in the 30 calendar days of a 30-day option


def atm_iv(chain: OptionChain, today: date, days: float, rate: float) -> float:
    """ATM implied volatility at ``days`` to expiry, linear in total variance between
    the listed expiries around it; ATM is the call strike nearest the forward."""
    points = []
    for expiry in np.unique(chain.expiry):
        t = (expiry.astype(object) - today).days / 365.0
        if t <= 0:
            continue
        forward = chain.spot * math.exp((rate - chain.dividend_yield) * t)
        calls = np.flatnonzero((chain.expiry == expiry) & chain.is_call)
        atm = calls[np.argmin(np.abs(chain.strike[calls] - forward))]
        points.append((t, chain.iv[atm] ** 2 * t))
    ts, variance = np.array(points).T
    target = days / 365.0
    return float(math.sqrt(np.interp(target, ts, variance) / target))


@pytest.fixture(scope="module")
def sessions() -> list[dict[str, np.ndarray]]:
    calendar = ExchangeCalendar()
    out = []
    for seed in SEEDS:
        settings = SimSettings(
            seed=seed,
            days=DAYS,
            strikes_per_side=2,
            max_dte=100,
            underlyings={"SPY": SimSettings().underlyings["SPY"]},
            bad_data=SimBadDataSettings.off(),
        )
        sim = SimMarket(settings, ["SPY"], calendar)
        clock = SimClock(calendar, START, DAYS, INTERVAL)
        rows = []
        while (now := clock.next_cycle()) is not None:
            view = sim.snapshot(now)
            today = calendar.trading_date(now)
            chain = view.chains["SPY"]
            rate = settings.risk_free_rate
            rows.append(
                (
                    math.log(view.underlyings["SPY"].last),
                    view.vix,
                    atm_iv(chain, today, 30, rate),
                    atm_iv(chain, today, 91, rate),
                    sim.true_regime,
                    sim.trend_direction,
                    today.toordinal(),
                )
            )
        names = ("log_spot", "vix", "iv30", "iv91", "regime", "sign", "day")
        out.append({n: np.array(c) for n, c in zip(names, zip(*rows, strict=True), strict=True)})
    return out


def closes(s: dict[str, np.ndarray]) -> np.ndarray:
    """Index of each session's last snapshot."""
    return np.flatnonzero(np.r_[s["day"][1:] != s["day"][:-1], True])


def test_implied_sits_a_few_vol_points_above_the_volatility_realised_after_it(sessions):
    implied, realised = [], []
    for s in sessions:
        r = np.diff(s["log_spot"])
        ends = closes(s)
        for j in range(len(ends) - MONTH):
            later = r[ends[j] : ends[j + MONTH]]  # the next 21 sessions, nights included
            implied.append(s["iv30"][ends[j]])
            realised.append(math.sqrt(np.sum(later**2) * 252 / MONTH))
    implied, realised = np.array(implied), np.array(realised)
    premium = 100 * (implied.mean() - realised.mean())
    print(
        f"\n30-day ATM IV {100 * implied.mean():.1f}, realised over the next 21 sessions "
        f"{100 * realised.mean():.1f}: premium {premium:.2f} points, median "
        f"{100 * np.median(implied - realised):.2f}, implied above realised "
        f"{np.mean(implied > realised):.0%} of days"
    )
    assert 2.0 <= premium <= 4.0
    assert np.mean(implied > realised) > 0.6


def test_spot_down_means_volatility_up_in_trends_too(sessions):
    r = np.concatenate([np.diff(s["log_spot"]) for s in sessions])
    dv = np.concatenate([np.diff(s["vix"]) for s in sessions])
    hourly = np.corrcoef(r, dv)[0, 1]
    daily_r, daily_v = [], []
    for s in sessions:
        ends = closes(s)
        daily_r.append(np.diff(s["log_spot"][ends]))
        daily_v.append(np.diff(s["vix"][ends]))
    daily = np.corrcoef(np.concatenate(daily_r), np.concatenate(daily_v))[0, 1]
    # In down-trending hours VIX rises on average; in up-trending hours it falls.
    sign = np.concatenate([s["sign"][1:] for s in sessions])
    down, up = sign < 0, sign > 0
    print(
        f"\ncorr(return, VIX change): hourly {hourly:.2f}, daily {daily:.2f}; mean VIX change "
        f"per hour in down trends {dv[down].mean():+.2f} ({down.sum()} hours), up trends "
        f"{dv[up].mean():+.2f} ({up.sum()} hours)"
    )
    assert hourly < -0.4 and daily < -0.3
    assert down.sum() > 20 and dv[down].mean() > 0 > dv[up].mean()


def test_the_vix_curve_is_in_contango_when_calm_and_inverted_in_stress(sessions):
    regime = np.concatenate([s["regime"] for s in sessions])
    contango = np.concatenate([s["iv30"] < s["iv91"] for s in sessions])
    calm = regime == "calm"
    stress = np.isin(regime, ["high_vol", "crash"])
    overall = contango.mean()
    print(
        f"\n30-day below 91-day ATM IV: calm {contango[calm].mean():.0%} of {calm.sum()}, "
        f"high_vol/crash inverted {(~contango[stress]).mean():.0%} of {stress.sum()}, "
        f"all {overall:.0%}"
    )
    assert contango[calm].mean() > 0.8
    assert (~contango[stress]).mean() > 0.8
    assert 0.7 < overall < 0.95  # VIX futures: contango on about 80% of days


def test_the_open_gaps_now_and_then(sessions):
    gaps, steps = [], []
    for s in sessions:
        r = np.diff(s["log_spot"])
        new_day = s["day"][1:] != s["day"][:-1]
        gaps.append(r[new_day])
        steps.append(r[~new_day])
    gaps, steps = np.concatenate(gaps), np.concatenate(steps)
    # A night carries about a fifth of a day's variance, a trading hour about an eighth:
    # the open moves more than an hour does, and by over 1% on some mornings.
    big = np.mean(np.abs(gaps) > 0.01)
    print(
        f"\novernight sd {100 * gaps.std():.2f}%, hourly sd {100 * steps.std():.2f}%, "
        f"opens beyond 1%: {big:.1%} of {len(gaps)}"
    )
    assert gaps.std() > 1.2 * steps.std()
    assert 0.01 < big < 0.25
