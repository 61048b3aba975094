"""Tell systemd how the engine is doing: the sd_notify protocol, without libsystemd.

systemd starts a ``Type=notify`` service with ``NOTIFY_SOCKET`` in its environment: an
AF_UNIX datagram socket (a path, or an abstract name written with a leading ``@``). The
service sends newline-separated ``KEY=VALUE`` assignments to it: ``READY=1`` once it is
up (after recovery, so ``systemctl start`` returns when the engine can trade),
``WATCHDOG=1`` at least every ``WatchdogSec`` (systemd restarts a service that goes
quiet: a hung engine), ``STOPPING=1`` when it begins to shut down, ``STATUS=...`` as a
line for ``systemctl status``.

Without ``NOTIFY_SOCKET`` (a terminal, a test, another supervisor) every call is a no-op.
A send that fails (systemd restarting, a full socket buffer) is logged once and dropped:
the watchdog exists to catch a hung engine, never to crash a working one.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)


def _address(value: str) -> str | bytes:
    """The address in ``NOTIFY_SOCKET``: a path, or ``@name`` (Linux's abstract namespace)."""
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    return value


class SystemdNotifier:
    """Sends sd_notify messages to ``NOTIFY_SOCKET`` (a no-op when it is unset).

    ``watchdog()`` is rate-limited to half of ``WATCHDOG_USEC`` (what systemd sets with
    ``WatchdogSec``), so the engine may call it every cycle and from every wait step.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        socket_name = env.get("NOTIFY_SOCKET", "")
        self.address: str | bytes | None = _address(socket_name) if socket_name else None
        self.watchdog_interval = _watchdog_interval(env)
        self._last_watchdog: float | None = None
        self._warned = False

    @property
    def enabled(self) -> bool:
        """True when systemd (or a test) listens on ``NOTIFY_SOCKET``."""
        return self.address is not None

    def send(self, **fields: str | int) -> bool:
        """Send one message of ``KEY=VALUE`` lines; True if it went out."""
        if self.address is None:
            return False
        text = "\n".join(f"{key}={value}" for key, value in fields.items())
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(text.encode(), self.address)
        except OSError as exc:
            if not self._warned:
                log.warning("cannot notify systemd at %s: %s", self.address, exc)
                self._warned = True
            return False
        return True

    def ready(self, status: str = "") -> bool:
        """The service is up: ``systemctl start`` returns, the watchdog starts counting."""
        fields: dict[str, str | int] = {"READY": 1, "MAINPID": os.getpid()}
        if status:
            fields["STATUS"] = status
        return self.send(**fields)

    def watchdog(self, *, force: bool = False) -> bool:
        """Feed the watchdog (at most twice per ``WatchdogSec`` unless ``force``).

        Called every cycle and from every step of the wait between cycles (also the long
        wait outside market hours), all on the engine's thread: a cycle that hangs stops
        the pings, and systemd restarts the service after ``WatchdogSec``.
        """
        if self.address is None:
            return False
        now = time.monotonic()
        if self.watchdog_interval is None:
            return False
        if (
            not force
            and self._last_watchdog is not None
            and now - self._last_watchdog < self.watchdog_interval
        ):
            return False
        self._last_watchdog = now
        return self.send(WATCHDOG=1)

    def status(self, text: str) -> bool:
        """One line for ``systemctl status``."""
        return self.send(STATUS=text)

    def stopping(self, status: str = "") -> bool:
        """The service is shutting down in order (systemd will not count it as hung)."""
        fields: dict[str, str | int] = {"STOPPING": 1}
        if status:
            fields["STATUS"] = status
        return self.send(**fields)


def _watchdog_interval(env: Mapping[str, str]) -> float | None:
    """Seconds between two watchdog pings: half of ``WATCHDOG_USEC`` (0 when unset: every call).

    None when the watchdog is another process's.

    ``WATCHDOG_PID``, when set, names the process the watchdog is for; another process
    (a child the engine started) must not feed it.
    """
    pid = env.get("WATCHDOG_PID", "")
    if pid and pid.isdigit() and int(pid) != os.getpid():
        return None
    usec = env.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) == 0:
        return 0.0
    return int(usec) / 1e6 / 2
