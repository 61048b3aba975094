"""Alert notifications through apprise to a real HTTP receiver on 127.0.0.1: severity
filter, deduplication, rate limit, the daily summary, and a notifier that hangs or fails
never holding up the engine."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from v6_process import V6

from v6.config import NotifySettings
from v6.ops.notify import AlertNotifier, apprise_sender


class Receiver:
    """A tiny HTTP server standing in for a notification service (apprise json://)."""

    def __init__(self) -> None:
        self.messages: list[dict] = []
        self.arrived = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with outer.arrived:
                    outer.messages.append(body)
                    outer.arrived.notify_all()
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"json://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, count: int, timeout: float = 30) -> list[dict]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.messages) >= count, timeout)
        return list(self.messages)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_severity_filter_dedupe_and_rate_limit_reach_the_receiver(receiver):
    clock = Clock()
    settings = NotifySettings(min_severity="error", dedupe_minutes=30, max_per_hour=2)
    notifier = AlertNotifier(settings, apprise_sender([receiver.url]), label="V6 test", clock=clock)
    assert not notifier.alert("warning", "risk", "limit", "below the floor")  # below min
    assert notifier.alert("error", "broker", "order_rejected", "order 1 rejected")
    assert not notifier.alert("error", "broker", "order_rejected", "order 1 rejected")  # dup
    assert notifier.alert("critical", "breakers", "breaker_trip", "daily_loss tripped")
    assert not notifier.alert("error", "broker", "order_rejected", "order 2 rejected")  # 2/h
    assert not notifier.alert("error", "broker", "order_rejected", "order 3 rejected")
    clock.now += 3600  # an hour later the limit and the dedupe window have passed
    assert notifier.alert("error", "broker", "order_rejected", "order 1 rejected")
    assert notifier.close()
    messages = receiver.wait_for(3)
    assert [m["title"] for m in messages] == [
        "V6 test ERROR: order_rejected",
        "V6 test CRITICAL: breaker_trip",
        "V6 test ERROR: order_rejected",
    ]
    assert "order 1 rejected" in messages[0]["message"]
    assert "2 more alerts held back by notify.max_per_hour" in messages[2]["message"]
    assert messages[1]["type"] == "failure"


def test_a_hanging_notifier_never_holds_up_the_caller():
    release = threading.Event()

    def hangs(_title: str, _body: str, _severity: str) -> bool:
        release.wait()
        return True

    notifier = AlertNotifier(NotifySettings(min_severity="info", max_per_hour=3600), hangs)
    caller = threading.Thread(
        target=lambda: [notifier.alert("error", "x", "y", f"alert {i}") for i in range(50)]
    )
    caller.start()
    caller.join(10)
    hung = caller.is_alive()
    release.set()
    assert not hung, "alert() waited for the notifier"
    assert notifier.close()
    assert notifier.sent == 50


def test_an_unreachable_notifier_is_logged_and_counted_not_raised(caplog):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    notifier = AlertNotifier(
        NotifySettings(min_severity="info"), apprise_sender([f"json://127.0.0.1:{port}/"])
    )
    assert notifier.alert("critical", "broker", "disconnected", "IB Gateway is gone")
    assert notifier.close()
    assert notifier.failed == 1 and notifier.sent == 0
    assert "was not delivered" in caplog.text


def test_a_session_sends_its_breaker_trip_and_a_daily_summary(receiver, tmp_path):
    """A real `v6 run`: the disk_space breaker trips (floor set above the free space), its
    critical alert goes out once, and the session's end sends the day's summary."""
    config = tmp_path / "v6.yaml"
    config.write_text(
        "breakers:\n  min_free_disk_mb: 10000000\nnotify:\n  min_severity: critical\n"
    )
    env = {**os.environ, "V6_NOTIFY_URLS": receiver.url}
    done = subprocess.run(
        [V6, "run", "--config", str(config), "--cycles", "4", "--store", str(tmp_path / "s")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    messages = receiver.wait_for(2)
    titles = [m["title"] for m in messages]
    assert titles == ["V6 sim CRITICAL: breaker_trip", f"V6 sim daily summary {titles[1][-10:]}"]
    assert "disk_space" in messages[0]["message"]
    summary = messages[1]["message"]
    assert "P&L " in summary and "trades (fills): 0" in summary
    assert "breaker events: disk_space trip" in summary
    assert Path(tmp_path / "s").is_dir()
