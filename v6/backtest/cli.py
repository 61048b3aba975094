"""``v6 backtest`` (filled in below)."""

from __future__ import annotations

import argparse
from typing import Any


def register(commands: Any, *parents: argparse.ArgumentParser) -> None:
    """Add ``v6 backtest`` to the ``v6`` command's subparsers."""
