"""``v6 dashboard``: serve the app until Ctrl-C or SIGTERM, then exit 0.

Binds 127.0.0.1 unless told otherwise. Any address other than this machine needs
credentials from the environment (:data:`USER_VARIABLE`, :data:`PASSWORD_VARIABLE`; never
the config file, which is often committed or shared) and is refused without them.
Credentials in the environment are required on 127.0.0.1 too: whoever set them wants a
login.
"""

from __future__ import annotations

import getpass
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import NoReturn, TextIO

from werkzeug.serving import make_server

from v6.config import DashboardSettings
from v6.config_rules import is_loopback
from v6.errors import V6Error

USER_VARIABLE = "V6_DASHBOARD_USER"
PASSWORD_VARIABLE = "V6_DASHBOARD_PASSWORD"

log = logging.getLogger(__name__)


class DashboardError(V6Error):
    """The dashboard cannot start as asked (exit status 2: fix the command or environment)."""

    exit_status = 2


def credentials(host: str, environ: Mapping[str, str]) -> tuple[str, str] | None:
    """The login to require, from the environment; DashboardError if ``host`` is not this
    machine and there is none (or only half of one)."""
    user = environ.get(USER_VARIABLE, "")
    password = environ.get(PASSWORD_VARIABLE, "")
    if bool(user) != bool(password):
        missing = PASSWORD_VARIABLE if user else USER_VARIABLE
        raise DashboardError(
            f"{missing} is not set: set both {USER_VARIABLE} and {PASSWORD_VARIABLE}, or neither"
        )
    if user:
        return user, password
    if not is_loopback(host):
        raise DashboardError(
            f"--host {host} is not this machine: set {USER_VARIABLE} and {PASSWORD_VARIABLE} "
            "in the environment to require a login there, or bind 127.0.0.1"
        )
    return None


def serve(
    store: str | Path,
    settings: DashboardSettings,
    *,
    environ: Mapping[str, str] | None = None,
    out: TextIO | None = None,
) -> int:
    """Serve the dashboard for ``store`` on ``settings.host:settings.port``; returns 0 once
    stopped by SIGINT or SIGTERM."""
    from dash_app.app import create_app
    from dash_app.data import StoreReader

    environ = os.environ if environ is None else environ
    out = out or sys.stdout
    login = credentials(settings.host, environ)
    root = Path(store)
    if root.exists() and not root.is_dir():
        raise DashboardError(f"--store {root} is a file, not a V6 store directory")
    user = login[0] if login else _local_user()
    app = create_app(StoreReader(root), settings, credentials=login, user=user)
    try:
        server = make_server(settings.host, settings.port, app.server, threaded=True)
    except OSError as exc:
        raise DashboardError(
            f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}"
        ) from None
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    stop = threading.Event()

    def shutdown(signum: int, _frame: object) -> None:
        if not stop.is_set():
            stop.set()
            threading.Thread(target=server.shutdown, daemon=True).start()

    previous = {s: signal.signal(s, shutdown) for s in (signal.SIGINT, signal.SIGTERM)}
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    print(
        f"V6 dashboard on http://{host}:{server.port}/ for store {root}"
        + (" (login required)" if login else "")
        + "; Ctrl-C to stop",
        file=out,
        flush=True,
    )
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _let_requests_finish(REQUEST_GRACE_SECONDS)
    return 0


REQUEST_GRACE_SECONDS = 3.0
"""How long a stopping dashboard waits for requests in flight (a Delta read, an alert
acknowledgement being committed) before the process ends."""


def _let_requests_finish(seconds: float) -> None:
    """Wait up to ``seconds`` for the request threads still running.

    Werkzeug's request threads are daemon threads: the server does not wait for them, and
    one still inside delta-rs (native code with its own runtime threads) while the
    interpreter finalises can crash the process (SIGSEGV) instead of exiting 0. A thread
    idling on a keep-alive connection only costs this grace period.
    """
    deadline = time.monotonic() + seconds
    for thread in threading.enumerate():
        if thread is threading.current_thread() or not thread.daemon:
            continue
        thread.join(timeout=max(0.0, deadline - time.monotonic()))


def exit_process(status: int) -> NoReturn:
    """End ``v6 dashboard`` with ``status`` without interpreter finalisation.

    Called once :func:`serve` has returned: the server is closed and requests in flight had
    their grace period. Finalising the interpreter while a keep-alive request thread or
    delta-rs's runtime threads are still alive can crash the process at its very end, which
    a service manager would report as a failure; every write the dashboard makes is a
    finished Delta commit by then, so nothing is lost by skipping finalisation.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "local"
