"""``v6 sweep``: many backtests over a grid of settings (docs/BACKTEST.md, "v6 sweep")."""
