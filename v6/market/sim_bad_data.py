"""The simulated data feed: the simulated exchange's quotes as a vendor delivers them.

The simulated market (:class:`v6.market.sim_market.SimMarket`) is the exchange: its
quotes are clean. A real feed is not, and V6's data-quality gate and its
``data_integrity`` exit rule exist for that, so a normal sim run must give them real
work. :class:`BadDataFeed` wraps the market and, at the small rates of
:class:`v6.config.SimBadDataSettings` (``sim.bad_data``), breaks what real feeds break:

- ``stale_underlying``: an underlying's feed freezes for a cycle; its quote (and the
  chain's spot) is the previous snapshot's, time-stamped then. The gate finds it stale
  and rejects the whole chain as ``bad_underlying`` for that cycle.
- ``missing_strike``: one live strike (call and put of one expiry, |delta| at least
  ``MISSING_MIN_DELTA``) is absent from the chain this cycle. A position holding it is
  marked unusable and ``data_integrity`` holds it.
- ``crossed_quote``: the bid sits above the ask (one side stale after a move): rejected
  as ``crossed``.
- ``wide_quote``: on a quote with a bid, both sides pulled ``WIDE_FACTOR`` times further
  from an unchanged mid (never below a zero bid): a poor but real market, which the gate
  keeps; the mark does not move, and strike selection refuses such a short leg (its
  spread limit).
- ``zero_iv``: an implied volatility of zero on a sound quote: the gate re-derives the
  IV and Greeks from the mid (``repaired_greeks``).
- ``nan_greeks``: NaN IV and Greeks, as IB sends for an option its model could not
  price: rejected as ``nan``.

Only the feed is broken, never the exchange: the market's own path and regimes are the
same with or without bad data. Fills are not: the simulated broker matches orders against
the quotes the engine saw, as a real order meets the market the trader was shown, so a
widened quote changes a resting order's fill chance and its natural-price cap, and a
missing or rejected quote leaves an order unworked that cycle. Every draw comes from the
seed and the snapshot time, so a run is reproducible and asking for one time twice gives
the same view.
Vectorised over each chain.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import attrs
import numpy as np

from v6.config import SimBadDataSettings
from v6.domain.market import MarketView, OptionChain, UnderlyingQuote
from v6.ports import MarketData

KINDS = (
    "stale_underlying",
    "missing_strike",
    "crossed_quote",
    "wide_quote",
    "zero_iv",
    "nan_greeks",
)
"""The kinds of bad data, as named in ``sim.bad_data``."""
QUOTE_KINDS = ("crossed_quote", "wide_quote", "zero_iv", "nan_greeks")
"""The kinds drawn per option quote (the others per underlying and cycle)."""

# A wide quote's half-spread is this many times the exchange's.
WIDE_FACTOR = 5.0
# A missing strike is one a trader could be trading: not a far wing worth nothing.
MISSING_MIN_DELTA = 0.05
# Keeps the feed's random stream apart from the market's and the broker's.
STREAM = 0x0BADDA7A


class BadDataFeed:
    """``market`` (a :class:`~v6.ports.MarketData`) seen through a feed that now and then
    breaks a quote, at the rates of ``settings``; deterministic in ``seed`` and time.

    Anything else asked of the feed (the simulator's hidden state, its settings) is
    answered by the market behind it. ``faults`` holds, for the latest snapshot, the
    contracts (``OptionContract.key``) or underlyings each kind of fault touched, and
    ``counts`` the running totals per kind, for tests and analysis.
    """

    def __init__(self, market: MarketData, settings: SimBadDataSettings, seed: int) -> None:
        self.market = market
        self.settings = settings
        self.seed = seed
        self.counts: Counter[str] = Counter()
        self.faults: dict[str, list[str]] = {}
        self._previous: dict[str, UnderlyingQuote] = {}
        self._time: datetime | None = None
        self._view: MarketView | None = None

    def __getattr__(self, name: str) -> Any:
        # Only called for names the feed does not have: the market behind it answers.
        return getattr(self.__dict__["market"], name)

    @property
    def symbols(self) -> Sequence[str]:
        """The underlyings the market quotes."""
        return self.market.symbols

    def snapshot(self, time: datetime) -> MarketView:
        """The market's view at ``time`` as the feed delivers it."""
        view = self.market.snapshot(time)
        if self._time is not None and time == self._time and self._view is not None:
            return self._view
        stamp = int(np.datetime64(time.astimezone(UTC).replace(tzinfo=None), "us").astype(np.int64))
        rng = np.random.default_rng([STREAM, self.seed, stamp])
        self.faults = {kind: [] for kind in KINDS}
        underlyings = dict(view.underlyings)
        chains = dict(view.chains)
        for symbol in sorted(view.chains):
            chain = self._spoil_chain(chains[symbol], rng)
            quote = underlyings.get(symbol)
            stale = self._previous.get(symbol)
            if quote is not None:
                self._previous[symbol] = quote
            if stale is not None and rng.random() < self.settings.stale_underlying:
                underlyings[symbol] = stale
                chain = attrs.evolve(chain, spot=stale.last)
                self.faults["stale_underlying"].append(symbol)
            chains[symbol] = chain
        for kind, touched in self.faults.items():
            self.counts[kind] += len(touched)
        self._time, self._view = time, attrs.evolve(view, underlyings=underlyings, chains=chains)
        return self._view

    def _spoil_chain(self, chain: OptionChain, rng: np.random.Generator) -> OptionChain:
        """``chain`` with this cycle's broken quotes and, perhaps, a strike missing."""
        s = self.settings
        n = len(chain)
        u = rng.random(n)
        edges = np.cumsum([getattr(s, kind) for kind in QUOTE_KINDS])
        kind_of = np.searchsorted(edges, u, side="right")  # len(QUOTE_KINDS) = untouched
        drop_draw, pick = rng.random(2)
        if not (kind_of < len(QUOTE_KINDS)).any() and drop_draw >= s.missing_strike:
            return chain
        bid, ask = chain.bid.copy(), chain.ask.copy()
        iv = chain.iv.copy()
        greeks = {g: getattr(chain, g).copy() for g in ("delta", "gamma", "vega", "theta")}
        crossed, wide, zero_iv, nan = (kind_of == k for k in range(len(QUOTE_KINDS)))
        wide &= chain.bid > 0  # a quote with no bid has no side to pull
        # Crossed: the bid a tick or half a spread above the ask.
        half = (chain.ask - chain.bid) / 2.0
        bid[crossed] = np.round(chain.ask[crossed] + np.maximum(0.01, half[crossed]), 2)
        # Wide: both sides out by the same amount, the bid never below zero.
        out = np.minimum((WIDE_FACTOR - 1.0) * half, chain.bid)
        bid[wide] = np.round(chain.bid[wide] - out[wide], 2)
        ask[wide] = np.round(chain.ask[wide] + out[wide], 2)
        iv[zero_iv] = 0.0
        iv[nan] = np.nan
        for values in greeks.values():
            values[nan] = np.nan
        keep = np.ones(n, dtype=bool)
        if drop_draw < s.missing_strike:
            live = np.flatnonzero(np.abs(chain.delta) >= MISSING_MIN_DELTA)
            if live.size:
                row = live[min(int(pick * live.size), live.size - 1)]
                keep = ~((chain.expiry == chain.expiry[row]) & (chain.strike == chain.strike[row]))
                self.faults["missing_strike"].append(chain.contract(int(row)).key)
        for kind, mask in zip(QUOTE_KINDS, (crossed, wide, zero_iv, nan), strict=True):
            rows = np.flatnonzero(mask & keep)
            self.faults[kind].extend(chain.contract(int(i)).key for i in rows)
        spoiled = attrs.evolve(chain, bid=bid, ask=ask, iv=iv, **greeks)
        return spoiled if keep.all() else spoiled.select(keep)
