"""Bad market data is rejected and logged, and never leads to an order."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sessions import engine_for, sim_config, table

from v6.domain.market import MarketView, OptionChain

pytestmark = pytest.mark.slow


class CorruptingFeed:
    """Wraps the simulated feed and spoils a share of quotes in one way (test boundary)."""

    def __init__(self, inner, kind: str, share: float, seed: int = 3) -> None:
        self.inner = inner
        self.kind = kind
        self.share = share
        self.rng = np.random.default_rng(seed)
        self.spoiled: dict[str, set[str]] = {}  # time -> contract keys spoiled then

    @property
    def symbols(self):
        return self.inner.symbols

    def snapshot(self, time):
        view = self.inner.snapshot(time)
        chains = {s: self._spoil(c, time) for s, c in view.chains.items()}
        return MarketView(
            time=view.time,
            underlyings=view.underlyings,
            chains=chains,
            vix=view.vix,
            market_open=view.market_open,
        )

    def _spoil(self, chain: OptionChain, time) -> OptionChain:
        hit = self.rng.random(len(chain)) < self.share
        bid, ask, delta = chain.bid.copy(), chain.ask.copy(), chain.delta.copy()
        quote_time = chain.quote_time.copy()
        if self.kind == "nan":
            delta[hit] = np.nan
        elif self.kind == "crossed":
            bid[hit], ask[hit] = ask[hit] + 0.10, bid[hit]
        elif self.kind == "zero_bid":
            bid[hit] = 0.0
        elif self.kind == "stale":
            quote_time[hit] -= np.timedelta64(3600, "s")
        keys = self.spoiled.setdefault(time.isoformat(), set())
        keys.update(chain.contract(int(i)).key for i in np.flatnonzero(hit))
        return OptionChain(
            underlying=chain.underlying,
            as_of=chain.as_of,
            spot=chain.spot,
            expiry=chain.expiry,
            strike=chain.strike,
            is_call=chain.is_call,
            bid=bid,
            ask=ask,
            iv=chain.iv,
            delta=delta,
            gamma=chain.gamma,
            vega=chain.vega,
            theta=chain.theta,
            quote_time=quote_time,
            multiplier=chain.multiplier,
        )


def run_with_feed(tmp_path, kind, share, cycles):
    cfg = sim_config(tmp_path / "data", days=2)
    engine, clock = engine_for(cfg)
    feed = CorruptingFeed(engine.market, kind, share)
    engine.market = feed
    for _ in range(cycles):
        now = clock.next_cycle()
        if now is None:
            break
        engine.run_cycle(now)
    engine.close()
    return cfg, feed


@pytest.mark.parametrize("kind", ["nan", "crossed", "zero_bid", "stale"])
def test_fully_spoiled_market_never_produces_an_order(tmp_path, kind):
    cfg, _ = run_with_feed(tmp_path, kind, share=1.0, cycles=8)
    assert table(cfg, "orders").empty
    quality = table(cfg, "data_quality")
    assert kind in set(quality["reason"])


@pytest.mark.parametrize("kind", ["nan", "crossed", "zero_bid", "stale"])
def test_orders_never_touch_a_spoiled_quote(tmp_path, kind):
    cfg, feed = run_with_feed(tmp_path, kind, share=0.3, cycles=40)
    orders = table(cfg, "orders")
    assert len(orders) > 0, "the unspoiled 70% of the market should still trade"
    sent = orders.sort_values("time", kind="stable").drop_duplicates("order_ref")
    for row in sent.itertuples():
        spoiled = feed.spoiled[row.time.to_pydatetime().isoformat()]
        legs = json.loads(row.legs)
        for leg in legs:
            if kind == "zero_bid" and not (row.intent == "open" and leg["ratio"] < 0):
                # Buying an option that bids zero is fine, and so is selling a far wing
                # for nothing to close; *opening* a short into a zero bid never is.
                continue
            assert leg["key"] not in spoiled, (row.order_ref, leg["key"])
