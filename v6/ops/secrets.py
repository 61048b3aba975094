"""Secrets that must never reach a log line or a table, and how they are masked.

V6's secrets come from the environment only (the systemd EnvironmentFile): the IB account
(``V6_IB_ACCOUNT``), the dashboard login (``V6_DASHBOARD_USER``, ``V6_DASHBOARD_PASSWORD``)
and the notification URLs (``V6_NOTIFY_URLS``, whose tokens and passwords are in the URL
itself). :func:`secret_values` lists the strings to mask: each variable's value and, for
the URLs, every path segment, user, password and query value long enough to be a token.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, urlsplit

SECRET_VARIABLES = ("V6_IB_ACCOUNT", "V6_DASHBOARD_USER", "V6_DASHBOARD_PASSWORD", "V6_NOTIFY_URLS")
MASK = "***"
_MIN_TOKEN = 4  # shorter pieces of a URL ("json", "80") are not secrets and would mask noise


def notify_urls(environ: Mapping[str, str] | None = None) -> list[str]:
    """The apprise URLs in ``V6_NOTIFY_URLS`` (separated by spaces, commas or newlines)."""
    env = os.environ if environ is None else environ
    return [u for u in re.split(r"[\s,]+", env.get("V6_NOTIFY_URLS", "")) if u]


def _url_parts(url: str) -> Iterable[str]:
    yield url
    try:
        parts = urlsplit(url)
    except ValueError:
        return
    for piece in (parts.username, parts.password, parts.hostname):
        if piece:
            yield piece
    yield from (seg for seg in parts.path.split("/") if seg)
    yield from (value for _key, value in parse_qsl(parts.query))


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Every string to mask, longest first (so a URL is masked whole before its parts)."""
    env = os.environ if environ is None else environ
    found: set[str] = set()
    for name in SECRET_VARIABLES:
        value = env.get(name, "").strip()
        if not value:
            continue
        if name == "V6_NOTIFY_URLS":
            for url in notify_urls(env):
                found.update(p for p in _url_parts(url) if len(p) >= _MIN_TOKEN)
        elif len(value) >= _MIN_TOKEN:
            found.add(value)
    # A host name such as 127.0.0.1 or ntfy.sh is where a message goes, not a secret.
    found = {v for v in found if not re.fullmatch(r"[\d.:]+|[a-z0-9-]+\.[a-z]{2,}", v)}
    return sorted(found, key=len, reverse=True)


def masked_config(data: dict) -> dict:
    """An unstructured config with the IB account masked (what the ``runs`` table keeps)."""
    ib = data.get("ib")
    if isinstance(ib, dict) and ib.get("account"):
        return {**data, "ib": {**ib, "account": MASK}}
    return data


class Redactor:
    """Masks the secrets of an environment in text."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        values = secret_values(environ)
        self._pattern = re.compile("|".join(re.escape(v) for v in values)) if values else None

    def __call__(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(MASK, text)
