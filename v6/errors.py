"""Errors a user can act on.

Every V6 error names the thing that is wrong and what would fix it; the CLI prints the
message on one line and exits with the error's ``exit_status``. Anything else is a bug and
keeps its traceback in the log.
"""

from __future__ import annotations


class V6Error(Exception):
    """Base class for errors a user can act on."""

    exit_status: int = 1


class ConfigError(V6Error):
    """The configuration is malformed: names the key path and what was expected."""

    exit_status = 2

    def __init__(self, path: str, expected: str, source: str | None = None) -> None:
        self.path = path
        self.expected = expected
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(f"{where}config error at '{path}': {expected}")


class PluginError(V6Error):
    """A plugin could not be loaded or does not honour the hook contract."""

    def __init__(self, plugin: str, reason: str) -> None:
        self.plugin = plugin
        self.reason = reason
        super().__init__(f"plugin '{plugin}': {reason}")


class SafetyError(V6Error):
    """V6 refused to do something that could put real money at risk."""

    exit_status = 3
