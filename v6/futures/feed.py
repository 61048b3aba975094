"""The port a futures source implements: the sim feed and the IB feed both do."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Protocol, runtime_checkable

from v6.domain.futures import FutureContract, FuturesQuote


@runtime_checkable
class FuturesFeed(Protocol):
    """Where listed futures and their quotes come from."""

    def listed(self, symbol: str, exchange: str, today: date) -> Sequence[FutureContract]:
        """The contracts of ``symbol`` listed on ``today`` (the observer asks once a day)."""
        ...

    def quotes(
        self, time: datetime, contracts: Sequence[FutureContract]
    ) -> Mapping[str, FuturesQuote]:
        """The current quote of each of ``contracts`` by local symbol; a contract without
        a quote is left out or has NaN sides (never a made-up number)."""
        ...
