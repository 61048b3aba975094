"""V6's dashboard: a Dash + Plotly app over the store's Delta tables (docs/DASHBOARD.md).

It reads the tables the engine writes and writes only two things, each as rows in a table
the engine reads but never writes: alert acknowledgements (``alert_acks``) and the "halt
entries" switch (``manual_commands``). It never places or changes an order.
"""
