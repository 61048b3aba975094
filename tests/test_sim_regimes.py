"""The simulator's regimes are findable and its market has the stylised facts of US index
options: the built-in detector (default settings, not tuned to the simulator) names each
regime in most of its cycles; VIX falls below 13 in quiet years; implied volatility sits
above realised on average; spot and volatility move against each other; volatility
clusters; the VIX curve is in contango when calm and inverted in stress. The confusion
table is printed (``pytest -s``) and its figures are in docs/SIM-MARKET.md.
"""

from __future__ import annotations

import collections
from datetime import date

import numpy as np
import pandas as pd
import pytest
from v6_plugins.regimes import volatility_regime

from v6.config import SimSettings
from v6.engine.history import HistoryRecorder
from v6.market.calendar import ExchangeCalendar
from v6.market.sim_clock import SimClock
from v6.market.sim_market import SimMarket
from v6.market.vol_surface import atm_vol, surface_levels

pytestmark = pytest.mark.slow

SYMBOLS = ["SPY", "QQQ", "IWM"]
START = date(2026, 1, 5)
# The detected regimes that count as recognising each simulated one. Calm is whatever
# the detector calls an untroubled market: normal, range-bound or low-vol.
RECOGNISED = {
    "calm": {"normal", "range_bound", "low_vol"},
    "trending": {"trending"},
    "high_vol": {"high_vol"},
    "crash": {"crash"},
}
CYCLES_PER_SESSION = 27


@pytest.fixture(scope="module")
def calendar() -> ExchangeCalendar:
    return ExchangeCalendar()


def detected(calendar, seed: int, force: str | None, days: int) -> list[tuple[str, str]]:
    """(true, detected) regime per underlying and cycle, after the first session: the
    detector needs a session of history before it can measure a trend."""
    sim = SimMarket(SimSettings(seed=seed, days=days, force_regime=force), SYMBOLS, calendar)
    clock = SimClock(calendar, START, days, 900)
    history = HistoryRecorder(SYMBOLS)
    settings = volatility_regime.Settings()
    previous: dict = {}
    pairs = []
    n = 0
    while (now := clock.next_cycle()) is not None:
        view = sim.snapshot(now)
        previous = volatility_regime.v6_detect_regime(
            market=view, history=history.record(view), previous=previous, settings=settings
        )
        n += 1
        if n > CYCLES_PER_SESSION:
            pairs.extend((sim.true_regime, r.regime.value) for r in previous.values())
    return pairs


def confusion(pairs: list[tuple[str, str]]) -> pd.DataFrame:
    return pd.Series(collections.Counter(pairs)).unstack(fill_value=0)


def recognised(table: pd.DataFrame, regime: str) -> float:
    row = table.loc[regime]
    return float(row[[c for c in row.index if c in RECOGNISED[regime]]].sum() / row.sum())


def test_the_default_detector_recognises_every_simulated_regime(calendar):
    pairs = []
    for force in RECOGNISED:
        for seed in range(3):
            pairs.extend(detected(calendar, seed, force, days=3))
    table = confusion(pairs)
    print("\ntrue regime (rows) x detected (columns), forced 3-day sessions, 3 seeds:")
    print(table.to_string())
    for regime in RECOGNISED:
        assert recognised(table, regime) > 0.5, regime
    # False alarms are rare: a calm market is almost never called stressed or trending.
    assert recognised(table, "calm") > 0.9


def test_regimes_switch_in_free_sessions_and_low_vol_occurs(calendar):
    seen, vix = set(), []
    for seed in range(20):  # each seed draws its own volatility climate
        sim = SimMarket(SimSettings(seed=seed, days=6), ["SPY"], calendar)
        clock = SimClock(calendar, START, 6, 3600)
        while (now := clock.next_cycle()) is not None:
            view = sim.snapshot(now)
            seen.add(sim.true_regime)
            if sim.true_regime == "calm":
                vix.append(view.vix)
    assert {"calm", "trending", "high_vol"} <= seen
    vix = np.array(vix)
    assert (vix < 13.0).mean() > 0.03  # low_vol is reachable (detector: VIX <= 13)
    assert np.median(vix) < 20.0


def test_implied_above_realised_leverage_effect_and_clustering(calendar):
    spots, vixes = [], []
    for seed in range(6):
        sim = SimMarket(SimSettings(seed=seed, days=20), ["SPY"], calendar)
        clock = SimClock(calendar, START, 20, 900)
        path, vix = [], []
        while (now := clock.next_cycle()) is not None:
            view = sim.snapshot(now)
            path.append(view.underlyings["SPY"].last)
            vix.append(view.vix)
        spots.append(np.array(path))
        vixes.append(np.array(vix))
    r = np.concatenate([np.diff(np.log(s)) for s in spots])
    dv = np.concatenate([np.diff(v) for v in vixes])
    # Leverage effect: spot down, volatility up.
    assert np.corrcoef(r, dv)[0, 1] < -0.3
    # Variance risk premium: VIX above the volatility SPY then realises (all steps, gaps
    # included, annualised over the 252-day year of 27 cycles a day).
    realised = np.std(r) * np.sqrt(252 * CYCLES_PER_SESSION)
    assert np.mean(np.concatenate(vixes)) / 100 > realised
    # Clustering: large moves follow large moves.
    a = np.abs(r)
    assert np.corrcoef(a[1:], a[:-1])[0, 1] > 0.05


def test_the_vix_curve_is_in_contango_when_calm_and_inverted_in_stress():
    calm_front, calm_back = surface_levels(0.13, 0.13)
    crash_front, crash_back = surface_levels(0.13 * 3.3, 0.13)
    one_month, three_months = 30 / 365, 91 / 365
    assert atm_vol(calm_front, calm_back, one_month) < atm_vol(calm_front, calm_back, three_months)
    assert atm_vol(crash_front, crash_back, one_month) > atm_vol(
        crash_front, crash_back, three_months
    )


def test_a_sim_run_stores_the_true_regime_beside_the_detected_one(tmp_path):
    from sessions import run, sim_config, table

    cfg = sim_config(tmp_path / "store", days=1)
    run(cfg, cycles=4)
    truth = table(cfg, "sim_truth")
    detected = table(cfg, "regimes")
    assert len(truth) == 4 and set(truth.regime) <= set(RECOGNISED)
    assert set(truth.time) == set(detected.time)
    assert (truth.vol_level > 0).all() and (truth.skew_multiplier > 0).all()
