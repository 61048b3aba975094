"""HTTP basic authentication for the dashboard when it is reachable from elsewhere."""

from __future__ import annotations

import base64
import hmac
from typing import Any

from flask import Response, request


def require_login(server: Any, credentials: tuple[str, str]) -> None:
    """HTTP basic authentication on every request (constant-time comparison)."""
    want_user, want_password = credentials

    @server.before_request
    def login() -> Response | None:
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                user, password = "", ""
            if hmac.compare_digest(user.encode(), want_user.encode()) and hmac.compare_digest(
                password.encode(), want_password.encode()
            ):
                return None
        return Response(
            "V6 dashboard: login required\n",
            status=401,
            headers={"WWW-Authenticate": 'Basic realm="V6 dashboard", charset="UTF-8"'},
        )


LOCAL_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]"})


def require_local_host(server: Any) -> None:
    """Refuse (403) every request whose ``Host`` header is not this machine by name.

    On loopback without a login the only thing keeping other origins out is the address;
    a web page the operator visits can rebind its own name to 127.0.0.1 (DNS rebinding)
    and then POST to the dashboard as if same-origin, e.g. press "resume entries". Such a
    request still carries the attacker's name in ``Host``, so it is refused here.
    """

    @server.before_request
    def local_host_only() -> Response | None:
        host = request.headers.get("Host", "").strip().lower()
        name = host.rpartition(":")[0] if host.rpartition(":")[2].isdigit() else host
        if name in LOCAL_NAMES:
            return None
        return Response(
            "V6 dashboard: refused, Host header is not this machine (use http://127.0.0.1:PORT/)\n",
            status=403,
            mimetype="text/plain",
        )
