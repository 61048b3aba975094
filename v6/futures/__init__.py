"""Index futures as leading indicators of the ETFs V6 trades (docs/FUTURES.md).

Contracts and the roll rule (:mod:`.contracts`), CME trading hours (:mod:`.hours`), the
change metrics on a ratio-adjusted continuous series (:mod:`.changes`), the simulated
feed (:mod:`.sim_feed`), the per-cycle observation the engine runs (:mod:`.observer`)
and the lead-lag analysis behind ``v6 futures correlate`` (:mod:`.correlate`). The IB
feed lives with the other IB adapters (:mod:`v6.brokers.ib.futures`).
"""

DEFAULT_MAX_LAG = 6
"""Lags -6..6 cycles: what ``v6 futures correlate`` and the dashboard's lead-lag chart
measure unless told otherwise (here, not in :mod:`.correlate`, so the command line can
build its options without importing pandas)."""
