"""Small hand-made market values for unit tests: V6 ships them in ``v6.testing.markets``
(the same builders third-party plugin tests use); this module keeps the short names."""

from __future__ import annotations

from v6.testing.markets import EXPIRY, NOW, chain, contract, market
from v6.testing.markets import iron_condor_legs as iron_condor

__all__ = ["EXPIRY", "NOW", "chain", "contract", "iron_condor", "market"]
