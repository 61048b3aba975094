"""Phase 3, regimes: every configured detector classifies every underlying."""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING

from v6.domain.market import MarketView

if TYPE_CHECKING:
    from v6.engine.cycle import Engine


def run(engine: Engine, view: MarketView) -> None:
    """Extend the market history and ask every regime detector for this cycle's readings.

    Each detector is called on its own with its own previous readings, and its readings
    are stored with its name in the ``detector`` column. A detector that fails keeps its
    last readings (isolated and alerted by the engine); so does one whose result breaks
    the spec: an empty mapping, a missing or unknown underlying, a reading keyed under one
    underlying that names another, anything but a ``RegimeReading``
    (:func:`v6.plugin_results.check_regime_readings`); a result is taken whole or not at
    all. ``engine.regimes`` then holds the driving detector's readings (exits, take-profit
    targets, entry regimes, the status line) and ``engine.regimes_by_detector`` everyone's,
    read-only, as strategies, selectors and exit rules see them.
    """
    history = engine.history.record(view)
    engine.market_history = history
    latest = dict(engine.regimes_by_detector)
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
    engine.regimes_by_detector = MappingProxyType(latest)
    engine.regimes = dict(latest.get(engine.plugins.regime.plugin.name, {}))
    engine.report.regimes = {s: r.regime.value for s, r in engine.regimes.items()}
