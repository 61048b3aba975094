"""Alerts: things a trader must see."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from attrs import frozen


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


@frozen(slots=True)
class Alert:
    """One alert. ``source`` names the component or plugin; ``code`` is a stable key."""

    time: datetime
    severity: Severity
    source: str
    code: str
    message: str
