"""The ``manual_commands`` table: a person's "halt entries" and "resume entries".

The dashboard writes a command as a row (never a file, never an order); the running
engine picks it up at its next cycle through :class:`ManualCommandInbox` and trips or
resets the ``manual_halt`` circuit breaker, which blocks new entries like any breaker and
is reset like any breaker (the dashboard's "resume entries", or
``v6 breaker reset manual_halt``). The table belongs to the dashboard: the engine only
reads it, so an operator's click can never conflict with an engine commit.

Which commands were applied is told by the breaker's own events: a trip or reset the
engine made for a command names the command's id in its reason, and so does the
``already_tripped`` / ``not_tripped`` event of a command that found the breaker as it
asked (a halt pressed while halted), so that one too is applied, once. So an engine that starts
after a command was written (the engine was down, or between two sim runs) still obeys
the latest command it never applied, whatever the clocks of the two processes say.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime

import pandas as pd
from attrs import frozen

from v6.errors import V6Error
from v6.store.delta_store import DeltaStore

TABLE = "manual_commands"
BREAKER = "manual_halt"
HALT = "halt_entries"
RESUME = "resume_entries"
COMMANDS = (HALT, RESUME)
# ``breaker_events.event`` of a command that changed nothing (a halt while halted, a
# resume while not halted): the command is applied all the same, as a no-op.
ALREADY_TRIPPED = "already_tripped"
NOT_TRIPPED = "not_tripped"
NO_OP_TEXT = {ALREADY_TRIPPED: "already halted", NOT_TRIPPED: "was not halted"}
_ID = re.compile(r"\[command ([0-9a-f]{12})\]")


class CommandError(V6Error):
    """A command the engine does not know (exit status 2)."""

    exit_status = 2


@frozen(slots=True)
class ManualCommand:
    """One row of ``manual_commands``."""

    time: datetime
    command_id: str
    command: str
    reason: str
    user: str

    def describe(self) -> str:
        """The reason the breaker event stores (it carries the command's id)."""
        who = f" by {self.user}" if self.user else ""
        what = "halted" if self.command == HALT else "resumed"
        text = f"{what} from the dashboard{who}"
        if self.reason:
            text += f": {self.reason}"
        return f"{text} [command {self.command_id}]"


def issue(
    store: DeltaStore, command: str, time: datetime, *, reason: str = "", user: str = ""
) -> str:
    """Write ``command`` for every engine on ``store`` (committed at once); its id."""
    if command not in COMMANDS:
        raise CommandError(f"unknown command {command!r}; commands are: {', '.join(COMMANDS)}")
    command_id = uuid.uuid4().hex[:12]
    store.append(
        TABLE,
        [
            {
                "time": time,
                "command_id": command_id,
                "command": command,
                "reason": reason,
                "user": user,
                "run_id": "dashboard",
            }
        ],
    )
    store.flush([TABLE])
    return command_id


def stored_commands(store: DeltaStore) -> list[ManualCommand]:
    """Every command, in the order written."""
    frame = store.read(TABLE)
    if frame.empty:
        return []
    frame = frame.sort_values("time", kind="stable")
    return [
        ManualCommand(
            time=pd.Timestamp(row.time).to_pydatetime(),
            command_id=row.command_id,
            command=row.command,
            reason=row.reason,
            user=row.user,
        )
        for row in frame.itertuples(index=False)
        if row.command in COMMANDS  # a row another tool wrote is not an order to obey
    ]


def applied_ids(store: DeltaStore) -> set[str]:
    """Ids of the commands an engine applied (named in ``manual_halt`` events)."""
    return applied_in(store.read("breaker_events", columns=["breaker", "reason"]))


def applied_in(events: pd.DataFrame) -> set[str]:
    """:func:`applied_ids` of ``breaker_events`` rows already read."""
    reasons = events.loc[events["breaker"] == BREAKER, "reason"]
    return {m.group(1) for text in reasons for m in _ID.finditer(text)}


class ManualCommandInbox:
    """Commands for a running engine, each delivered once.

    At start, the latest command is delivered if no engine ever applied it (a halt pressed
    while the engine was down); older ones are history. Afterwards every new command is,
    in order. Polls the table's version (a directory listing) and reads it only when
    something was written.
    """

    def __init__(self, store: DeltaStore) -> None:
        self.store = store
        self._version = store.version(TABLE)
        commands = stored_commands(store)
        self._seen = {c.command_id for c in commands}
        self._pending: list[ManualCommand] = []
        if commands and commands[-1].command_id not in applied_ids(store):
            self._pending.append(commands[-1])

    def take(self) -> list[ManualCommand]:
        """Commands not delivered yet, oldest first."""
        fresh, self._pending = self._pending, []
        version = self.store.version(TABLE)
        if version != self._version:
            self._version = version
            for command in stored_commands(self.store):
                if command.command_id not in self._seen:
                    self._seen.add(command.command_id)
                    fresh.append(command)
        return fresh
