"""Logging of ``v6 run`` in production: JSON lines or text, a rotated file, secrets masked.

The CLI installs a stderr handler before the config is read (v6.cli.configure_logging);
:func:`configure` then applies the config's ``logging:`` section: the format of every
handler V6 installed, a size-rotated file when ``logging.file`` is set, and a mask over
every line for the secrets in the environment (v6.ops.secrets), in both.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
from datetime import UTC, datetime
from pathlib import Path

from v6.config import LogSettings
from v6.errors import ConfigError
from v6.ops.secrets import Redactor

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class MaskingFormatter(logging.Formatter):
    """Formats with ``inner`` and masks the secrets in the result (message, args, traceback)."""

    def __init__(self, inner: logging.Formatter, redact: Redactor) -> None:
        super().__init__()
        self.inner = inner
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(self.inner.format(record))


class _FileHandler(logging.handlers.RotatingFileHandler):
    """Marks the file handler this module installed, so a second configure replaces it."""


def formatter(settings: LogSettings, redact: Redactor | None = None) -> logging.Formatter:
    """The masking formatter for ``settings.format``."""
    inner = JsonFormatter() if settings.format == "json" else logging.Formatter(TEXT_FORMAT)
    return MaskingFormatter(inner, redact or Redactor())


def configure(settings: LogSettings, handlers: list[logging.Handler]) -> logging.Handler | None:
    """Apply ``settings`` to V6's ``handlers``, add the rotated file; returns its handler."""
    masked = formatter(settings)
    for handler in handlers:
        handler.setFormatter(masked)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _FileHandler)]:
        root.removeHandler(old)
        old.close()
    if not settings.file:
        return None
    path = Path(settings.file)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = _FileHandler(
            path,
            maxBytes=int(settings.max_mb * 1e6),
            backupCount=settings.backups,
            encoding="utf-8",
        )
    except OSError as exc:
        raise ConfigError("logging.file", f"cannot write {path}: {exc.strerror or exc}") from None
    handler.setFormatter(masked)
    # The file keeps INFO even when stderr shows only warnings: it is what a human reads later.
    handler.setLevel(logging.INFO)
    root.addHandler(handler)
    if root.level > logging.INFO:
        root.setLevel(logging.INFO)
        for other in handlers:
            if other.level < logging.WARNING:
                other.setLevel(logging.WARNING)
    return handler
