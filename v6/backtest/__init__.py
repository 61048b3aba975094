"""Backtests: stored option chains replayed through the engine that trades."""
