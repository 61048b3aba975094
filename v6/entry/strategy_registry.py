"""Strategy slots: which strategy owns which position, and how many each may hold.

Several strategies share one account. Every position occupies a named slot,
``strategy/underlying/index``, so ownership is explicit and survives a restart (the slot
is stored on the position's row and :meth:`StrategyRegistry.restore` rebuilds the map
from the positions table). A strategy may hold ``max_concurrent`` positions per
underlying, open ``entries_per_cycle`` per underlying per cycle, and after a stop-out
waits ``cooldown_minutes_after_stop`` before trading that underlying again: a strategy
that was just stopped out (closed at a loss by one of ``stop_out_rules``) does not walk
straight back into the same market.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from v6.config import SlotsConfig
from v6.domain.positions import Position, PositionStatus


def slot_name(strategy: str, underlying: str, index: int) -> str:
    return f"{strategy}/{underlying}/{index}"


class StrategyRegistry:
    """Slots per (strategy, underlying), entry counts this cycle, and cool-downs."""

    def __init__(self, config: SlotsConfig) -> None:
        self.config = config
        self._slots: dict[str, str] = {}  # slot -> position_id
        self._owner: dict[str, str] = {}  # position_id -> slot
        self._entries: dict[tuple[str, str], int] = {}
        self._cooldown_until: dict[tuple[str, str], tuple[datetime, str]] = {}

    # -- queries --------------------------------------------------------------------------

    def slot_of(self, position_id: str) -> str | None:
        """The slot ``position_id`` occupies, if any."""
        return self._owner.get(position_id)

    def occupied(self) -> dict[str, str]:
        """Every occupied slot and the position in it."""
        return dict(sorted(self._slots.items()))

    def held(self, strategy: str, underlying: str) -> int:
        prefix = f"{strategy}/{underlying}/"
        return sum(1 for slot in self._slots if slot.startswith(prefix))

    def refusal(self, strategy: str, underlying: str, now: datetime) -> str | None:
        """Why ``strategy`` may not open on ``underlying`` now, or None when it may."""
        settings = self.config.for_strategy(strategy)
        key = (strategy, underlying)
        until = self._cooldown_until.get(key)
        if until is not None and now < until[0]:
            return f"cool-down after stop-out ({until[1]}) until {until[0]:%Y-%m-%d %H:%M}Z"
        if self._entries.get(key, 0) >= settings.entries_per_cycle:
            return f"{strategy} already entered {underlying} this cycle"
        held = self.held(strategy, underlying)
        if held >= settings.max_concurrent:
            return f"{strategy} holds {held} of {settings.max_concurrent} slots on {underlying}"
        return None

    # -- changes --------------------------------------------------------------------------

    def begin_cycle(self) -> None:
        """A new cycle: entry counts start again."""
        self._entries.clear()

    def assign(self, strategy: str, underlying: str, position_id: str) -> str:
        """Put a new position in the lowest free slot; returns the slot's name."""
        index = 0
        while slot_name(strategy, underlying, index) in self._slots:
            index += 1
        return self._occupy(slot_name(strategy, underlying, index), position_id, count=True)

    def _occupy(self, slot: str, position_id: str, *, count: bool) -> str:
        self._slots[slot] = position_id
        self._owner[position_id] = slot
        if count:
            strategy, underlying, _ = slot.split("/")
            key = (strategy, underlying)
            self._entries[key] = self._entries.get(key, 0) + 1
        return slot

    def release(self, position: Position, now: datetime) -> None:
        """Free a closed position's slot; start the cool-down after a stop-out."""
        slot = self._owner.pop(position.position_id, None)
        if slot is not None:
            self._slots.pop(slot, None)
        self._start_cooldown(position, now)

    def _start_cooldown(self, position: Position, closed_at: datetime) -> None:
        settings = self.config.for_strategy(position.strategy)
        # A stop-out is a loss taken by a stop rule; a trailing stop that locks in a
        # profit is not one.
        if position.exit_rule not in settings.stop_out_rules or position.realized_pnl >= 0:
            return
        until = closed_at + timedelta(minutes=settings.cooldown_minutes_after_stop)
        key = (position.strategy, position.underlying)
        current = self._cooldown_until.get(key)
        if current is None or until > current[0]:
            self._cooldown_until[key] = (until, position.exit_rule)

    def restore(self, positions: Iterable[Position]) -> None:
        """Rebuild slots and cool-downs from stored positions (after a restart).

        Live positions take back the slot stored on them (or the lowest free one for rows
        written before slots existed); closed positions stopped out recently restart
        their cool-down from their ``closed_at``.
        """
        live = []
        for position in positions:
            if position.status is PositionStatus.CLOSED:
                if position.closed_at is not None:
                    self._start_cooldown(position, position.closed_at)
                continue
            live.append(position)
        for position in live:
            if position.slot and position.slot not in self._slots:
                self._occupy(position.slot, position.position_id, count=False)
        for position in live:
            if position.position_id not in self._owner:
                index = 0
                while slot_name(position.strategy, position.underlying, index) in self._slots:
                    index += 1
                self._occupy(
                    slot_name(position.strategy, position.underlying, index),
                    position.position_id,
                    count=False,
                )
