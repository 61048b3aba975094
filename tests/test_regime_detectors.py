"""Several regime detectors at once: every reading stored with its detector, one of them
driving exits, and every plugin able to see them all.

Each test registers small scripted detectors (and, where needed, a strategy, an exit
rule or a strike selector that records what it is handed) with the real plugin manager
and runs the engine on the seeded simulated market, on a store in ``tmp_path``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest

from v6.domain.decisions import Regime, RegimeReading
from v6.domain.entries import NoSelection
from v6.domain.market import MarketView
from v6.domain.plugins import PluginInfo, PluginKind
from v6.engine.cycle import LIVE
from v6.engine.regimes import EXPIRE_AFTER
from v6.errors import ConfigError
from v6.hookspecs import hookimpl
from v6.testing.sessions import run_sim_session, sim_config, sim_engine, with_plugins

UNDERLYINGS = ("SPY", "QQQ", "IWM")


class Scripted:
    """A detector reading ``script(cycle)`` for every underlying; it keeps the ``previous``
    readings it was handed, per call."""

    def __init__(self, name: str, script: Any) -> None:
        self.name = name
        self.script = script
        self.calls = 0
        self.previous: list[dict[str, RegimeReading]] = []

    @hookimpl
    def v6_plugin_info(self) -> PluginInfo:
        return PluginInfo(name=self.name, kind=PluginKind.REGIME, summary="test")

    @hookimpl
    def v6_detect_regime(self, market: MarketView, previous: Mapping[str, RegimeReading]):
        self.calls += 1
        self.previous.append(dict(previous))
        regime = Regime(self.script(self.calls))
        return {
            symbol: RegimeReading(
                underlying=symbol,
                regime=regime,
                reason=f"{self.name} cycle {self.calls}",
                inputs={"cycle": float(self.calls)},
            )
            for symbol in market.underlyings
        }


class Watcher:
    """A strategy that proposes nothing and keeps the regimes it is handed each cycle."""

    def __init__(self) -> None:
        self.seen: list[tuple[dict, dict]] = []

    @hookimpl
    def v6_plugin_info(self) -> PluginInfo:
        return PluginInfo(name="watcher", kind=PluginKind.STRATEGY, summary="test")

    @hookimpl
    def v6_propose_entries(self, regimes, regimes_by_detector):
        self.seen.append((dict(regimes), {k: dict(v) for k, v in regimes_by_detector.items()}))
        return []


class ExitWatcher:
    """An exit rule with no opinion that keeps the regimes it is handed per position."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, RegimeReading | None, dict]] = []

    @hookimpl
    def v6_plugin_info(self) -> PluginInfo:
        return PluginInfo(
            name="exit_watcher", kind=PluginKind.EXIT_RULE, summary="test", priority=5
        )

    @hookimpl
    def v6_evaluate_exit(self, mark, regime, regimes_by_detector):
        self.seen.append((mark.position.underlying, regime, dict(regimes_by_detector)))
        return None


def flips_to_crash(after: int) -> Any:
    return lambda cycle: "normal" if cycle <= after else "crash"


def steady(cycle: int) -> str:
    return "normal"


def config(tmp_path: Path, days: int = 2, **sections: Any):
    return with_plugins(sim_config(tmp_path / "data", days=days), **sections)


def test_every_reading_is_stored_with_the_detector_that_made_it(tmp_path):
    calm = Scripted("calm", steady)
    cfg = config(
        tmp_path,
        days=1,
        regime={"volatility_regime": {}, "calm": {}},
        regime_driver="volatility_regime",
    )
    session = run_sim_session(cfg, cycles=6, extra_plugins=[("calm", calm)])
    regimes = session.table("regimes")
    assert regimes.groupby("detector").size().to_dict() == {
        "calm": 6 * len(UNDERLYINGS),
        "volatility_regime": 6 * len(UNDERLYINGS),
    }
    mine = regimes[regimes["detector"] == "calm"]
    assert mine["reason"].str.startswith("calm cycle ").all()
    assert set(mine["regime"]) == {"normal"}
    assert (
        not regimes[regimes["detector"] == "volatility_regime"]["reason"]
        .str.startswith("calm")
        .any()
    )
    # Each detector is handed its own previous readings, never another's.
    assert calm.previous[0] == {}
    assert {r.reason for r in calm.previous[1].values()} == {"calm cycle 1"}
    assert session.alerts("plugin_error").empty


@pytest.fixture(scope="module")
def flipped(tmp_path_factory) -> dict[str, Any]:
    """The same seeded market twice, with a detector that turns to crash after 12 cycles:
    once driving, once beside a steady driver."""
    runs = {}
    for driver in ("flipper", "steady"):
        tmp = tmp_path_factory.mktemp(driver)
        exits = ExitWatcher()
        cfg = config(tmp, regime={"flipper": {}, "steady": {}}, regime_driver=driver)
        cfg = with_plugins(
            cfg,
            exit_rules={**cfg.plugins.exit_rules, "regime_change": {}, "exit_watcher": {}},
        )
        plugins = [
            ("flipper", Scripted("flipper", flips_to_crash(12))),
            ("steady", Scripted("steady", steady)),
            ("exit_watcher", exits),
        ]
        runs[driver] = (run_sim_session(cfg, cycles=40, extra_plugins=plugins), exits)
    return runs


def test_the_driving_detectors_reading_drives_regime_change(flipped):
    session, _ = flipped["flipper"]
    decisions = session.table("decisions")
    closed_by_change = decisions[decisions["rule"] == "regime_change"]
    assert not closed_by_change.empty
    assert set(closed_by_change["regime"]) == {"crash"}
    assert set(decisions["regime"]) - {""} == {"normal", "crash"}
    entered = session.positions()["entry_regime"]
    assert set(entered) <= {"normal", "crash"} and "normal" in set(entered)
    # Both detectors' readings were stored, the steady one's all normal.
    regimes = session.table("regimes")
    steady_rows = regimes[regimes["detector"] == "steady"]
    assert set(steady_rows["regime"]) == {"normal"}
    assert "crash" in set(regimes[regimes["detector"] == "flipper"]["regime"])


def test_a_detector_that_does_not_drive_never_closes_a_position(flipped):
    session, _ = flipped["steady"]
    decisions = session.table("decisions")
    assert "regime_change" not in set(decisions["rule"])
    assert set(decisions["regime"]) - {""} == {"normal"}
    assert set(session.positions()["entry_regime"]) == {"normal"}
    regimes = session.table("regimes")  # the flipper still read crash, and it is stored
    assert "crash" in set(regimes[regimes["detector"] == "flipper"]["regime"])


def test_exit_rules_see_the_drivers_reading_and_every_detectors(flipped):
    for driver, (_, exits) in flipped.items():
        assert exits.seen, "positions were judged"
        for underlying, regime, by_detector in exits.seen:
            assert set(by_detector) == {"flipper", "steady"}
            assert regime == by_detector[driver][underlying]
        flipper = [b["flipper"][symbol].regime for symbol, _, b in exits.seen]
        assert Regime.CRASH in flipper, "the flipper turned while positions were open"


def test_a_strategy_sees_the_drivers_readings_and_every_detectors(tmp_path):
    watcher = Watcher()
    cfg = config(
        tmp_path,
        days=1,
        strategies={"watcher": {}},
        regime={"volatility_regime": {}, "flipper": {}},
        regime_driver="flipper",
    )
    plugins = [("watcher", watcher), ("flipper", Scripted("flipper", flips_to_crash(3)))]
    run_sim_session(cfg, cycles=6, extra_plugins=plugins)
    assert len(watcher.seen) == 6
    for regimes, by_detector in watcher.seen:
        assert set(by_detector) == {"volatility_regime", "flipper"}
        assert regimes == by_detector["flipper"]
        for readings in by_detector.values():
            assert set(readings) == set(UNDERLYINGS)
            assert all(symbol == r.underlying for symbol, r in readings.items())
    assert [regimes["SPY"].regime.value for regimes, _ in watcher.seen] == (
        ["normal"] * 3 + ["crash"] * 3
    )


def test_plugins_cannot_change_the_engines_readings(tmp_path):
    class Vandal(Watcher):
        @hookimpl
        def v6_propose_entries(self, regimes, regimes_by_detector):
            with pytest.raises(TypeError):
                regimes_by_detector["volatility_regime"] = {}  # type: ignore[index]
            with pytest.raises(TypeError):
                regimes_by_detector["volatility_regime"]["SPY"] = None  # type: ignore[index]
            self.seen.append(({}, {}))
            return []

    vandal = Vandal()
    cfg = config(tmp_path, days=1, strategies={"watcher": {}})
    sim = sim_engine(cfg, [("watcher", vandal)])
    sim.run(3)
    sim.close()
    assert len(vandal.seen) == 3


def test_a_failing_detector_beside_the_driver_is_isolated(tmp_path):
    class Broken(Scripted):
        @hookimpl
        def v6_detect_regime(self, market, previous):
            raise RuntimeError("no data")

    cfg = config(
        tmp_path,
        days=1,
        regime={"volatility_regime": {}, "broken": {}},
        regime_driver="volatility_regime",
    )
    session = run_sim_session(cfg, cycles=5, extra_plugins=[("broken", Broken("broken", steady))])
    regimes = session.table("regimes")
    assert set(regimes["detector"]) == {"volatility_regime"}
    assert len(regimes) == 5 * len(UNDERLYINGS)
    (error,) = session.alerts("plugin_error")["message"]
    assert "v6_detect_regime raised RuntimeError: no data" in error


class Flaky(Scripted):
    """A scripted detector that raises on every call while ``broken``."""

    broken = False

    @hookimpl
    def v6_detect_regime(self, market: MarketView, previous: Mapping[str, RegimeReading]):
        if self.broken:
            raise RuntimeError("feed down")
        return super().v6_detect_regime(market, previous)


def test_a_failing_drivers_readings_expire_entries_stop_and_resume_when_it_reads(tmp_path):
    flaky = Flaky("flaky", steady)
    cfg = config(tmp_path, days=1, regime={"flaky": {}})
    cfg = with_plugins(
        cfg,
        exit_rules={**cfg.plugins.exit_rules, "dynamic_take_profit": {}, "regime_change": {}},
    )
    # The timing (positions held, then entries proposed during the outage) is the one of
    # the path without the futures' lead (the ETFs not delayed).
    lead0 = attrs.evolve(cfg.sim.futures, lead_cycles=0)
    cfg = attrs.evolve(cfg, sim=attrs.evolve(cfg.sim, futures=lead0))
    # One entry a cycle, so the book still has room when the detector breaks (and the
    # strategies still propose) however few positions the market has closed by then.
    cfg = attrs.evolve(cfg, limits=attrs.evolve(cfg.limits, max_entries_per_cycle=1))
    sim = sim_engine(cfg, [("flaky", flaky)])
    sim.run(8)
    assert sim.engine.book.positions(LIVE), "positions are held when the detector breaks"
    flaky.broken = True
    for _ in range(EXPIRE_AFTER - 1):  # a reading a cycle or two old still stands
        sim.run(1)
        assert set(sim.engine.regimes) == set(UNDERLYINGS)
    failing_since = sim.reports[-(EXPIRE_AFTER - 1)].time
    (expired,) = sim.run(1)
    assert sim.engine.regimes == {}
    assert "flaky" not in sim.engine.regimes_by_detector
    outage = [expired, *sim.run(5)]
    flaky.broken = False
    sim.run(8)
    sim.close()
    start, end = outage[0].time, outage[-1].time

    entries = sim.table("entries")
    during = entries[(entries["time"] >= start) & (entries["time"] <= end)]
    assert not during.empty, "strategies still proposed while the reading was missing"
    assert set(during["outcome"]) == {"rejected"}
    assert set(during["reason"]) == {
        f"no current regime reading from flaky (failing since {failing_since:%Y-%m-%d %H:%M}Z)"
    }
    after = entries[entries["time"] > end]
    assert "accepted" in set(after["outcome"]), "entries resume once the detector reads again"
    assert not after["reason"].str.startswith("no current regime reading").any()

    alerts = sim.table("alerts")
    (row,) = alerts[alerts["code"] == "regime_readings_expired"].itertuples()
    assert row.time == start and row.severity == "error" and row.source == "flaky"
    assert "no new entries until it reads again" in row.message
    assert len(alerts[alerts["code"] == "regime_readings_restored"]) == 1

    # Held positions are still judged every cycle of the outage, with no regime.
    decisions = sim.table("decisions")
    judged = decisions[(decisions["time"] >= start) & (decisions["time"] <= end)]
    assert set(judged["time"]) == {r.time for r in outage}
    assert set(judged["regime"]) == {""}
    later = decisions[decisions["time"] > end]
    assert set(later["regime"]) == {"normal"}


def test_several_detectors_without_a_driver_are_refused_before_the_engine_starts(tmp_path):
    cfg = config(tmp_path, regime={"volatility_regime": {}, "calm": {}})
    with pytest.raises(ConfigError) as raised:
        sim_engine(cfg, [("calm", Scripted("calm", steady))])
    assert raised.value.path == "plugins.regime_driver"
    cfg = config(tmp_path, regime={"volatility_regime": {}, "calm": {}}, regime_driver="clam")
    with pytest.raises(ConfigError) as raised:
        sim_engine(cfg, [("calm", Scripted("calm", steady))])
    assert "did you mean 'calm'?" in raised.value.expected


# -- strike selectors see the market and the regimes, and say why they found nothing ---


class Refusing:
    """A strike selector that keeps what it is handed and never finds strikes."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    @hookimpl
    def v6_plugin_info(self) -> PluginInfo:
        return PluginInfo(name="refusing", kind=PluginKind.STRIKE_SELECTOR, summary="test")

    @hookimpl
    def v6_select_strikes(self, candidate, chain, market, regime, regimes_by_detector):
        self.seen.append(
            {
                "candidate": candidate,
                "chain": chain,
                "market": market,
                "regime": regime,
                "regimes_by_detector": dict(regimes_by_detector),
            }
        )
        vix = market.vix
        return NoSelection(f"VIX {vix:.1f} in a {regime.regime.value} regime: not today")


def test_a_selector_sees_the_market_and_the_regimes_and_its_reason_is_stored(tmp_path):
    refusing = Refusing()
    cfg = config(
        tmp_path,
        days=1,
        strike_selector={"refusing": {}},
        regime={"volatility_regime": {}, "calm": {}},
        regime_driver="calm",
    )
    session = run_sim_session(
        cfg, cycles=4, extra_plugins=[("refusing", refusing), ("calm", Scripted("calm", steady))]
    )
    assert refusing.seen
    for seen in refusing.seen:
        candidate, market = seen["candidate"], seen["market"]
        assert seen["chain"] is market.chains[candidate.underlying]
        assert seen["regime"] == seen["regimes_by_detector"]["calm"][candidate.underlying]
        assert set(seen["regimes_by_detector"]) == {"volatility_regime", "calm"}
    entries = session.table("entries")
    assert (entries["outcome"] == "rejected").all()
    reasons = set(entries["reason"])
    assert reasons and all(
        r.startswith("no acceptable strikes: VIX ") and r.endswith(" in a normal regime: not today")
        for r in reasons
    )
    assert session.alerts("plugin_error").empty


def test_a_built_in_selectors_reason_is_stored_with_the_rejected_entry(tmp_path):
    far = {"settings": {"min_dte": 400, "max_dte": 500}}
    for selector in ("delta_target", "smart_strike"):
        run_cfg = with_plugins(
            config(tmp_path / selector, days=1),
            strategies={"iron_condor": far},
            strike_selector={selector: {}},
        )
        session = run_sim_session(run_cfg, cycles=2)
        entries = session.table("entries")
        assert not entries.empty
        assert set(entries["reason"]) == {
            "no acceptable strikes: no expiry 400-500 DTE with valid quotes"
        }, selector
