"""How hard the property and fuzz tests try.

``make test`` runs the quick budget, sized so the whole suite stays under 15 minutes on
two cores; ``make fuzz`` sets ``V6_FUZZ=deep`` and runs the same tests with the deep one.
Every test is derandomized or seeded, so a budget draws the same cases on every run.
"""

from __future__ import annotations

import os

DEEP = os.environ.get("V6_FUZZ", "") == "deep"


def examples(quick: int, deep: int) -> int:
    """``quick`` cases in ``make test``, ``deep`` under ``V6_FUZZ=deep``."""
    return deep if DEEP else quick
