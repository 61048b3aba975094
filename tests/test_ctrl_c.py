"""Ctrl-C finishes the current cycle, flushes the tables and exits 0."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from v6.store.delta_store import DeltaStore

pytestmark = pytest.mark.slow


def test_sigint_stops_after_the_cycle_and_flushes(tmp_path):
    v6 = str(Path(sys.executable).with_name("v6"))
    proc = subprocess.Popen(
        [v6, "run", "--store", str(tmp_path / "data"), "--seed", "5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    seen = 0
    for line in proc.stdout:  # wait until the engine is really cycling
        if " cycle " in line:
            seen += 1
            if seen == 3:
                break
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert "stopping after this cycle" in err
    assert "Traceback" not in err
    store = DeltaStore(tmp_path / "data")
    cycles = len(store.read("account_snapshots"))
    assert 3 <= cycles < 5 * 26, "stopped early, with every finished cycle flushed"
    runs = store.read("runs")
    assert list(runs.sort_values("time")["event"]) == ["start", "stop"]
