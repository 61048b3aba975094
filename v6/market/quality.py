"""The data-quality gate: bad quotes are rejected before anything can trade on them.

Every chain passes through :func:`validate_chain` before the engine, the plugins or the
execution layer see it. A rejected option keeps its row (positions may still hold it)
but its ``valid`` flag is cleared, and the rejection is counted by reason so it can be
logged and stored. Checks are vectorised over the whole chain.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import numpy as np
from attrs import frozen

from v6.domain.market import MarketView, OptionChain, UnderlyingQuote

REASONS = ("nan", "crossed", "negative", "zero_bid", "stale", "bad_underlying")

# A zero bid is normal for a far out-of-the-money or nearly expired option. On an option
# with real delta that is also offered at a real price it means the quote is broken (a
# market maker pulled one side), so it is rejected.
ZERO_BID_MAX_DELTA = 0.05
ZERO_BID_MAX_ASK = 0.30


@frozen(slots=True)
class QualityReport:
    """Counts of rejected quotes per reason for one underlying, with a few examples."""

    underlying: str
    total: int
    rejected: Mapping[str, int]
    zero_bid: int
    samples: Mapping[str, str]

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())


def underlying_is_sound(quote: UnderlyingQuote | None, now: datetime, max_age: float) -> bool:
    """True when the underlying quote is finite, positive, not crossed and fresh."""
    if quote is None:
        return False
    values = np.array([quote.bid, quote.ask, quote.last], dtype=np.float64)
    if not np.all(np.isfinite(values)) or quote.bid <= 0 or quote.bid > quote.ask:
        return False
    return (now - quote.time).total_seconds() <= max_age


def validate_chain(
    chain: OptionChain, now: datetime, max_age_seconds: float, underlying_ok: bool = True
) -> tuple[OptionChain, QualityReport]:
    """Clear ``valid`` on every option whose quote cannot be trusted.

    Rejected: NaN or infinite bid, ask, IV or Greeks (IB sends NaN Greeks for options it
    cannot model); crossed quotes (bid > ask); negative prices; quotes older than
    ``max_age_seconds``; every option when the underlying quote itself is bad. A zero
    bid is *not* rejected (deep OTM options really do bid zero, and buying them is
    fine) but is counted: selling such an option is refused at strike selection and
    again before any order is sent. A zero bid on an option with |delta| of at least
    ``ZERO_BID_MAX_DELTA`` that is offered at ``ZERO_BID_MAX_ASK`` or more is not a real
    market and is rejected as ``zero_bid``.
    """
    numbers = np.vstack(
        [chain.bid, chain.ask, chain.iv, chain.delta, chain.gamma, chain.vega, chain.theta]
    )
    nan = ~np.all(np.isfinite(numbers), axis=0)
    with np.errstate(invalid="ignore"):
        crossed = ~nan & (chain.bid > chain.ask)
        negative = ~nan & ((chain.bid < 0) | (chain.ask <= 0))
        zero_bid = ~nan & (chain.bid == 0)
        broken_zero_bid = (
            zero_bid & (np.abs(chain.delta) >= ZERO_BID_MAX_DELTA) & (chain.ask >= ZERO_BID_MAX_ASK)
        )
    age = (
        np.datetime64(now.astimezone(UTC).replace(tzinfo=None), "us") - chain.quote_time
    ) / np.timedelta64(1, "s")
    stale = age > max_age_seconds
    masks = {
        "nan": nan,
        "crossed": crossed,
        "negative": negative,
        "zero_bid": broken_zero_bid,
        "stale": stale,
    }
    bad = nan | crossed | negative | broken_zero_bid | stale
    if not underlying_ok:
        masks["bad_underlying"] = np.ones(len(chain), dtype=bool)
        bad = np.ones(len(chain), dtype=bool)
    valid = chain.valid & ~bad
    rejected = {reason: int(mask.sum()) for reason, mask in masks.items() if mask.any()}
    samples = {
        reason: ", ".join(chain.contract(int(i)).key for i in np.flatnonzero(mask)[:3])
        for reason, mask in masks.items()
        if mask.any()
    }
    report = QualityReport(
        underlying=chain.underlying,
        total=len(chain),
        rejected=rejected,
        zero_bid=int(zero_bid.sum()),
        samples=samples,
    )
    return chain.with_validity(valid), report


def validate_market(
    view: MarketView, max_age_seconds: float
) -> tuple[MarketView, list[QualityReport]]:
    """Validate every chain of a market view; returns the gated view and the reports."""
    chains: dict[str, OptionChain] = {}
    reports: list[QualityReport] = []
    for symbol, chain in view.chains.items():
        ok = underlying_is_sound(view.underlyings.get(symbol), view.time, max_age_seconds)
        gated, report = validate_chain(chain, view.time, max_age_seconds, underlying_ok=ok)
        chains[symbol] = gated
        reports.append(report)
    gated_view = MarketView(
        time=view.time,
        underlyings=view.underlyings,
        chains=chains,
        vix=view.vix,
        market_open=view.market_open,
    )
    return gated_view, reports
