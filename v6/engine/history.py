"""The rolling per-cycle history regime detectors read."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from datetime import datetime

import numpy as np

from v6.domain.market import MarketHistory, MarketView, OptionChain
from v6.market.quality import underlying_is_sound


def atm_iv(chain: OptionChain, target_dte: int = 30) -> float:
    """Implied vol at the money for the expiry nearest ``target_dte`` (NaN if unmeasurable)."""
    ok = chain.valid & np.isfinite(chain.iv) & (chain.iv > 0)
    if not ok.any():
        return float("nan")
    dte = chain.dte()
    expiries = np.unique(chain.expiry[ok & (dte >= 1)])
    if expiries.size == 0:
        return float("nan")
    exp_dte = (expiries - np.datetime64(chain.as_of.date(), "D")).astype(np.int64)
    expiry = expiries[np.argmin(np.abs(exp_dte - target_dte))]
    rows = ok & (chain.expiry == expiry)
    distance = np.abs(chain.strike[rows] - chain.spot)
    nearest = distance == distance.min()
    return float(np.mean(chain.iv[rows][nearest]))


class HistoryRecorder:
    """Keeps the last ``maxlen`` cycles of spot, ATM IV and VIX."""

    def __init__(
        self, symbols: Sequence[str], maxlen: int = 2000, max_quote_age: float = float("inf")
    ) -> None:
        self.max_quote_age = max_quote_age
        self._times: deque[datetime] = deque(maxlen=maxlen)
        self._vix: deque[float] = deque(maxlen=maxlen)
        self._spots = {s: deque(maxlen=maxlen) for s in symbols}
        self._ivs = {s: deque(maxlen=maxlen) for s in symbols}

    def record(self, market: MarketView) -> MarketHistory:
        """Append this cycle's closes and return the history including them."""
        self._times.append(market.time)
        self._vix.append(float(market.vix))
        for symbol in self._spots:
            quote = market.underlyings.get(symbol)
            chain = market.chains.get(symbol)
            # A quote the data-quality gate rejects is not a price: NaN, so that neither a
            # gap detector nor a volatility estimate ever sees it.
            sound = underlying_is_sound(quote, market.time, self.max_quote_age)
            self._spots[symbol].append(quote.mid if sound else float("nan"))
            self._ivs[symbol].append(atm_iv(chain) if chain is not None else float("nan"))
        return MarketHistory(
            times=np.array([np.datetime64(t.replace(tzinfo=None), "us") for t in self._times]),
            spots={s: np.fromiter(v, dtype=np.float64) for s, v in self._spots.items()},
            atm_iv={s: np.fromiter(v, dtype=np.float64) for s, v in self._ivs.items()},
            vix=np.fromiter(self._vix, dtype=np.float64),
        )
