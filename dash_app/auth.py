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
