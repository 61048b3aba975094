"""Phase 3, regimes: the configured detector classifies every underlying."""

from __future__ import annotations

from typing import TYPE_CHECKING

from v6.domain.market import MarketView

if TYPE_CHECKING:
    from v6.engine.cycle import Engine


def run(engine: Engine, view: MarketView) -> None:
    """Extend the market history and ask the regime detector for this cycle's readings.

    A detector that fails keeps the last readings (isolated and alerted by the engine).
    So does one whose result breaks the spec: an empty mapping, a missing or unknown
    underlying, a reading keyed under one underlying that names another, anything but a
    ``RegimeReading`` (:func:`v6.plugin_results.check_regime_readings`); a result is
    taken whole or not at all.
    """
    history = engine.history.record(view)
    engine.market_history = history
    readings = engine.call_plugin(
        engine.plugins.regime,
        "v6_detect_regime",
        view.time,
        market=view,
        history=history,
        previous=dict(engine.regimes),
    )
    if readings is not None:  # checked: a reading for every underlying of the market
        engine.regimes = dict(readings)
        engine.recorder.regimes(view.time, engine.regimes.values())
    engine.report.regimes = {s: r.regime.value for s, r in engine.regimes.items()}
