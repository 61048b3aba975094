"""The vendor file layouts ``v6 data import`` reads: which column holds which field.

Each layout maps V6's fields (``v6.config.BACKTEST_COLUMNS``) to the header of the
vendor's column, says how the vendor writes calls and puts, and when its end-of-day
quotes were taken (the snapshot time). ``mapped`` takes its columns from the config
(``backtest.columns``) for any other vendor.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import time

from attrs import frozen

from v6.config import BacktestSettings
from v6.errors import ConfigError, V6Error

REQUIRED = (
    "underlying",
    "quote_date",
    "expiration",
    "strike",
    "option_type",
    "bid",
    "ask",
    "underlying_price",
)
"""Fields without which a file cannot be a chain."""
NUMERIC = ("strike", "bid", "ask", "implied_volatility", "delta", "gamma", "theta", "vega")
GREEKS = ("implied_volatility", "delta", "gamma", "theta", "vega")
TEXT = ("underlying", "quote_date", "expiration", "option_type", "root")
"""Fields read as text: symbols, dates and option types are parsed per distinct value."""
PARSED_NUMBERS = ("strike", "bid", "ask", "underlying_price", "implied_volatility")
"""Numeric fields the import uses; the vendor's other Greeks are not (V6 prices its own)."""


class LayoutError(V6Error):
    """A file is not the layout it was imported as (exit status 2; nothing is written)."""

    exit_status = 2


@frozen(slots=True)
class Layout:
    """Where each field is in a vendor's file.

    ``columns`` maps a field to its header (lower case, no spaces around it);
    ``underlying_mid`` names a bid and an ask column whose mid is the underlying price
    (CBOE publishes the underlying's quote, not a last price), with ``underlying_price``
    as the fallback where that quote is missing. ``root_from_symbol``: the root is the
    leading letters of an OCC-style option symbol (``SPXW160115C02000000``).
    """

    name: str
    columns: Mapping[str, str]
    snapshot_time: time
    underlying_mid: tuple[str, str] | None = None
    root_from_symbol: bool = False

    def headers(self) -> set[str]:
        """Every header this layout reads."""
        names = set(self.columns.values())
        if self.underlying_mid:
            names.update(self.underlying_mid)
        return names

    def text_headers(self) -> set[str]:
        """Headers read as text."""
        return {self.columns[f] for f in TEXT if f in self.columns}

    def number_headers(self) -> set[str]:
        """Headers read as numbers (a header also read as text stays text)."""
        names = {self.columns[f] for f in PARSED_NUMBERS if f in self.columns}
        if self.underlying_mid:
            names.update(self.underlying_mid)
        return names - self.text_headers()

    def required_headers(self) -> list[str]:
        """Headers a file must have to be this layout, in the layout's order."""
        needed = [self.columns[f] for f in REQUIRED if f in self.columns]
        if self.underlying_mid:
            needed += [h for h in self.underlying_mid if h not in needed]
        return needed


CBOE = Layout(
    name="cboe",
    columns={
        "underlying": "underlying_symbol",
        "quote_date": "quote_date",
        "root": "root",
        "expiration": "expiration",
        "strike": "strike",
        "option_type": "option_type",
        "bid": "bid_1545",
        "ask": "ask_1545",
        "underlying_price": "active_underlying_price_1545",
        "implied_volatility": "implied_volatility_1545",
        "delta": "delta_1545",
        "gamma": "gamma_1545",
        "theta": "theta_1545",
        "vega": "vega_1545",
    },
    snapshot_time=time(15, 45),
    underlying_mid=("underlying_bid_1545", "underlying_ask_1545"),
)
"""CBOE DataShop "Option EOD Summary": quotes at 15:45 New York."""

HISTORICAL_OPTION_DATA = Layout(
    name="historicaloptiondata",
    columns={
        "underlying": "underlying",
        "quote_date": "quotedate",
        "root": "optionroot",
        "expiration": "expiration",
        "strike": "strike",
        "option_type": "type",
        "bid": "bid",
        "ask": "ask",
        "underlying_price": "underlying_last",
        "implied_volatility": "impliedvol",
        "delta": "delta",
        "gamma": "gamma",
        "theta": "theta",
        "vega": "vega",
    },
    snapshot_time=time(16, 0),
    root_from_symbol=True,
)
"""historicaloptiondata.com end-of-day files: quotes at the 16:00 New York close."""

FORMATS = ("cboe", "historicaloptiondata", "mapped")


def layout_for(name: str, settings: BacktestSettings) -> Layout:
    """The layout called ``name``; ``mapped`` is built from ``backtest.columns``."""
    if name == "cboe":
        return CBOE
    if name == "historicaloptiondata":
        return HISTORICAL_OPTION_DATA
    if name != "mapped":
        raise LayoutError(f"--format {name!r} is not a layout V6 reads; use one of {FORMATS}")
    missing = [f for f in REQUIRED if f not in settings.columns]
    if missing:
        raise ConfigError(
            "backtest.columns",
            f"--format mapped needs a column for {', '.join(missing)} (docs/BACKTEST.md)",
        )
    hour, minute = (int(part) for part in settings.snapshot_time.split(":"))
    return Layout(
        name="mapped",
        columns={field: header.strip().lower() for field, header in settings.columns.items()},
        snapshot_time=time(hour, minute),
    )
