"""Delta-target strike selection: the plain built-in strike selector.

Picks the expiry in the candidate's DTE window nearest the target, each delta leg at
the strike whose |delta| is nearest the target, and each wing at the listed strike
nearest ``anchor + offset`` on the far side of its anchor (offset 0: the anchor's own
strike, for the other right). Only options that passed the data-quality gate are
eligible, and a short leg must have a bid: selling into a zero bid is never an
acceptable fill. The search itself is :func:`v6.entry.strike_selection.search_by_delta`,
shared with the selectors that adjust the targets; when it finds nothing, its reason
(``no expiry 30-45 DTE with valid quotes``, ``credit 0.18 at mid, below the 0.25
minimum``...) is stored with the rejected entry.
"""

from __future__ import annotations

from attrs import field, frozen, validators

from v6.domain.entries import EntryCandidate, NoSelection, StrikeSelection
from v6.domain.market import OptionChain
from v6.domain.plugins import PluginInfo, PluginKind
from v6.entry.strike_selection import search_by_delta
from v6.hookspecs import hookimpl

NAME = "delta_target"


@frozen
class Settings:
    """Nearest-delta strikes on the expiry nearest a target.

    Attributes:
        target_dte: the calendar days to expiry to aim for; null means the middle of the
            candidate's DTE window.
        max_spread_fraction: refuse a short leg whose bid/ask spread is wider than this
            share of its mid (a wide market means a bad fill and an unreliable mark).
    """

    target_dte: int | None = field(default=None, validator=validators.optional(validators.ge(0)))
    max_spread_fraction: float = field(default=0.5, validator=validators.gt(0))


@hookimpl
def v6_plugin_info() -> PluginInfo:
    """The strike selector; its settings are validated by :class:`Settings`."""
    return PluginInfo(
        name=NAME,
        kind=PluginKind.STRIKE_SELECTOR,
        settings=Settings,
        summary="Nearest-delta shorts, wings by width, on the expiry nearest the target DTE",
    )


@hookimpl
def v6_select_strikes(
    candidate: EntryCandidate, chain: OptionChain, settings: Settings
) -> StrikeSelection | NoSelection:
    """Strikes for ``candidate`` on one expiry, or a ``NoSelection`` saying why not.

    Nothing when: no expiry in the DTE window has valid quotes, a leg has no valid strike
    (shorts also need a bid and a spread within ``max_spread_fraction`` of mid), two legs
    land on one contract, the credit at mid is below ``candidate.min_credit``, or the
    risk is not defined.
    """
    return search_by_delta(
        candidate,
        chain,
        target_dte=settings.target_dte,
        max_spread_fraction=settings.max_spread_fraction,
    )
