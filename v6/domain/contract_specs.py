"""How an option root exercises and settles, and its multiplier.

Replay needs to know what happens to an option at expiry: SPX-style index options are
European and cash-settled (the monthly SPX at the morning's opening prints, "AM"; the
weekly SPXW at the close, "PM"), while ETF and stock options are American and settle by
delivering shares. Vendors name the root (SPX vs SPXW) but not the style, so V6 keeps
the table of the cash-settled index roots it knows; everything else is an American,
physically settled equity option of 100 shares.
"""

from __future__ import annotations

from attrs import frozen

EUROPEAN = "european"
AMERICAN = "american"
CASH_AM = "cash_am"
CASH_PM = "cash_pm"
PHYSICAL = "physical"
STYLES = (EUROPEAN, AMERICAN)
SETTLEMENTS = (CASH_AM, CASH_PM, PHYSICAL)

# Cash-settled European index roots settled on the opening prints of expiry day (AM).
AM_SETTLED_INDEX_ROOTS = frozenset({"SPX", "NDX", "RUT", "DJX", "VIX", "MXEA", "MXEF"})
# Cash-settled European index roots settled on the closing value of expiry day (PM).
PM_SETTLED_INDEX_ROOTS = frozenset({"SPXW", "SPXPM", "XSP", "NDXP", "RUTW", "MRUT", "VIXW", "XND"})


@frozen(slots=True)
class ContractSpec:
    """Exercise style, settlement and multiplier of one option root."""

    exercise_style: str
    settlement: str
    multiplier: int = 100

    @property
    def cash_settled(self) -> bool:
        return self.settlement != PHYSICAL


def normalise_symbol(symbol: str) -> str:
    """``^SPX`` (CBOE's index prefix) and `` spy `` become ``SPX`` and ``SPY``."""
    return symbol.strip().lstrip("^$").upper()


def contract_spec(underlying: str, root: str | None = None) -> ContractSpec:
    """The spec of ``root`` (or of the underlying's standard root when no root is known)."""
    name = normalise_symbol(root or underlying)
    if name in PM_SETTLED_INDEX_ROOTS:
        return ContractSpec(EUROPEAN, CASH_PM)
    if name in AM_SETTLED_INDEX_ROOTS:
        return ContractSpec(EUROPEAN, CASH_AM)
    return ContractSpec(AMERICAN, PHYSICAL)
