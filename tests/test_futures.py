"""Index futures as leading indicators in sim: the roll, CME's maintenance break, the
weekend and a holiday, each read back from a real ``futures_snapshots`` Delta table; the
readings in the market view detectors and strategies get; the opt-in futures evidence
of the volatility regime; and ``v6 futures correlate`` recovering the simulated lead
(and finding none without one) as a real process."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta
from types import MappingProxyType

import attrs
import pandas as pd
import pytest
from sessions import engine_for, run, sim_config, table
from v6_process import v6

from v6.app import sim_futures
from v6.config_loader import load_config
from v6.domain.decisions import Regime
from v6.domain.futures import FuturesReading
from v6.domain.plugins import PluginInfo, PluginKind
from v6.engine.recorder import Recorder
from v6.futures.contracts import front_contract, quarterly_contracts
from v6.futures.hours import FuturesHours
from v6.hookspecs import hookimpl
from v6.market.calendar import ExchangeCalendar
from v6.market.sim_market import SimMarket
from v6.store.delta_store import DeltaStore

ET_OFFSET_WINTER = timedelta(hours=5)
SYMBOLS = ["SPY", "QQQ", "IWM"]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def drive(tmp_path, start: date, times: list[datetime]):
    """The sim market and the futures observer of ``v6 run`` driven at ``times``; every
    snapshot row written through the Recorder to a real Delta table and read back."""
    cfg = load_config(None)
    cfg = attrs.evolve(cfg, sim=attrs.evolve(cfg.sim, start=start))
    market = SimMarket(cfg.sim, SYMBOLS, ExchangeCalendar())
    observer = sim_futures(cfg, market)
    store = DeltaStore(tmp_path / "store")
    recorder = Recorder(store, cfg.store, "test-run")
    observations = []
    for t in times:
        observation = observer.observe(t, market.snapshot(t))
        recorder.futures(observation.rows)
        observations.append(observation)
    recorder.flush()
    frame = DeltaStore(tmp_path / "store").read("futures_snapshots")
    return frame.sort_values(["symbol", "time"]).reset_index(drop=True), observations


def es(frame: pd.DataFrame) -> pd.DataFrame:
    rows = frame[frame.symbol == "ES"].set_index("time")
    rows.index = rows.index.tz_convert(UTC)
    return rows


def pct(now: float, ref: float) -> float:
    return (now / ref - 1.0) * 100.0


# -- contracts and the roll rule ------------------------------------------------------------


def test_quarterly_contracts_expire_on_third_fridays_with_cme_month_codes():
    cme = FuturesHours().cme
    listed = quarterly_contracts("ES", date(2026, 1, 5), 4, cme)
    assert [(c.local_symbol, c.expiry) for c in listed] == [
        ("ESH6", date(2026, 3, 20)),
        ("ESM6", date(2026, 6, 19)),
        ("ESU6", date(2026, 9, 18)),
        ("ESZ6", date(2026, 12, 18)),
    ]


def test_front_contract_rolls_seven_calendar_days_before_expiry():
    listed = quarterly_contracts("ES", date(2026, 3, 1), 3, FuturesHours().cme)
    assert front_contract(listed, date(2026, 3, 12), 7).local_symbol == "ESH6"
    assert front_contract(listed, date(2026, 3, 13), 7).local_symbol == "ESM6"
    assert front_contract(listed, date(2026, 3, 19), 0).local_symbol == "ESH6"


def test_a_roll_names_the_new_contract_and_the_changes_do_not_jump(tmp_path):
    # Thursday 2026-03-12 reads ESH6; Friday 03-13 is seven days before the 03-20 expiry.
    thursday = [utc(2026, 3, 12, 19, 0) + timedelta(minutes=15 * i) for i in range(5)]
    friday = [utc(2026, 3, 13, 13, 45) + timedelta(minutes=15 * i) for i in range(5)]
    frame, _ = drive(tmp_path, date(2026, 3, 12), thursday + friday)
    rows = es(frame)
    assert set(rows.loc[thursday, "local_symbol"]) == {"ESH6"}
    assert set(rows.loc[friday, "local_symbol"]) == {"ESM6"}
    assert set(rows.loc[friday, "expiry"]) == {date(2026, 6, 19)}
    ratios = rows["roll_ratio"]
    roll = friday[0]
    assert (ratios.drop(roll) == 1.0).all()
    # June over March at one instant: three more months of carry at r - q = 2.7% a year.
    assert 1.004 < ratios[roll] < 1.010
    # The changes at and after the roll compare like with like: the old contract's
    # price is scaled by the ratio. The raw comparison would show the carry as a move.
    at = friday[4]  # 14:45 UTC: one trading hour back is 13:45, the roll's own snapshot
    assert rows.loc[at, "change_1h"] == pytest.approx(
        pct(rows.loc[at, "price"], rows.loc[roll, "price"])
    )
    overnight = rows.loc[roll, "change_overnight"]  # vs Thursday 20:00 UTC (16:00 ET)
    adjusted = pct(rows.loc[roll, "price"], rows.loc[thursday[4], "price"] * ratios[roll])
    raw = pct(rows.loc[roll, "price"], rows.loc[thursday[4], "price"])
    assert overnight == pytest.approx(adjusted)
    assert abs(raw - adjusted) > 0.4  # what a naive series would have called a move
    spy = rows.loc[roll, "etf_price"] / rows.loc[thursday[4], "etf_price"] - 1
    assert abs(overnight / 100 - spy) < 0.01  # the future tracks its ETF across the roll


# -- CME's maintenance break, the weekend, a holiday ------------------------------------------


def test_nothing_is_fetched_in_the_maintenance_break_and_data_resumes_after(tmp_path):
    # Monday 2026-01-05: 16:00-16:45 ET, the 17:00-18:00 ET break, then 18:00-18:30 ET.
    before = [utc(2026, 1, 5, 21, 0) + timedelta(minutes=15 * i) for i in range(4)]
    inside = [utc(2026, 1, 5, 22, 15), utc(2026, 1, 5, 22, 30), utc(2026, 1, 5, 22, 45)]
    after = [utc(2026, 1, 5, 23, 0), utc(2026, 1, 5, 23, 15), utc(2026, 1, 5, 23, 30)]
    frame, observations = drive(tmp_path, date(2026, 1, 5), before + inside + after)
    rows = es(frame)
    assert list(rows.index) == before + after  # no snapshot inside the break
    shut = observations[len(before) : len(before) + len(inside)]
    assert all(not o.fetched and not o.rows and not o.alerts for o in shut)
    assert all(not r.market_open for o in shut for r in o.readings.values())
    assert set(shut[0].readings) == set(SYMBOLS)  # the last readings, marked shut
    resumed = observations[len(before) + len(inside)]
    assert resumed.fetched and {r["symbol"] for r in resumed.rows} == {"ES", "NQ", "RTY"}
    # One trading hour before 18:15 ET is 16:15 ET: the break is not trading time.
    assert rows.loc[after[1], "change_1h"] == pytest.approx(
        pct(rows.loc[after[1], "price"], rows.loc[before[1], "price"])
    )


def test_changes_span_the_weekend_in_trading_time(tmp_path):
    friday = [utc(2026, 1, 9, 15, 0), utc(2026, 1, 9, 20, 45), utc(2026, 1, 9, 21, 0)]
    saturday = [utc(2026, 1, 10, 15, 0)]
    sunday = [utc(2026, 1, 11, 22, 45), utc(2026, 1, 11, 23, 15)]  # closed, then open
    monday = [utc(2026, 1, 12, 14, 45), utc(2026, 1, 12, 15, 0)]
    frame, observations = drive(tmp_path, date(2026, 1, 9), friday + saturday + sunday + monday)
    rows = es(frame)
    assert list(rows.index) == friday + sunday[1:] + monday
    assert not observations[3].fetched and not observations[4].fetched
    # Sunday 18:15 ET: an hour of trading back is Friday 16:15 ET (no snapshot there; the
    # 16:00 ET one is within a cycle of trading time of it).
    sun = sunday[1]
    assert rows.loc[sun, "change_1h"] == pytest.approx(
        pct(rows.loc[sun, "price"], rows.loc[friday[2], "price"])
    )
    # Monday 9:45 ET: overnight from Friday's regular close; nothing an hour back.
    mon = monday[0]
    assert rows.loc[mon, "change_overnight"] == pytest.approx(
        pct(rows.loc[mon, "price"], rows.loc[friday[2], "price"])
    )
    assert math.isnan(rows.loc[mon, "change_1h"])
    # Monday 10:00 ET: one CME trading day (23 h) back is Friday 10:00 ET.
    assert rows.loc[monday[1], "change_daily"] == pytest.approx(
        pct(rows.loc[monday[1], "price"], rows.loc[friday[0], "price"])
    )


def test_overnight_change_spans_christmas_from_the_early_close(tmp_path):
    # Thursday 2026-12-24 closes at 13:00 ET (18:00 UTC); Friday 12-25 is a holiday.
    eve = [utc(2026, 12, 24, 17, 45), utc(2026, 12, 24, 18, 0)]
    holiday = [utc(2026, 12, 25, 16, 0)]
    monday = [utc(2026, 12, 28, 14, 45)]
    frame, observations = drive(tmp_path, date(2026, 12, 21), eve + holiday + monday)
    rows = es(frame)
    assert list(rows.index) == eve + monday
    assert not observations[2].fetched and observations[2].alerts == []
    mon = monday[0]
    assert rows.loc[mon, "change_overnight"] == pytest.approx(
        pct(rows.loc[mon, "price"], rows.loc[eve[1], "price"])
    )
    assert rows.loc[mon, "local_symbol"] == "ESH7"  # Dec 18 has expired, March is front


# -- what plugins see -----------------------------------------------------------------------


class FuturesWatcher:
    """A regime detector that records the futures it is shown (and classifies nothing)."""

    def __init__(self) -> None:
        self.seen: list[object] = []

    @hookimpl
    def v6_plugin_info(self) -> PluginInfo:
        return PluginInfo(name="futures_watcher", kind=PluginKind.REGIME, summary="test")

    @hookimpl
    def v6_detect_regime(self, market, previous):
        from v6.domain.decisions import RegimeReading

        self.seen.append(market.futures)
        return {
            s: RegimeReading(underlying=s, regime=Regime.NORMAL, reason="test", inputs={})
            for s in market.underlyings
        }


def test_detectors_get_an_immutable_futures_mapping_by_etf(tmp_path):
    cfg = sim_config(tmp_path / "store", days=1)
    from v6.testing.sessions import with_plugins

    cfg = with_plugins(
        cfg,
        regime={"volatility_regime": {}, "futures_watcher": {}},
        regime_driver="volatility_regime",
    )
    watcher = FuturesWatcher()
    engine, clock = engine_for(cfg, extra_plugins=[("futures_watcher", watcher)])
    try:
        for _ in range(3):
            engine.run_cycle(clock.next_cycle())
    finally:
        engine.close()
    futures = watcher.seen[-1]
    assert isinstance(futures, MappingProxyType) and set(futures) == set(SYMBOLS)
    reading = futures["SPY"]
    assert isinstance(reading, FuturesReading)
    assert (reading.future, reading.local_symbol, reading.market_open) == ("ES", "ESH6", True)
    assert 9.5 * 590 < reading.price < 10.5 * 590
    with pytest.raises(TypeError):
        futures["SPY"] = reading  # type: ignore[index]
    stored = table(cfg, "futures_snapshots")
    assert len(stored) == 3 * 3 and set(stored.local_symbol) == {"ESH6", "NQH6", "RTYH6"}


def test_futures_off_means_no_mapping_and_no_table(tmp_path):
    cfg = sim_config(tmp_path / "store", days=1)
    cfg = attrs.evolve(cfg, futures=attrs.evolve(cfg.futures, enabled=False))
    watcher = FuturesWatcher()
    from v6.testing.sessions import with_plugins

    cfg = with_plugins(cfg, regime={"futures_watcher": {}})
    engine, clock = engine_for(cfg, extra_plugins=[("futures_watcher", watcher)])
    try:
        engine.run_cycle(clock.next_cycle())
    finally:
        engine.close()
    assert watcher.seen == [None]
    assert table(cfg, "futures_snapshots").empty


def _reading(change_overnight: float | None) -> FuturesReading:
    return FuturesReading(
        future="ES",
        etf="SPY",
        local_symbol="ESH6",
        expiry=date(2026, 3, 20),
        price=5900.0,
        bid=5899.75,
        ask=5900.0,
        time=utc(2026, 1, 6, 14, 45),
        change_1h=None,
        change_4h=None,
        change_overnight=change_overnight,
        change_daily=None,
    )


@pytest.mark.parametrize(
    ("drop_pct", "overnight", "stressed"),
    [(None, -5.0, False), (1.5, -1.0, False), (1.5, -2.0, True), (1.5, None, False)],
)
def test_volatility_regime_reads_an_overnight_futures_drop_only_when_configured(
    drop_pct, overnight, stressed
):
    import numpy as np

    from plugins.regimes import volatility_regime as vr
    from v6.domain.market import MarketHistory
    from v6.testing.markets import chain, market

    view = attrs.evolve(market(chain()), futures=MappingProxyType({"SPY": _reading(overnight)}))
    empty = np.empty(0)
    history = MarketHistory(times=empty, spots={"SPY": empty}, atm_iv={"SPY": empty}, vix=empty)
    settings = vr.Settings(futures_overnight_drop_pct=drop_pct)
    reading = vr.v6_detect_regime(view, history, {}, settings)["SPY"]
    assert (reading.regime is Regime.HIGH_VOL) is stressed
    assert ("ES" in reading.reason) is stressed


# -- v6 futures correlate --------------------------------------------------------------------


@pytest.fixture(scope="module", params=[2, 0], ids=["lead2", "lead0"])
def correlated_store(request, tmp_path_factory):
    """A real seeded three-day sim run with the futures leading by ``lead`` cycles."""
    store = tmp_path_factory.mktemp(f"lead{request.param}") / "store"
    cfg = sim_config(store, days=3)
    cfg = attrs.evolve(
        cfg,
        underlyings=["SPY", "QQQ"],
        futures=attrs.evolve(cfg.futures, contracts=cfg.futures.contracts[:2]),
        sim=attrs.evolve(cfg.sim, futures=attrs.evolve(cfg.sim.futures, lead_cycles=request.param)),
    )
    run(cfg)
    return request.param, store


def test_correlate_recovers_the_simulated_lead(correlated_store):
    lead, store = correlated_store
    result = v6("futures", "correlate", "--store", str(store), "--max-lag", "4", "--json",
                cwd=store.parent)  # fmt: skip
    assert result.returncode == 0, result.stderr
    pairs = json.loads(result.stdout)
    assert [(p["future"], p["etf"]) for p in pairs] == [("ES", "SPY"), ("NQ", "QQQ")]
    for p in pairs:
        assert p["best_lag"] == lead
        assert p["correlation"] > 0.8
        if lead:  # the future's move predicts the ETF's move `lead` cycles later
            assert p["horizon"] == lead and p["hit_rate"] > 0.8 and p["ic"] > 0.7
        else:  # nothing to predict: no other lag correlates, the next move is no better
            # than a coin toss (a few dozen test pairs: the band is wide, but the lead-2
            # run's hit rate and IC are far outside it)
            others = [abs(c) for k, c in p["by_lag"].items() if k != "0"]
            assert max(others) < 0.3
            assert p["hit_rate"] < 0.75 and p["ic"] < 0.5
        assert p["test_samples"] >= 15


def test_correlate_figures_equal_a_direct_pandas_computation(correlated_store):
    _, store = correlated_store
    result = v6("futures", "correlate", "--store", str(store), "--json", cwd=store.parent)
    spy = next(p for p in json.loads(result.stdout) if p["etf"] == "SPY")
    rows = DeltaStore(store).read("futures_snapshots")
    rows = rows[rows.symbol == "ES"].sort_values("time")
    f = pd.Series(rows.price.to_numpy()).pipe(lambda p: (p / p.shift(1)).map(math.log))
    e = pd.Series(rows.etf_price.to_numpy()).pipe(lambda p: (p / p.shift(1)).map(math.log))
    for k in (-1, 0, 1, 2, 3):
        assert spy["by_lag"][str(k)] == pytest.approx(f.corr(e.shift(-k)), abs=1e-9)


def test_correlate_exits_0_every_time_it_reads_the_partitioned_table(correlated_store):
    # A reader of a partitioned table must not abort at exit (docs: delta-rs #2184).
    lead, store = correlated_store
    if lead:
        return  # one store is enough
    statuses = [
        v6("futures", "correlate", "--store", str(store), cwd=store.parent).returncode
        for _ in range(5)
    ]
    assert statuses == [0] * 5


def test_correlate_on_a_store_without_futures_says_so(tmp_path):
    store = tmp_path / "store"
    cfg = sim_config(store, days=1)
    cfg = attrs.evolve(cfg, futures=attrs.evolve(cfg.futures, enabled=False))
    run(cfg, cycles=1)
    text = v6("futures", "correlate", "--store", str(store), cwd=tmp_path)
    assert text.returncode == 0 and "no futures snapshots" in text.stdout
    as_json = v6("futures", "correlate", "--store", str(store), "--json", cwd=tmp_path)
    assert as_json.returncode == 0 and json.loads(as_json.stdout) == []


@pytest.mark.parametrize(
    "args",
    [
        ["futures", "correlate", "--max-lag", "0"],
        ["futures", "correlate", "--max-lag", "many"],
        ["futures", "correlate", "--max-lag", "100000"],
        ["futures", "correlate", "--store", "nowhere"],
        ["futures"],
        ["futures", "predict"],
    ],
)
def test_correlate_usage_errors_are_one_line_and_exit_2(tmp_path, args):
    result = v6(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("v6: ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
