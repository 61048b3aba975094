"""Built-in exit rules."""
