"""Every ``$ v6 ...`` command in docs/runbooks/ runs as documented against a simulated store.

A slow simulated engine (`v6 run`, one cycle a second) writes the store the whole time, as
on a server. Paths of the standard install are mapped into a temporary directory: the
store ``/var/lib/v6/store``, backups ``/var/backups/v6`` (with a backup ``latest`` taken
first), the config ``/etc/v6/v6.yaml``. A runbook marked ``<!-- runbook-test: new-server -->``
gets an empty ``/var/lib/v6`` of its own. Each command must exit as its block says (0, or
``[exit N]`` on the block's last line) and print first what the runbook shows first (its
first word; numbers and ids differ from run to run).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from v6_process import start_run, v6

from v6.store.delta_store import DeltaStore

RUNBOOKS = Path(__file__).resolve().parents[1] / "docs" / "runbooks"
BLOCK = re.compile(r"```console\n(.*?)```", re.S)
EXPECTED = {
    "start-stop.md",
    "upgrade-rollback.md",
    "ib-gateway.md",
    "breaker-tripped.md",
    "position-mismatch.md",
    "store-damaged-disk-full.md",
    "restore-new-server.md",
    "rotate-credentials.md",
}


def commands(text: str) -> list[tuple[str, int, str | None]]:
    """(command line, expected exit status, first word of its output) of each ``$ v6``."""
    found = []
    for block in BLOCK.findall(text):
        lines = block.rstrip("\n").splitlines()
        status = 0
        if lines and (m := re.fullmatch(r"\[exit (\d+)\]", lines[-1].strip())):
            status = int(m.group(1))
            lines = lines[:-1]
        starts = [i for i, line in enumerate(lines) if line.startswith("$ ")]
        for n, i in enumerate(starts):
            end = starts[n + 1] if n + 1 < len(starts) else len(lines)
            output = [line for line in lines[i + 1 : end] if line.strip()]
            first = output[0].split()[0] if output else None
            last = n == len(starts) - 1
            found.append((lines[i][2:], status if last else 0, first))
    return found


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("server")
    (base / "etc").mkdir()
    (base / "backups").mkdir()
    config = base / "etc" / "v6.yaml"
    # The runbooks show a healthy server: no cycle whose underlying quote froze (1% of
    # cycles per underlying by default), which `v6 health` rightly reports as degraded.
    config.write_text(
        "sim:\n  speed: 900\n  days: 40\n  bad_data:\n    stale_underlying: 0\n"
        "store:\n  flush_every_cycles: 5\n"
    )
    store = base / "var" / "store"
    store.parent.mkdir()
    run = start_run(store, "--config", str(config))
    try:
        # Every table the runbooks show first is committed: the first flush (5 cycles)
        # brings the chains, the heartbeat commits every 5 s.
        written = DeltaStore(store)
        run.wait_until(
            lambda: written.version("chain_snapshots") >= 0 and written.version("heartbeat") >= 0,
            "flushed the chains and a heartbeat",
            timeout=240,
        )
        done = v6("backup", "--store", str(store), str(base / "backups" / "latest"), cwd=base)
        assert done.returncode == 0, done.stderr
        yield base
    finally:
        run.send_signal(2)
        run.finish()
    assert run.returncode == 0


def test_every_runbook_is_there_and_names_v6_commands():
    present = {p.name for p in RUNBOOKS.glob("*.md")} - {"README.md"}
    assert present == EXPECTED
    for name in EXPECTED:
        assert commands((RUNBOOKS / name).read_text()), f"{name} shows no `$ v6` command"


@pytest.mark.parametrize("runbook", sorted(EXPECTED))
def test_runbook_commands_exit_and_print_as_documented(runbook, server):
    text = (RUNBOOKS / runbook).read_text()
    var = server / "var"
    if "<!-- runbook-test: new-server -->" in text:
        var = server / f"new-{runbook}"
        var.mkdir()
    paths = {
        "/var/lib/v6": str(var),
        "/var/backups/v6": str(server / "backups"),
        "/etc/v6": str(server / "etc"),
    }

    def mapped(text: str) -> str:
        for real, test in paths.items():
            text = text.replace(real, test)
        return text

    for line, status, first in commands(text):
        argv = shlex.split(mapped(line))
        assert argv[0] == "v6", line
        done = v6(*argv[1:], cwd=server)
        assert done.returncode == status, f"{line}: {done.returncode}\n{done.stdout}{done.stderr}"
        shown = done.stdout if status == 0 else done.stderr
        if first is not None:
            words = shown.split()
            assert words and words[0] == mapped(first), f"{line}: printed {shown[:300]!r}"
