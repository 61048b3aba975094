"""Built-in regimes."""
