"""Run ``v6 dashboard`` as a real process on a free port of 127.0.0.1 and talk to it."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from v6_process import V6


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Dashboard:
    """A running ``v6 dashboard``; ``url`` is where it listens."""

    def __init__(self, store: Path | str, *args: str, env: dict[str, str] | None = None) -> None:
        store = Path(store)
        self.port = free_port()
        environment = {k: v for k, v in os.environ.items() if not k.startswith("V6_DASHBOARD_")}
        environment.update(env or {})
        self.proc = subprocess.Popen(
            [V6, "dashboard", "--store", str(store), "--port", str(self.port), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment,
            cwd=store.parent,
        )
        line = self.proc.stdout.readline()  # printed once it listens
        if "V6 dashboard on" not in line:
            self.proc.kill()
            raise AssertionError(f"v6 dashboard did not start: {line}{self.proc.stderr.read()}")
        self.banner = line
        self.url = f"http://127.0.0.1:{self.port}"

    def get(self, path: str, auth: tuple[str, str] | None = None) -> tuple[int, bytes]:
        """GET ``path``: (status, body); never raises for an HTTP error status."""
        request = urllib.request.Request(self.url + path)
        if auth is not None:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def health(self, auth: tuple[str, str] | None = None) -> tuple[int, dict[str, Any]]:
        status, body = self.get("/health", auth)
        return status, json.loads(body)

    def stop(self) -> tuple[int, str]:
        """SIGTERM, then the exit status and what it printed on stderr."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return self.proc.returncode, err
