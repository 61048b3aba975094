"""The rolling per-cycle history regime detectors read."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from v6.domain.market import MarketHistory, MarketView, OptionChain, mean_at_the_money
from v6.market.quality import underlying_is_sound


def atm_iv(chain: OptionChain, target_dte: int = 30) -> float:
    """Implied vol at the money for the expiry nearest ``target_dte`` (NaN if unmeasurable).

    Ties between two expiries equally far from ``target_dte`` go to the nearer one.
    """
    ok = chain.valid & np.isfinite(chain.iv) & (chain.iv > 0)
    if not ok.any():
        return float("nan")
    dte = chain.dte()
    candidates = dte[ok & (dte >= 1)]
    if candidates.size == 0:
        return float("nan")
    # The expiry nearest the target, the earliest on a tie: no sort of the chain needed.
    off = np.abs(candidates - target_dte)
    chosen = candidates[off == off.min()].min()
    rows = ok & (dte == chosen)
    distance = np.abs(chain.strike[rows] - chain.spot)
    nearest = distance == distance.min()
    return mean_at_the_money(chain.iv[rows][nearest])


class _Rolling:
    """The last ``maxlen`` values of one series, handed out as read-only views.

    Values live in a buffer twice the window long; a full buffer is replaced by a new
    one holding the window, never overwritten, so a view handed out earlier keeps the
    values it showed. Appending costs the same however long the run.
    """

    def __init__(self, maxlen: int, dtype: str | type) -> None:
        self.maxlen = maxlen
        self._buffer = np.empty(max(2 * maxlen, 1), dtype=dtype)
        self._start = 0
        self._end = 0

    def append(self, value: object) -> None:
        if self.maxlen == 0:
            return
        if self._end == self._buffer.size:
            keep = self.maxlen - 1
            fresh = np.empty_like(self._buffer)
            fresh[:keep] = self._buffer[self._end - keep : self._end]
            self._buffer, self._start, self._end = fresh, 0, keep
        self._buffer[self._end] = value
        self._end += 1
        if self._end - self._start > self.maxlen:
            self._start += 1

    def view(self) -> np.ndarray:
        out = self._buffer[self._start : self._end]
        out.flags.writeable = False
        return out


class HistoryRecorder:
    """Keeps the last ``maxlen`` cycles of spot, ATM IV and VIX."""

    def __init__(
        self, symbols: Sequence[str], maxlen: int = 2000, max_quote_age: float = float("inf")
    ) -> None:
        self.max_quote_age = max_quote_age
        self._times = _Rolling(maxlen, "datetime64[us]")
        self._vix = _Rolling(maxlen, np.float64)
        self._spots = {s: _Rolling(maxlen, np.float64) for s in symbols}
        self._ivs = {s: _Rolling(maxlen, np.float64) for s in symbols}

    def record(self, market: MarketView) -> MarketHistory:
        """Append this cycle's closes and return the history including them."""
        self._times.append(np.datetime64(market.time.replace(tzinfo=None), "us"))
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
            times=self._times.view(),
            spots={s: v.view() for s, v in self._spots.items()},
            atm_iv={s: v.view() for s, v in self._ivs.items()},
            vix=self._vix.view(),
        )
