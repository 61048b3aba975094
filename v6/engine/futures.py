"""Part of phase 1, observe: the index futures beside the gated market.

The engine holds an optional :class:`v6.futures.observer.FuturesObserver` (None when
``futures.enabled`` is false). Each cycle it reads the futures, stores the snapshots,
raises the observer's alerts and hands detectors and strategies a market view whose
``futures`` maps each ETF to its future's reading (read-only).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING

import attrs

from v6.domain.market import MarketView

if TYPE_CHECKING:
    from v6.engine.cycle import Engine


def attach(engine: Engine, view: MarketView) -> MarketView:
    """``view`` with this cycle's futures readings (unchanged without an observer)."""
    observer = engine.futures
    if observer is None:
        return view
    observation = observer.observe(view.time, view)
    engine.recorder.futures(observation.rows)
    for alert in observation.alerts:
        engine.alert(alert.severity, "futures", alert.code, alert.message, view.time)
    return attrs.evolve(view, futures=MappingProxyType(dict(observation.readings)))
