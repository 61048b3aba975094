"""Translation between V6's contracts and ib_async's, and the conId cache.

IB identifies every listed option by a contract id (conId); a combo (BAG) order names
its legs only by conId. Contracts are qualified once (one contract-details request
each, batched) and remembered both ways, so fills, positions and quotes that arrive
with a conId map straight back to V6's ``OptionContract``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime

from ib_async import IB, Bag, ComboLeg, Contract, Index, Option, Stock

from v6.domain.contracts import Leg, OptionContract, Right
from v6.errors import V6Error

INDEXES = {"VIX": "CBOE", "SPX": "CBOE", "NDX": "NASDAQ", "RUT": "RUSSELL"}


class ContractError(V6Error):
    """IB does not know a contract V6 needs (no security definition)."""


def ib_expiry(day: date) -> str:
    return day.strftime("%Y%m%d")


def parse_expiry(text: str) -> date:
    return datetime.strptime(text[:8], "%Y%m%d").date()


def underlying_contract(symbol: str) -> Contract:
    """The stock/ETF or index an option chain is written on."""
    if symbol in INDEXES:
        return Index(symbol, INDEXES[symbol], "USD")
    return Stock(symbol, "SMART", "USD")


def option_contract(contract: OptionContract) -> Option:
    return Option(
        symbol=contract.underlying,
        lastTradeDateOrContractMonth=ib_expiry(contract.expiry),
        strike=float(contract.strike),
        right=contract.right.value,
        exchange="SMART",
        multiplier=str(contract.multiplier),
        currency="USD",
    )


def v6_contract(contract: Contract) -> OptionContract | None:
    """V6's contract for an IB option; None for anything that is not an option."""
    if contract.secType not in ("OPT", "FOP"):
        return None
    return OptionContract(
        underlying=contract.symbol,
        expiry=parse_expiry(contract.lastTradeDateOrContractMonth),
        strike=float(contract.strike),
        right=Right(contract.right[:1]),
        multiplier=int(float(contract.multiplier or 100)),
    )


class IBContracts:
    """Qualifies option contracts and remembers their conIds."""

    def __init__(self, ib: IB) -> None:
        self.ib = ib
        self._by_key: dict[str, Contract] = {}
        self._by_con_id: dict[int, OptionContract] = {}

    def remember(self, contract: Contract) -> OptionContract | None:
        """Learn an IB contract seen in a fill, position or quote."""
        ours = v6_contract(contract)
        if ours is not None and contract.conId:
            self._by_key[ours.key] = contract
            self._by_con_id[contract.conId] = ours
        return ours

    def known(self, con_id: int) -> OptionContract | None:
        return self._by_con_id.get(con_id)

    def qualify(self, contracts: Iterable[OptionContract]) -> dict[str, Contract]:
        """conId-bearing IB contracts for ``contracts`` (unknown ones are left out)."""
        contracts = list(contracts)
        wanted = [c for c in contracts if c.key not in self._by_key]
        if wanted:
            qualified = self.ib.qualifyContracts(*(option_contract(c) for c in wanted))
            for contract in qualified:
                if contract is not None and contract.conId:
                    self.remember(contract)
        return {c.key: self._by_key[c.key] for c in contracts if c.key in self._by_key}

    def combo(self, underlying: str, legs: Sequence[Leg]) -> Bag:
        """The BAG contract for ``legs`` (ratio sign = buy or sell)."""
        qualified = self.qualify(leg.contract for leg in legs)
        missing = [leg.contract.key for leg in legs if leg.contract.key not in qualified]
        if missing:
            raise ContractError(f"IB has no contract for {', '.join(missing)}")
        return Bag(
            symbol=underlying,
            exchange="SMART",
            currency="USD",
            comboLegs=[
                ComboLeg(
                    conId=qualified[leg.contract.key].conId,
                    ratio=abs(leg.ratio),
                    action="BUY" if leg.ratio > 0 else "SELL",
                    exchange="SMART",
                )
                for leg in legs
            ],
        )
