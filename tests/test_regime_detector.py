"""The built-in regime detector: six regimes from their evidence, precedence, hysteresis,
dwell, and what the simulator's hidden regimes look like through it."""

from __future__ import annotations

import functools
import itertools
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import timedelta

import attrs
import numpy as np
import pytest
from builders import NOW, chain, market
from v6_plugins.regimes import volatility_regime as detector

from v6.config_loader import load_config
from v6.conversion import structure
from v6.domain.decisions import Regime, RegimeReading
from v6.domain.market import MarketHistory, MarketView, OptionChain
from v6.engine.history import HistoryRecorder
from v6.errors import ConfigError
from v6.market import sim_regimes
from v6.market.calendar import ExchangeCalendar
from v6.market.sim_clock import SimClock
from v6.market.sim_market import SimMarket

FLAT = {10: 0.20, 52: 0.20}  # DTE -> ATM IV: a flat term structure
STEP = np.timedelta64(15, "m")
SESSION_START = np.datetime64("2026-01-06T14:45", "us")
ARRAYS = [
    f.name for f in attrs.fields(OptionChain) if f.name not in ("underlying", "as_of", "spot")
]
ARRAYS.remove("multiplier")
ARRAYS.remove("dividend_yield")


# -- hand-made markets ---------------------------------------------------------------------


def curve(ivs: Mapping[int, float] = FLAT, call_shift: Mapping[int, float] | None = None):
    """SPY at 100 with one expiry per DTE in ``ivs``, every option of an expiry at its IV.

    ``call_shift`` adds that many dollars to the calls of an expiry, moving the
    put-call-parity forward up by as much.
    """
    parts, iv = [], []
    for dte, vol in ivs.items():
        part = chain("SPY", expiry=NOW.date() + timedelta(days=dte))
        shift = (call_shift or {}).get(dte, 0.0) * part.is_call
        part = attrs.evolve(part, bid=part.bid + shift, ask=part.ask + shift)
        parts.append(part)
        iv.append(np.full(len(part), vol))
    return stack(parts, iv=np.concatenate(iv))


def stack(parts: list[OptionChain], **overrides: np.ndarray) -> OptionChain:
    arrays = {name: np.concatenate([getattr(p, name) for p in parts]) for name in ARRAYS}
    arrays.update(overrides)
    return OptionChain(underlying="SPY", as_of=NOW, spot=parts[0].spot, **arrays)


def trend_returns(t: float, n: int = 26, sigma: float = 1e-3) -> np.ndarray:
    """``n`` 15-minute log returns whose trend t-statistic is exactly ``t``.

    Alternating +-sigma noise around a constant drift: the sample sd is the noise's, so
    the drift sets t, and the efficiency ratio comes out as t / sqrt(n - 1).
    """
    noise = sigma * np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    sd = sigma * np.sqrt(n / (n - 1))
    return t * sd / np.sqrt(n) + noise


def history(
    returns: Iterable[float] = (),
    vix: Iterable[float] = (18.0,),
    atm_iv: float = 0.20,
    gap_at: int | None = None,
) -> MarketHistory:
    """SPY closes every 15 minutes from 100 along ``returns``; a 17-hour overnight gap
    before close number ``gap_at`` if given. ``vix`` is the recent VIX path (last = now)."""
    r = np.asarray(list(returns), dtype=float)
    spots = 100.0 * np.exp(np.concatenate([[0.0], np.cumsum(r)]))
    times = SESSION_START + STEP * np.arange(spots.size)
    if gap_at is not None:
        times[gap_at:] += np.timedelta64(17, "h")
    return MarketHistory(
        times=times,
        spots={"SPY": spots},
        atm_iv={"SPY": np.full(spots.size, atm_iv)},
        vix=np.asarray(list(vix), dtype=float),
    )


def cycle(
    vix: float = 18.0,
    t: float | None = None,
    ivs: Mapping[int, float] = FLAT,
    vix_path: Iterable[float] | None = None,
    returns: Iterable[float] | None = None,
) -> tuple[MarketView, MarketHistory]:
    """One cycle's market and history: VIX, a trend of t-statistic ``t`` (or ``returns``)
    and the SPY term structure ``ivs``."""
    steps = trend_returns(t) if t is not None else (returns if returns is not None else ())
    return market(curve(ivs), vix=vix), history(steps, vix_path or [vix])


def detect(
    view: MarketView,
    hist: MarketHistory,
    previous: RegimeReading | None = None,
    **overrides: float,
) -> RegimeReading:
    readings = detector.v6_detect_regime(
        market=view,
        history=hist,
        previous={} if previous is None else {"SPY": previous},
        settings=detector.Settings(**overrides),
    )
    return readings["SPY"]


def run(cycles: Iterable[tuple[MarketView, MarketHistory]], **overrides) -> list[RegimeReading]:
    """Readings cycle after cycle, each fed the previous one, as the engine does."""
    readings: list[RegimeReading] = []
    for view, hist in cycles:
        readings.append(detect(view, hist, readings[-1] if readings else None, **overrides))
    return readings


def names(readings: list[RegimeReading]) -> list[str]:
    return [r.regime.value for r in readings]


def flips(readings: list[RegimeReading]) -> int:
    return sum(a.regime is not b.regime for a, b in itertools.pairwise(readings))


# -- each regime from its own evidence -------------------------------------------------


@pytest.mark.parametrize(
    ("evidence", "expected"),
    [
        ({"vix": 40.0}, Regime.CRASH),
        ({"vix": 20.0, "vix_path": [15.0, 15.2, 20.0]}, Regime.CRASH),  # +33% jump
        ({"vix": 27.0, "ivs": {10: 0.32, 52: 0.20}}, Regime.CRASH),  # 1.6 inverted
        ({"vix": 27.0}, Regime.HIGH_VOL),
        ({"vix": 18.0, "ivs": {10: 0.24, 52: 0.20}}, Regime.HIGH_VOL),  # 1.2 inverted
        ({"vix": 18.0, "returns": trend_returns(0.0, sigma=0.006)}, Regime.HIGH_VOL),
        ({"vix": 18.0, "t": 3.5}, Regime.TRENDING),
        ({"vix": 18.0, "t": -3.5}, Regime.TRENDING),  # a fall is a trend too
        ({"vix": 11.0}, Regime.LOW_VOL),
        ({"vix": 18.0, "t": 0.0}, Regime.RANGE_BOUND),
        ({"vix": 18.0, "t": 1.5}, Regime.NORMAL),
        ({"vix": 18.0}, Regime.NORMAL),
    ],
)
def test_each_regime_is_produced_by_the_evidence_for_it(evidence, expected):
    assert detect(*cycle(**evidence)).regime is expected


@pytest.mark.parametrize(
    ("evidence", "expected"),
    [
        ({"vix": 40.0, "t": 3.5, "ivs": {10: 0.24, 52: 0.20}}, Regime.CRASH),
        ({"vix": 27.0, "t": 3.5}, Regime.HIGH_VOL),
        ({"vix": 18.0, "t": 3.5, "ivs": {10: 0.24, 52: 0.20}}, Regime.HIGH_VOL),
        ({"vix": 11.0, "t": 3.5}, Regime.TRENDING),
        ({"vix": 11.0, "t": 0.0}, Regime.LOW_VOL),
        ({"vix": 18.0, "t": 0.0}, Regime.RANGE_BOUND),
    ],
)
def test_the_most_severe_regime_the_evidence_supports_wins(evidence, expected):
    assert detect(*cycle(**evidence)).regime is expected


def test_reason_reads_like_a_trader_note_with_the_numbers_behind_it():
    reading = detect(*cycle(vix=18.2, t=3.1))
    assert reading.reason.startswith("VIX 18.2; IV term 1.00; ")
    assert "trend t=3.1 eff=0.62 over 26 cycles" in reading.reason
    assert reading.reason.endswith("-> trending")
    assert reading.inputs["trend_t"] == pytest.approx(3.1)
    assert reading.inputs["trend_efficiency"] == pytest.approx(3.1 / 5.0)


# -- trend measurement ------------------------------------------------------------------


def test_an_overnight_gap_is_not_a_trend():
    flat_days = trend_returns(0.0, n=26)
    flat_days[20] += 0.03  # the step across the night carries a 3% gap
    reading = detect(market(curve(), vix=18.0), history(flat_days, gap_at=21))
    assert reading.inputs["trend_samples"] == 25
    assert abs(reading.inputs["trend_t"]) < 0.5
    assert reading.regime is not Regime.TRENDING


def test_a_single_jump_is_not_a_trend_though_it_looks_efficient():
    steps = trend_returns(0.0, sigma=1e-4)
    steps[-1] += 0.01
    reading = detect(*cycle(returns=steps))
    assert reading.inputs["trend_efficiency"] > 0.7
    assert reading.inputs["trend_t"] < 1.5
    assert reading.regime is Regime.NORMAL


def test_a_slow_drift_buried_in_chop_is_not_a_trend_however_significant():
    long_window = {"trend_window": 100, "min_trend_samples": 100}
    view, hist = market(curve(), vix=18.0), history(trend_returns(3.0, n=100))
    chop = detect(view, hist, **long_window)
    assert chop.inputs["trend_t"] == pytest.approx(3.0)
    assert chop.inputs["trend_efficiency"] < 0.35
    assert chop.regime is Regime.NORMAL
    laxer = detect(view, hist, trend_efficiency=0.25, efficiency_hysteresis=0.02, **long_window)
    assert laxer.regime is Regime.TRENDING


# -- hysteresis and dwell ---------------------------------------------------------------


def test_vix_hovering_at_a_band_edge_does_not_flip_the_regime():
    below = [cycle(vix=v) for v in (22.0, 25.6, 24.5, 25.8, 24.4, 25.5, 24.6)]
    above = [cycle(vix=v) for v in (27.0, 24.6, 25.3, 24.2, 25.1, 24.3, 25.4)]
    for path in (below, above):
        assert flips(run(path)) == 0
        # The same path flips every cycle without hysteresis and dwell: the test can fail.
        assert flips(run(path, hysteresis=0.0, min_dwell_cycles=1)) == len(path) - 1


def test_vix_crossing_decisively_changes_the_regime_up_at_once_and_down_after_the_dwell():
    readings = run(cycle(vix=v) for v in (18.0, 27.0, 27.0, 22.0, 22.0, 22.0, 22.0))
    assert names(readings) == ["normal"] + ["high_vol"] * 4 + ["normal"] * 2


def test_a_trend_t_stat_hovering_at_its_threshold_does_not_flip_the_regime():
    hovering = [cycle(t=t) for t in (1.5, 1.5, 2.6, 2.3, 2.7, 2.2, 2.6, 2.4, 2.8, 2.1)]
    readings = run(hovering)
    assert flips(readings) == 1
    assert readings[-1].regime is Regime.TRENDING
    no_hysteresis = {"trend_t_hysteresis": 0.0, "efficiency_hysteresis": 0.0}
    assert flips(run(hovering, min_dwell_cycles=1, **no_hysteresis)) == len(hovering) - 2


def test_a_trend_crossing_decisively_is_entered_and_left_after_the_dwell():
    readings = run(cycle(t=t) for t in [1.5] * 3 + [3.5] * 4 + [1.0] * 4)
    assert names(readings) == ["normal"] * 5 + ["trending"] * 4 + ["normal"] * 2


def test_range_bound_is_left_only_once_the_tape_is_clearly_directional():
    no_dwell = {"min_dwell_cycles": 1}  # the range band's own hysteresis, alone
    path = [cycle(t=t) for t in (0.0, 0.9, 0.9, 1.2)]  # efficiency 0, 0.18, 0.18, 0.24
    assert names(run(path, **no_dwell)) == ["range_bound"] * 3 + ["normal"]
    assert detect(*cycle(t=0.9)).regime is Regime.NORMAL  # not entered from scratch


def test_dwell_counter_counts_the_new_classification_and_resets_when_it_breaks():
    readings = run(cycle(t=t) for t in (1.5, 3.5, 3.5, 1.5, 3.5, 3.5, 3.5))
    assert names(readings) == ["normal"] * 6 + ["trending"]
    assert [r.inputs["candidate_cycles"] for r in readings] == [0, 1, 2, 0, 1, 2, 0]
    pending = readings[2]
    assert detector.PRECEDENCE[int(pending.inputs["candidate_regime"])] is Regime.TRENDING
    assert pending.reason.endswith("-> trending for 2 of 3 cycles, still normal")


def test_dwell_length_is_a_setting():
    path = [cycle(t=t) for t in [1.5] + [3.5] * 5]
    assert names(run(path, min_dwell_cycles=5)) == ["normal"] * 5 + ["trending"]
    assert names(run(path, min_dwell_cycles=1)) == ["normal"] + ["trending"] * 5


@pytest.mark.parametrize(
    "stress",
    [
        {"vix": 40.0, "t": 3.5},
        {"vix": 24.0, "vix_path": [18.0, 18.0, 24.0], "t": 3.5},  # a VIX jump
        {"vix": 18.0, "t": 3.5, "ivs": {10: 0.24, 52: 0.20}},  # backwardation
    ],
)
def test_escalation_into_stress_is_immediate_even_with_a_change_pending(stress):
    readings = run([cycle(t=1.5), cycle(t=3.5), cycle(**stress)])
    assert readings[1].inputs["candidate_cycles"] == 1  # trending was pending
    assert readings[2].regime in (Regime.CRASH, Regime.HIGH_VOL)


def test_stepping_down_from_crash_waits_for_the_dwell():
    readings = run(cycle(vix=v) for v in (40.0, 30.0, 30.0, 30.0))
    assert names(readings) == ["crash", "crash", "crash", "high_vol"]


# -- term structure ---------------------------------------------------------------------


@pytest.mark.parametrize("evidence", [{"vix": 11.0}, {"vix": 18.0}, {"vix": 18.0, "t": 3.5}])
def test_term_structure_backwardation_raises_to_high_vol(evidence):
    inverted = detect(*cycle(ivs={10: 0.24, 52: 0.20}, **evidence))
    assert inverted.regime is Regime.HIGH_VOL
    assert inverted.inputs["term_ratio"] == pytest.approx(1.2)
    assert "IV term 10d/52d 1.20 inverted" in inverted.reason
    assert detect(*cycle(ivs={10: 0.21, 52: 0.20}, **evidence)).regime is not Regime.HIGH_VOL


def test_strong_backwardation_is_a_crash_only_with_vix_at_high_vol_levels():
    deep = {10: 0.32, 52: 0.20}
    assert detect(*cycle(vix=27.0, ivs=deep)).regime is Regime.CRASH
    assert detect(*cycle(vix=18.0, ivs=deep)).regime is Regime.HIGH_VOL


def test_backwardation_is_left_only_once_the_curve_has_clearly_flattened():
    no_dwell = {"min_dwell_cycles": 1}
    path = [{10: 0.24, 52: 0.20}, {10: 0.214, 52: 0.20}, {10: 0.206, 52: 0.20}]
    assert names(run((cycle(ivs=ivs) for ivs in path), **no_dwell)) == [
        "high_vol",
        "high_vol",  # 1.07 is within the 0.05 margin
        "normal",
    ]
    assert detect(*cycle(ivs=path[1])).regime is Regime.NORMAL  # 1.07 from scratch


def test_term_structure_skips_the_last_days_of_an_expiry():
    reading = detect(*cycle(ivs={2: 0.90, 10: 0.20, 52: 0.20}))
    assert reading.inputs["term_ratio"] == pytest.approx(1.0)
    assert reading.regime is Regime.NORMAL


def test_term_structure_reads_valid_quotes_only():
    chain_ = curve({10: 0.20, 52: 0.20})
    bad = (chain_.expiry == chain_.expiry.min()) & (chain_.strike == 100.0)
    poisoned = attrs.evolve(chain_, iv=np.where(bad, 3.0, chain_.iv)).with_validity(~bad)
    reading = detect(market(poisoned, vix=18.0), history())
    assert reading.inputs["term_ratio"] == pytest.approx(1.0)


def test_term_structure_is_read_at_the_money_of_the_forward_not_the_spot():
    near = NOW.date() + timedelta(days=10)
    base = curve({10: 0.20, 52: 0.15}, call_shift={10: 5.0})  # near forward at 105
    skew = np.where(base.strike == 105.0, 0.15, 0.20)
    skewed = attrs.evolve(base, iv=np.where(base.expiry == np.datetime64(near), skew, base.iv))
    reading = detect(market(skewed, vix=18.0), history())
    assert reading.inputs["term_ratio"] == pytest.approx(1.0)  # 0.15 at 105 over 0.15


# -- missing and bad data ---------------------------------------------------------------


def _no_chain() -> tuple[MarketView, MarketHistory]:
    view, hist = cycle(vix=18.0)
    return attrs.evolve(view, chains={}), hist


def _frozen_price() -> tuple[MarketView, MarketHistory]:
    return market(curve(), vix=18.0), history(np.zeros(26))


def _nan_everything() -> tuple[MarketView, MarketHistory]:
    inverted = curve({10: 0.4, 52: 0.2})
    nan_chain = attrs.evolve(inverted, iv=np.full(len(inverted), np.nan))
    hist = history(trend_returns(3.5), vix=[np.nan] * 5)
    hist = attrs.evolve(
        hist, spots={"SPY": np.full(27, np.nan)}, atm_iv={"SPY": np.full(27, np.nan)}
    )
    return market(nan_chain, vix=float("nan")), hist


@pytest.mark.parametrize(
    "make",
    [
        _nan_everything,
        _frozen_price,
        _no_chain,
        lambda: cycle(returns=trend_returns(3.5)[:10]),  # too few samples for a trend
        lambda: cycle(vix=float("nan"), vix_path=[np.nan, 15.0, np.nan]),
        lambda: cycle(ivs={10: 0.40}),  # one expiry: no term structure
        lambda: (
            market(curve({10: 0.4, 52: 0.2}).with_validity(np.zeros(20, bool)), vix=18.0),
            history(),
        ),
    ],
)
def test_missing_or_unmeasurable_data_never_makes_a_crash_or_a_trend(make):
    reading = detect(*make())
    assert reading.regime not in (Regime.CRASH, Regime.HIGH_VOL, Regime.TRENDING)
    assert set(reading.inputs) >= {"vix", "term_ratio", "trend_t", "candidate_cycles"}


def test_a_missing_vix_keeps_the_stress_it_last_saw():
    readings = run([cycle(vix=27.0)] + [cycle(vix=float("nan"))] * 4)
    assert names(readings) == ["high_vol"] * 5
    assert readings[-1].reason.startswith("VIX unavailable")


def test_missing_data_after_a_trend_does_not_keep_a_stale_trend_alive():
    readings = run([cycle(t=3.5), cycle(returns=())], min_dwell_cycles=1)
    assert names(readings) == ["trending", "normal"]
    assert np.isnan(readings[-1].inputs["trend_t"])


# -- settings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        {"trend_efficiency": 0.2},  # overlaps the range band
        {"term_crash_ratio": 1.05},  # below the backwardation threshold
        {"min_trend_samples": 30},  # more than the window holds
        {"trend_t": 1.2},  # no room between range and trend
        {"term_far_min_dte": 3},  # far leg nearer than the near leg
        {"min_dwell_cycles": 0},
    ],
)
def test_inconsistent_settings_are_refused_with_the_key_path(raw):
    with pytest.raises(ConfigError) as raised:
        structure(detector.Settings, raw, path="plugins.regime.volatility_regime.settings")
    assert raised.value.path.startswith("plugins.regime.volatility_regime.settings")


# -- through the simulator --------------------------------------------------------------

SEEDS = (1, 2, 3)
CALENDAR = ExchangeCalendar()


def simulate(force_regime: str, seed: int, days: int = 2) -> Counter[str]:
    """Regimes the detector reads over ``days`` of 15-minute cycles of a forced sim market,
    counted over every cycle and underlying."""
    config = load_config(None)
    settings = attrs.evolve(config.sim, force_regime=force_regime, seed=seed)
    symbols = list(config.underlyings)
    sim = SimMarket(settings, symbols, CALENDAR)
    clock = SimClock(CALENDAR, settings.start, days, config.cycle.interval_seconds)
    recorder = HistoryRecorder(symbols)
    previous: dict[str, RegimeReading] = {}
    seen: Counter[str] = Counter()
    while (now := clock.next_cycle()) is not None:
        view = sim.snapshot(now)
        previous = detector.v6_detect_regime(
            market=view,
            history=recorder.record(view),
            previous=previous,
            settings=detector.Settings(),
        )
        seen.update(r.regime.value for r in previous.values())
    return seen


@functools.cache
def simulated(force_regime: str, seed: int) -> Counter[str]:
    return simulate(force_regime, seed)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_simulated_crash_is_read_as_a_crash(seed):
    seen = simulated("crash", seed)
    assert seen["crash"] > sum(seen.values()) / 2


@pytest.mark.parametrize("seed", SEEDS)
def test_a_simulated_high_vol_market_is_read_as_stressed(seed):
    seen = simulated("high_vol", seed)
    assert seen["high_vol"] + seen["crash"] > sum(seen.values()) / 2


@pytest.mark.parametrize("seed", SEEDS)
def test_a_simulated_calm_market_is_never_a_crash_nor_high_vol(seed):
    seen = simulated("calm", seed)
    assert seen["crash"] == seen["high_vol"] == 0
    assert seen["normal"] + seen["range_bound"] > sum(seen.values()) / 2


@pytest.mark.parametrize("seed", SEEDS)
def test_a_simulated_trend_day_is_read_as_trending(seed, monkeypatch):
    """The simulator's own trending drift (40% a year) moves SPY about 0.13% a session
    against 0.9% of intraday noise: a t-statistic near 0.14 per session, invisible to any
    detector. So the trend here is one a trader would call a strong trend day, about 3% a
    session (drift 10 a trading-time year, t about 3.4 per session), and it must be read
    far more often than in the calm market with the same noise (same seed)."""
    trending = attrs.evolve(sim_regimes.REGIME_PARAMS["trending"], drift=10.0)
    monkeypatch.setitem(sim_regimes.REGIME_PARAMS, "trending", trending)
    seen = simulate("trending", seed)
    assert seen["trending"] >= 2 * max(simulated("calm", seed)["trending"], 5)
    assert seen["crash"] == 0
