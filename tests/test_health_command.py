"""``v6 health``: 0 healthy, 1 degraded, 2 down, and the same answer as the dashboard's
``GET /health`` on the same store (both call v6.health.evaluate)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from dashboard_process import Dashboard
from sessions import sim_config
from v6_process import v6

from v6.testing.sessions import run as run_session
from v6.testing.sessions import sim_engine


def running_store(root, *, disconnect: bool = False):
    """A store whose engine is still running (start record, fresh heartbeats, no stop)."""
    sim = sim_engine(sim_config(root, days=1))
    sim.engine.recorder.run_event(datetime.now(UTC), "start", "sim", "mode: sim\n", 0)
    sim.run(2)
    if disconnect:
        sim.engine.broker.faults.disconnect()
        sim.run(1)
    sim.engine.recorder.flush()
    return sim


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    base = tmp_path_factory.mktemp("health")
    healthy = running_store(base / "healthy")
    degraded = running_store(base / "degraded", disconnect=True)
    run_session(sim_config(base / "finished", days=1), cycles=3)
    yield {"healthy": base / "healthy", "degraded": base / "degraded", "down": base / "finished"}
    healthy.close()
    degraded.close()


def health(store) -> tuple[int, dict]:
    done = v6("health", "--json", "--store", str(store), cwd=store.parent)
    assert done.stderr == ""
    return done.returncode, json.loads(done.stdout)


def test_exit_status_grades_healthy_degraded_and_down(stores):
    assert health(stores["healthy"])[0] == 0
    status, body = health(stores["degraded"])
    assert status == 1 and body["level"] == "degraded"
    assert [c["name"] for c in body["checks"] if not c["ok"]] == ["broker"]
    assert "broker_disconnect" in body["breakers_tripped"]
    status, body = health(stores["down"])
    assert status == 2 and body["level"] == "down"
    assert [c["name"] for c in body["checks"] if not c["ok"]] == ["engine"]


def test_text_output_names_every_check(stores):
    done = v6("health", "--store", str(stores["healthy"]), cwd=stores["healthy"].parent)
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert lines[0].startswith("HEALTHY: store ")
    for name in ("heartbeat", "engine", "broker", "market_data", "plugins", "store", "disk"):
        assert any(line.split()[:2] == [name, "ok"] for line in lines), done.stdout
    assert "breakers tripped: none" in done.stdout


def test_the_dashboard_and_the_command_agree_on_every_store(stores):
    for level, store in stores.items():
        dashboard = Dashboard(store)
        try:
            http, served = dashboard.health()
        finally:
            assert dashboard.stop()[0] == 0
        status, body = health(store)
        assert status == {"healthy": 0, "degraded": 1, "down": 2}[level]
        assert body["level"] == served["level"] == level
        assert [(c["name"], c["ok"]) for c in body["checks"]] == [
            (c["name"], c["ok"]) for c in served["checks"]
        ]
        assert http == (200 if body["status"] == "ok" else 503)


def test_a_store_that_cannot_be_written_is_down(stores, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(stores["healthy"], copy)
    copy.chmod(0o555)
    try:
        status, body = health(copy)
    finally:
        copy.chmod(0o755)
    import os

    if os.geteuid() == 0:
        pytest.skip("root may write anywhere: a read-only directory does not stop it")
    assert status == 2
    disk = next(c for c in body["checks"] if c["name"] == "disk")
    assert not disk["ok"] and "permission" in disk["detail"]


def test_no_store_there_is_a_usage_error(tmp_path):
    done = v6("health", "--store", str(tmp_path / "typo"), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("v6: store ") and "does not exist" in done.stderr
