"""Account values as the broker reports them."""

from __future__ import annotations

from datetime import datetime

from attrs import frozen


@frozen(slots=True)
class AccountSnapshot:
    """Cash, net liquidation and margin at one instant (dollars)."""

    time: datetime
    cash: float
    net_liquidation: float
    buying_power: float
    maintenance_margin: float
    realized_pnl: float
    unrealized_pnl: float
    commissions: float


@frozen(slots=True)
class BrokerPosition:
    """The broker's net position in one contract, V6's view of truth after a restart."""

    contract_key: str
    quantity: int
    avg_cost: float
