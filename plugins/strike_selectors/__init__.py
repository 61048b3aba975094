"""Built-in strike selectors."""
