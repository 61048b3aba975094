"""Phase 3, regimes: every configured detector classifies every underlying."""

from __future__ import annotations

from datetime import UTC, datetime
from types import MappingProxyType
from typing import TYPE_CHECKING

from attrs import define

from v6.domain.alerts import Severity
from v6.domain.market import MarketView

if TYPE_CHECKING:
    from v6.engine.cycle import Engine

EXPIRE_AFTER = 3
"""Consecutive failed cycles after which a detector's last readings are dropped.

A reading one or two cycles old still says something about the market; one that has
not been renewed for this many cycles no longer does, and acting on it (a take-profit
target, a regime change, an entry in a regime the strategy avoids) would be acting on a
market that may have turned since."""


@define
class Failing:
    """A detector whose call has failed every cycle since ``since``."""

    since: datetime
    cycles: int = 0
    expired: bool = False  # its readings were dropped


def _at(time: datetime) -> str:
    return f"{time.astimezone(UTC):%Y-%m-%d %H:%M}Z"


def run(engine: Engine, view: MarketView) -> None:
    """Extend the market history and ask every regime detector for this cycle's readings.

    Each detector is called on its own with its own previous readings, and its readings
    are stored with its name in the ``detector`` column. A detector that fails keeps its
    last readings a while (isolated and alerted by the engine); so does one whose result
    breaks the spec: an empty mapping, a missing or unknown underlying, a reading keyed
    under one underlying that names another, anything but a ``RegimeReading``
    (:func:`v6.plugin_results.check_regime_readings`); a result is taken whole or not at
    all. After :data:`EXPIRE_AFTER` failed cycles in a row its readings are dropped (a
    ``regime_readings_expired`` alert): nobody sees them any more, and while the driving
    detector has no reading for an underlying no entry is opened on it
    (:func:`no_reading_refusal`). Its next good result brings them back.

    ``engine.regimes`` then holds the driving detector's readings (exits, take-profit
    targets, entry regimes, the status line) and ``engine.regimes_by_detector`` everyone's,
    read-only, as strategies, selectors and exit rules see them.
    """
    history = engine.history.record(view)
    engine.market_history = history
    latest = dict(engine.regimes_by_detector)
    driver = engine.plugins.regime.plugin.name
    for detector in engine.plugins.regimes:
        name = detector.plugin.name
        readings = engine.call_plugin(
            detector,
            "v6_detect_regime",
            view.time,
            market=view,
            history=history,
            previous=dict(latest.get(name, {})),
        )
        if readings is not None:  # checked: a reading for every underlying of the market
            latest[name] = MappingProxyType(dict(readings))
            engine.recorder.regimes(view.time, name, latest[name].values())
            failing = engine.regime_failing.pop(name, None)
            if failing is not None and failing.expired:
                engine.alert(
                    Severity.INFO,
                    name,
                    "regime_readings_restored",
                    f"{name} reads again after failing {failing.cycles} cycles since "
                    f"{_at(failing.since)}; its readings are in force again",
                    view.time,
                )
            continue
        failing = engine.regime_failing.setdefault(name, Failing(view.time))
        failing.cycles += 1
        if failing.cycles >= EXPIRE_AFTER and not failing.expired:
            failing.expired = True
            latest.pop(name, None)
            halted = "; no new entries until it reads again" if name == driver else ""
            engine.alert(
                Severity.ERROR if name == driver else Severity.WARNING,
                name,
                "regime_readings_expired",
                f"{name} failed {failing.cycles} cycles in a row since {_at(failing.since)}: "
                f"its last readings are dropped{halted}",
                view.time,
            )
    engine.regimes_by_detector = MappingProxyType(latest)
    engine.regimes = dict(latest.get(driver, {}))
    engine.report.regimes = {s: r.regime.value for s, r in engine.regimes.items()}


def no_reading_refusal(engine: Engine, underlying: str) -> str | None:
    """Why no entry may open on ``underlying`` for want of a driving reading, if so.

    Without the driving detector's reading no strategy can tell whether the market is
    one it avoids (a crash), so the engine refuses the entry rather than trust every
    strategy to refuse a missing reading.
    """
    if underlying in engine.regimes:
        return None
    driver = engine.plugins.regime.plugin.name
    failing = engine.regime_failing.get(driver)
    since = f" (failing since {_at(failing.since)})" if failing is not None else ""
    return f"no current regime reading from {driver}{since}"
