"""What the predictions report grades by, and when a group is too small to mean anything.

Kept apart from :mod:`v6.predictions.report` (pandas) so the ``v6`` command line can build
its options without importing pandas for every command.
"""

from __future__ import annotations

MIN_COUNT = 30
"""Fewest graded predictions a group needs before its figures mean anything: below it the
standard error of a win rate is above 9 points and one outlier moves the MSE."""
BUCKETS = 10
"""Equal-width probability-of-profit buckets of the calibration table."""
GROUP_COLUMNS = (
    "strategy",
    "regime",
    "true_regime",
    "model",
    "underlying",
    "structure",
    "exit_rule",
    "detector",
)
"""What ``--by`` may group by (``true_regime``: the simulator's, sim runs only)."""
DEFAULT_BY = ("strategy", "regime")
