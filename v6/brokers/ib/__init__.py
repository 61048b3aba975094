"""Interactive Brokers adapters (TWS / IB Gateway through ib_async)."""
