"""Predictions: V6's default model of a position's outcome, and the report that grades
every model against what happened (docs/PREDICTIONS.md)."""
