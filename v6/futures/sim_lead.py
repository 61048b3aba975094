"""The lead of the simulated futures: the ETFs show the hidden index path late.

Futures lead the ETFs in the simulated market the way price discovery makes them lead in
a real one: the hidden index path (:class:`v6.market.sim_regimes.MarketProcess`) moves
the futures at once and the ETFs ``lead_cycles`` snapshots later. The simulated market
pushes each new state here and quotes its ETFs from :attr:`LeadLine.lagged`; the futures
feed reads :attr:`LeadLine.latest`. Before ``lead_cycles`` snapshots have passed, the
ETFs show the first state (the market opens flat for them).
"""

from __future__ import annotations

from collections import deque

import numpy as np


class LeadLine:
    """A delay line of the last ``lead_cycles + 1`` index states (spots per symbol)."""

    def __init__(self, lead_cycles: int) -> None:
        if lead_cycles < 0:
            raise ValueError(f"lead_cycles must be >= 0, got {lead_cycles}")
        self.lead_cycles = lead_cycles
        self._states: deque[np.ndarray] = deque(maxlen=lead_cycles + 1)

    def push(self, spots: np.ndarray) -> None:
        """The index state of a new snapshot (copied: the process updates in place)."""
        state = np.array(spots, dtype=np.float64, copy=True)
        if not self._states:
            for _ in range(self.lead_cycles):
                self._states.append(state)
        self._states.append(state)

    @property
    def latest(self) -> np.ndarray:
        """The index now: what the futures price."""
        return self._states[-1]

    @property
    def lagged(self) -> np.ndarray:
        """The index ``lead_cycles`` snapshots ago: what the ETFs show now."""
        return self._states[0]
