"""Losing standard output (a closed pipe, a full device) never stops a session.

``v6 run | head -1`` closes the pipe after one line; the engine must keep trading, store
every cycle, write its stop record and exit 0 without a traceback or Python's
"Exception ignored ... BrokenPipeError" at exit.
"""

from __future__ import annotations

import io
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from sessions import sim_config
from v6_process import V6, V6Run, cycles_in, slow_config, start_run, stop_record, stored_cycles

from v6.app import run_session

pytestmark = pytest.mark.slow

WARNING = "standard output failed"


class ClosedAfterOneLine(io.StringIO):
    """A stream whose reader went away after the first line."""

    def write(self, text: str) -> int:
        if self.getvalue():
            raise BrokenPipeError(32, "Broken pipe")
        return super().write(text)


def test_a_broken_stdout_is_logged_once_and_the_session_goes_on(tmp_path, caplog):
    cfg = sim_config(tmp_path / "data")
    out = ClosedAfterOneLine()
    with caplog.at_level(logging.WARNING, logger="v6.app"):
        assert run_session(cfg, cycles=6, out=out) == 0
    assert out.getvalue().count("\n") == 1
    assert sum(WARNING in r.getMessage() for r in caplog.records) == 1
    assert stop_record(Path(cfg.store.path))["message"] == "6 cycles"
    assert stored_cycles(Path(cfg.store.path)) == list(range(1, 7))


def _popen(*command: str) -> subprocess.Popen[str]:
    """A process whose stdout the test reads one line of, then closes (like ``head -1``)."""
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _assert_finished_quietly(proc: subprocess.Popen[str] | V6Run, store: Path, cycles: int) -> None:
    if isinstance(proc, V6Run):
        _out, err = proc.finish()
    else:  # stdout already closed: only stderr left to read
        _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "Traceback" not in err, err
    assert "Exception ignored" not in err, err
    assert err.count(WARNING) == 1, err
    stop = stop_record(store)
    assert cycles_in(stop) == cycles
    assert stored_cycles(store) == list(range(1, cycles + 1))


def test_v6_run_piped_into_head_1_trades_every_cycle_and_exits_0(tmp_path):
    store = tmp_path / "data"
    # 0.1 s cycles: the pipe is closed long before the run ends.
    proc = _popen(
        V6, "run", "--store", str(store), "--config", slow_config(tmp_path), "--cycles", "8"
    )
    assert proc.stdout is not None
    assert " cycle    1 " in proc.stdout.readline()
    proc.stdout.close()  # what `head -1` does after its line
    proc.stdout = None
    _assert_finished_quietly(proc, store, 8)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_v6_run_writing_to_a_full_device_trades_every_cycle_and_exits_0(tmp_path):
    store = tmp_path / "data"
    with open("/dev/full", "w") as full:
        run = start_run(store, "--seed", "4", "--cycles", "5", stdout=full)
        _assert_finished_quietly(run, store, 5)


def test_once_the_pipe_is_gone_other_output_cannot_fail_the_process_either(tmp_path):
    """Whatever else prints to stdout later (a plugin's print, Python's flush at exit).

    Without stdout pointed at /dev/null, the unflushed print below would fail at exit with
    "Exception ignored ... BrokenPipeError" or a traceback.
    """
    store = tmp_path / "data"
    script = (
        "import sys\n"
        "from v6.cli import main\n"
        f"status = main(['run', '--store', {str(store)!r}, '--config', "
        f"{slow_config(tmp_path)!r}, '--cycles', '4'])\n"
        "print('printed after the session, never flushed by hand')\n"
        "sys.exit(status)\n"
    )
    proc = _popen(sys.executable, "-c", script)
    assert proc.stdout is not None
    assert " cycle    1 " in proc.stdout.readline()
    proc.stdout.close()
    proc.stdout = None
    _assert_finished_quietly(proc, store, 4)
