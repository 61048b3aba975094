"""Helpers to run ``v6`` as a real process (signals, pipes, locks) and read what it stored."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import pandas as pd

from v6.store.delta_store import DeltaStore

V6 = str(Path(sys.executable).with_name("v6"))

SLOW_CYCLES = "sim:\n  speed: 9000\n  days: 60\n"
"""A config whose cycles take 0.1 s of wall time (900 s / 9000), for tests that act mid-run.

Sixty days (1,560 cycles) however fast the engine is: a run stops at its ``--cycles``
or when the test stops it, never because the days ran out under a slow browser."""


def slow_config(directory: Path, extra: str = "") -> str:
    """Write a config file with 0.1-second cycles (plus ``extra`` YAML); returns its path."""
    path = directory / "slow.yaml"
    path.write_text(SLOW_CYCLES + extra)
    return str(path)


class V6Run:
    """A running ``v6 run`` whose piped output is read line by line by threads.

    Threads, not ``communicate()`` after iterating: a text stream reads ahead, and the
    lines it has buffered never reach ``communicate()``, which reads the raw pipe.
    """

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.out: list[str] = []
        self.err: list[str] = []
        self._changed = threading.Condition()
        self._open = 0
        self._threads = []
        for stream, lines in ((proc.stdout, self.out), (proc.stderr, self.err)):
            if stream is not None:
                self._open += 1
                thread = threading.Thread(target=self._pump, args=(stream, lines), daemon=True)
                thread.start()
                self._threads.append(thread)

    def _pump(self, stream: IO[str], lines: list[str]) -> None:
        for line in stream:
            with self._changed:
                lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._open -= 1
            self._changed.notify_all()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send_signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def cycles_printed(self) -> int:
        """Status lines printed so far."""
        with self._changed:
            return sum(" cycle " in line for line in self.out)

    def wait_until(self, condition: Callable[[], bool], what: str, timeout: float = 120) -> None:
        """Block until ``condition()`` holds; fails if the output ends or time runs out first."""
        with self._changed:
            self._changed.wait_for(lambda: condition() or not self._open, timeout)
            if not condition():
                raise AssertionError(f"v6 run never {what}: {''.join(self.err)[-2000:]}")

    def wait_for_cycles(self, count: int) -> None:
        """Block until ``count`` status lines were printed (the engine is really cycling)."""
        self.wait_until(
            lambda: sum(" cycle " in line for line in self.out) >= count, f"printed cycle {count}"
        )

    def wait_for_stderr(self, text: str) -> None:
        """Block until ``text`` appears on stderr."""
        self.wait_until(lambda: any(text in line for line in self.err), f"said {text!r}")

    def finish(self, timeout: float = 120) -> tuple[str, str]:
        """Wait for the exit; returns everything printed on stdout and stderr."""
        self.proc.wait(timeout)
        for thread in self._threads:
            thread.join(timeout)
        return "".join(self.out), "".join(self.err)

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode


def start_run(store: Path, *args: str, **popen: Any) -> V6Run:
    """``v6 run --store STORE ARGS...`` with stdout and stderr piped (unless overridden)."""
    popen.setdefault("stdout", subprocess.PIPE)
    popen.setdefault("stderr", subprocess.PIPE)
    proc = subprocess.Popen(
        [V6, "run", "--store", str(store), *args], text=True, cwd=store.parent, **popen
    )
    return V6Run(proc)


def v6(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a ``v6`` command to completion."""
    return subprocess.run([V6, *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def runs(store: Path) -> pd.DataFrame:
    """The ``runs`` table in written order."""
    return DeltaStore(store).read("runs").sort_values("time", kind="stable")


def stored_cycles(store: Path) -> list[int]:
    """The cycle numbers of the stored account snapshots (one per finished cycle), sorted."""
    return sorted(DeltaStore(store).read("account_snapshots", columns=["cycle"])["cycle"])


def stop_record(store: Path) -> pd.Series:
    """The single stop record of a store that saw one run."""
    frame = runs(store)
    assert list(frame["event"]) == ["start", "stop"], frame[["event", "message"]]
    return frame.iloc[-1]


def cycles_in(stop: pd.Series) -> int:
    """The finished cycles a stop record counts (its message starts ``N cycles``)."""
    return int(stop["message"].split()[0])
