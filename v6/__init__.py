"""V6: automated options trading for Interactive Brokers, built as a plugin framework."""

__version__ = "0.1.0"
