"""Market views: underlying quotes and whole option chains as NumPy arrays.

A chain is a struct of arrays, one element per option, so pricing, validation and
strike selection run vectorised over the whole chain instead of looping in Python.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from weakref import WeakKeyDictionary

import numpy as np
from attrs import field, frozen

from v6.domain.contracts import Leg, OptionContract, Right
from v6.domain.futures import FuturesReading


@frozen(slots=True)
class UnderlyingQuote:
    """Top of book for an underlying (stock, ETF or index)."""

    symbol: str
    bid: float
    ask: float
    last: float
    time: datetime

    @property
    def mid(self) -> float:
        return (self.bid + self.ask) / 2.0


def _f64(values: object) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


@frozen(slots=True, eq=False)
class OptionChain:
    """Every listed option of one underlying at one instant.

    ``valid`` marks quotes that passed data-quality checks; consumers must ignore the
    rest (a NaN Greek or a crossed quote is never a number to trade on). Greeks are per
    share, theta per calendar day, vega per 1.00 of volatility.
    """

    underlying: str
    as_of: datetime
    spot: float
    expiry: np.ndarray = field(converter=lambda v: np.asarray(v, dtype="datetime64[D]"))
    strike: np.ndarray = field(converter=_f64)
    is_call: np.ndarray = field(converter=lambda v: np.asarray(v, dtype=bool))
    bid: np.ndarray = field(converter=_f64)
    ask: np.ndarray = field(converter=_f64)
    iv: np.ndarray = field(converter=_f64)
    delta: np.ndarray = field(converter=_f64)
    gamma: np.ndarray = field(converter=_f64)
    vega: np.ndarray = field(converter=_f64)
    theta: np.ndarray = field(converter=_f64)
    quote_time: np.ndarray = field(converter=lambda v: np.asarray(v, dtype="datetime64[us]"))
    valid: np.ndarray = field(
        default=None, converter=lambda v: None if v is None else np.asarray(v, dtype=bool)
    )
    multiplier: int = 100
    # The continuous dividend yield the quotes and Greeks were computed with. Pricing,
    # risk and the simulator read it from here, so all three use one source.
    dividend_yield: float = 0.0

    def __attrs_post_init__(self) -> None:
        n = self.strike.shape[0]
        for name in (
            "expiry",
            "is_call",
            "bid",
            "ask",
            "iv",
            "delta",
            "gamma",
            "vega",
            "theta",
            "quote_time",
        ):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"OptionChain.{name} must have shape ({n},)")
        if self.valid is None:
            object.__setattr__(self, "valid", np.ones(n, dtype=bool))
        elif self.valid.shape != (n,):
            raise ValueError(f"OptionChain.valid must have shape ({n},)")

    def __len__(self) -> int:
        return int(self.strike.shape[0])

    @property
    def mid(self) -> np.ndarray:
        return (self.bid + self.ask) / 2.0

    def dte(self, today: date | None = None) -> np.ndarray:
        """Calendar days to expiry for every option."""
        day = np.datetime64(today or self.as_of.date(), "D")
        return (self.expiry - day).astype(np.int64)

    def expiries(self) -> np.ndarray:
        """The distinct expiries, ascending."""
        return np.unique(self.expiry)

    def contract(self, i: int) -> OptionContract:
        """The contract at row ``i``."""
        return OptionContract(
            underlying=self.underlying,
            expiry=self.expiry[i].astype(object),
            strike=float(self.strike[i]),
            right=Right.CALL if self.is_call[i] else Right.PUT,
            multiplier=self.multiplier,
        )

    def index_of(self, contract: OptionContract) -> int | None:
        """Row of ``contract`` in this chain, or None when it is not listed."""
        hits = np.flatnonzero(
            (self.expiry == np.datetime64(contract.expiry, "D"))
            & (self.strike == contract.strike)
            & (self.is_call == contract.is_call)
        )
        return int(hits[0]) if hits.size else None

    def select(self, mask: np.ndarray) -> OptionChain:
        """A new chain holding only the rows where ``mask`` is true."""
        mask = np.asarray(mask)
        return OptionChain(
            underlying=self.underlying,
            as_of=self.as_of,
            spot=self.spot,
            expiry=self.expiry[mask],
            strike=self.strike[mask],
            is_call=self.is_call[mask],
            bid=self.bid[mask],
            ask=self.ask[mask],
            iv=self.iv[mask],
            delta=self.delta[mask],
            gamma=self.gamma[mask],
            vega=self.vega[mask],
            theta=self.theta[mask],
            quote_time=self.quote_time[mask],
            valid=self.valid[mask],
            multiplier=self.multiplier,
            dividend_yield=self.dividend_yield,
        )

    def with_validity(self, valid: np.ndarray) -> OptionChain:
        """The same chain with a new validity mask (used by the data-quality gate)."""
        return OptionChain(
            underlying=self.underlying,
            as_of=self.as_of,
            spot=self.spot,
            expiry=self.expiry,
            strike=self.strike,
            is_call=self.is_call,
            bid=self.bid,
            ask=self.ask,
            iv=self.iv,
            delta=self.delta,
            gamma=self.gamma,
            vega=self.vega,
            theta=self.theta,
            quote_time=self.quote_time,
            valid=np.asarray(valid, dtype=bool),
            multiplier=self.multiplier,
            dividend_yield=self.dividend_yield,
        )


@frozen(slots=True, eq=False)
class MarketView:
    """Everything the engine knows about the market at one instant.

    ``futures`` maps an ETF symbol to the reading of the index future that leads it
    (``futures["SPY"]`` is ES), read-only; None when futures are not configured, and an
    ETF is absent when its future has no usable quote (docs/FUTURES.md).
    """

    time: datetime
    underlyings: Mapping[str, UnderlyingQuote]
    chains: Mapping[str, OptionChain]
    vix: float
    market_open: bool = True
    futures: Mapping[str, FuturesReading] | None = None


@frozen(slots=True, eq=False)
class MarketHistory:
    """Recent per-cycle closes the engine keeps for regime detectors (oldest first).

    ``spots[symbol]`` and ``vix`` are aligned with ``times``; ``atm_iv[symbol]`` is the
    near-month at-the-money implied volatility (NaN where it could not be measured).
    """

    times: np.ndarray
    spots: Mapping[str, np.ndarray]
    atm_iv: Mapping[str, np.ndarray]
    vix: np.ndarray


def mean_at_the_money(values: np.ndarray) -> float:
    """``np.mean`` of ``values`` (the implied volatilities at the money), with the one or
    two values of the usual case averaged in plain arithmetic: the same sum in the same
    order, without NumPy's per-call overhead, for a reading taken every cycle."""
    if values.size == 1:
        return float(values[0])
    if values.size == 2:
        return float((values[0] + values[1]) / 2.0)
    return float(np.mean(values))


def _composite_key(expiry: np.ndarray, strike: np.ndarray, is_call: np.ndarray) -> np.ndarray:
    days = expiry.astype("datetime64[D]").astype(np.int64)
    cents = np.rint(np.asarray(strike, dtype=np.float64) * 1000).astype(np.int64)
    return (days * 10_000_000_000 + cents) * 2 + np.asarray(is_call, dtype=np.int64)


_EPOCH = date(1970, 1, 1).toordinal()

# Each chain's contract keys, sorted, with the rows they sort from: built once per chain
# and shared by every leg lookup on it (marks, risk, pre-trade checks and fills look up
# the same chain many times a cycle). Weak keys: a chain's index goes with the chain.
_INDEX: WeakKeyDictionary[OptionChain, tuple[np.ndarray, np.ndarray]] = WeakKeyDictionary()


def _chain_index(chain: OptionChain) -> tuple[np.ndarray, np.ndarray]:
    index = _INDEX.get(chain)
    if index is None:
        chain_keys = _composite_key(chain.expiry, chain.strike, chain.is_call)
        order = np.argsort(chain_keys, kind="stable")
        index = _INDEX[chain] = (chain_keys[order], order)
    return index


def contract_row_key(contract: OptionContract) -> int:
    """The key a chain's row of ``contract`` has (:func:`_composite_key`), in plain
    integers: contracts are looked up one order or one book at a time."""
    expiry = contract.expiry
    if isinstance(expiry, date):
        days = expiry.toordinal() - _EPOCH
    else:
        days = int(np.datetime64(expiry, "D").astype(np.int64))
    cents = round(float(contract.strike) * 1000)  # half to even, as np.rint
    return (days * 10_000_000_000 + cents) * 2 + int(bool(contract.is_call))


def locate_contracts(chain: OptionChain, contracts: Sequence[OptionContract]) -> np.ndarray:
    """Row index of every contract in ``chain``; -1 where it is not listed."""
    n = len(contracts)
    sorted_keys, order = _chain_index(chain)
    if n == 0 or not len(sorted_keys):
        return np.full(n, -1, dtype=np.int64)
    keys = np.fromiter((contract_row_key(c) for c in contracts), dtype=np.int64, count=n)
    pos = np.searchsorted(sorted_keys, keys)
    pos_clipped = np.minimum(pos, len(sorted_keys) - 1)
    found = (pos < len(sorted_keys)) & (sorted_keys[pos_clipped] == keys)
    return np.where(found, order[pos_clipped], -1)


def locate_legs(chain: OptionChain, legs: Sequence[Leg]) -> np.ndarray:
    """Row index of every leg in ``chain``; -1 where the contract is not listed."""
    return locate_contracts(chain, [leg.contract for leg in legs])
