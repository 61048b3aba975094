"""The engine speaks systemd's sd_notify protocol to a real AF_UNIX datagram socket.

The test binds the socket systemd would, starts ``v6 run`` with ``NOTIFY_SOCKET`` pointing
at it, and reads what arrives: READY=1 once the engine is up, WATCHDOG=1 after every cycle
and while it waits, STOPPING=1 as it shuts down.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from ib_harness import paper_config, running_gateway, write_config
from v6_process import V6

from v6.ops.sd_notify import SystemdNotifier

SATURDAY = datetime(2026, 1, 10, 15, 0, tzinfo=UTC)


class NotifySocket:
    """The receiving end systemd would hold: collects every datagram as a dict of fields."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[dict[str, str]] = []

    def drain(self) -> list[dict[str, str]]:
        while True:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                return self.messages
            fields = dict(line.split("=", 1) for line in data.decode().splitlines())
            self.messages.append(fields)

    def wait_for(self, key: str, count: int = 1, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while sum(key in m for m in self.drain()) < count:
            assert time.monotonic() < deadline, f"no {count} x {key} in {self.messages}"

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[NotifySocket]:
    # AF_UNIX paths are limited to 107 bytes: a short directory of its own.
    directory = Path("/tmp") / f"v6-notify-{uuid.uuid4().hex[:8]}"
    directory.mkdir()
    receiver = NotifySocket(directory / "notify")
    yield receiver
    receiver.close()
    (directory / "notify").unlink(missing_ok=True)
    directory.rmdir()


def test_without_notify_socket_every_call_is_a_no_op():
    notifier = SystemdNotifier({})
    assert not notifier.enabled
    assert not notifier.ready() and not notifier.watchdog() and not notifier.stopping()


def test_messages_reach_an_abstract_socket_and_the_watchdog_is_rate_limited():
    name = f"v6-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(b"\0" + name.encode())
        sock.settimeout(2)
        notifier = SystemdNotifier({"NOTIFY_SOCKET": f"@{name}", "WATCHDOG_USEC": "60000000"})
        assert notifier.ready("up")
        assert sock.recv(4096).decode().splitlines()[:1] == ["READY=1"]
        assert notifier.watchdog()
        assert not notifier.watchdog()  # 30 s have not passed
        assert sock.recv(4096) == b"WATCHDOG=1"


def test_a_watchdog_meant_for_another_process_is_not_fed(tmp_path):
    notifier = SystemdNotifier(
        {"NOTIFY_SOCKET": str(tmp_path / "none"), "WATCHDOG_PID": str(os.getpid() + 1)}
    )
    assert not notifier.watchdog()


def test_sim_run_sends_ready_a_watchdog_per_cycle_and_stopping(tmp_path, notify_socket):
    env = {**os.environ, "NOTIFY_SOCKET": str(notify_socket.path), "WATCHDOG_USEC": "1"}
    done = subprocess.run(
        [V6, "run", "--cycles", "3", "--store", str(tmp_path / "store")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    messages = notify_socket.drain()
    keys = [next(iter(m)) for m in messages]
    assert keys[0] == "READY" and messages[0]["MAINPID"].isdigit()
    assert keys.count("WATCHDOG") >= 3
    assert keys[-1] == "STOPPING"
    assert keys.index("STOPPING") > max(i for i, k in enumerate(keys) if k == "WATCHDOG")


def test_paper_run_outside_market_hours_waits_quietly_and_keeps_feeding_the_watchdog(
    tmp_path, notify_socket
):
    """Started on a Saturday against the fake gateway: READY (after recovery), no cycle,
    the watchdog fed throughout the wait, and an orderly stop on SIGTERM."""
    with running_gateway(start=SATURDAY) as gateway:
        config = write_config(paper_config(tmp_path / "store", gateway.port), tmp_path / "p.yaml")
        env = {**os.environ, "NOTIFY_SOCKET": str(notify_socket.path), "WATCHDOG_USEC": "400000"}
        proc = subprocess.Popen(
            [V6, "run", "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=tmp_path,
        )
        try:
            notify_socket.wait_for("READY")
            ready_at = len(notify_socket.messages)
            notify_socket.wait_for("WATCHDOG", count=4)
            assert proc.poll() is None
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 0, err
    assert " cycle " not in out  # it never traded: the market was closed
    keys = [next(iter(m)) for m in notify_socket.drain()]
    assert keys.index("READY") < ready_at
    assert keys[-1] == "STOPPING"
