"""`make deploy` / `make rollback` (deploy/release.sh) and the systemd units in deploy/.

A release is built from this checkout into a temporary PREFIX. The dependencies come from
this test environment's site-packages (V6_DEPS_SITE), not from the network: a release
then takes about 7 s (a wheel of V6, a virtualenv without pip, one install), against
minutes for a full dependency install. Everything else is what production runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RELEASE = REPO / "deploy" / "release.sh"
UNITS = ("v6-engine.service", "v6-dashboard.service", "v6-backup.service", "v6-backup.timer")


def release(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {
        **os.environ,
        "V6_DEPS_SITE": sysconfig.get_paths()["purelib"],
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        **env,
    }
    return subprocess.run(
        [str(RELEASE), *args], capture_output=True, text=True, env=environ, timeout=300
    )


def link(prefix: Path, name: str) -> str:
    return os.readlink(prefix / name)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """PREFIX after two deploys: (prefix, first release, second release)."""
    prefix = tmp_path_factory.mktemp("opt") / "v6"
    first = release("deploy", str(prefix))
    assert first.returncode == 0, first.stderr
    one = link(prefix, "current")
    second = release("deploy", str(prefix))
    assert second.returncode == 0, second.stderr
    two = link(prefix, "current")
    return prefix, one, two


def test_deploy_installs_a_versioned_release_and_switches_current(deployed):
    prefix, one, two = deployed
    assert one != two and one.startswith("releases/") and two.startswith("releases/")
    assert link(prefix, "previous") == one
    v6 = prefix / "current" / "venv" / "bin" / "v6"
    # The release runs from its own virtualenv, away from the checkout.
    done = subprocess.run(
        [str(v6), "check-config"], capture_output=True, text=True, cwd=prefix, timeout=120
    )
    assert done.returncode == 0, done.stderr
    where = subprocess.run(
        [str(prefix / "current/venv/bin/python"), "-c", "import v6; print(v6.__file__)"],
        capture_output=True,
        text=True,
        cwd=prefix,
        timeout=60,
    )
    assert Path(where.stdout.strip()).resolve().is_relative_to((prefix / two).resolve()), where
    for unit in UNITS:
        assert (prefix / "current" / "systemd" / unit).is_file()
    assert (prefix / "current" / "docs" / "OPERATIONS.md").is_file()


def test_rollback_switches_back_and_a_second_rollback_forward(deployed):
    prefix, one, two = deployed
    back = release("rollback", str(prefix))
    assert back.returncode == 0, back.stderr
    assert (link(prefix, "current"), link(prefix, "previous")) == (one, two)
    forward = release("rollback", str(prefix))
    assert forward.returncode == 0, forward.stderr
    assert (link(prefix, "current"), link(prefix, "previous")) == (two, one)


def test_rollback_without_a_previous_release_refuses(tmp_path):
    done = release("rollback", str(tmp_path / "empty"))
    assert done.returncode == 1
    assert "no previous release" in done.stderr


def test_a_failed_build_leaves_current_and_the_releases_as_they_were(deployed):
    prefix, _one, two = deployed
    before = sorted(p.name for p in (prefix / "releases").iterdir())
    done = release("deploy", str(prefix), PYTHON="/nonexistent/python3")
    assert done.returncode != 0
    assert sorted(p.name for p in (prefix / "releases").iterdir()) == before
    assert link(prefix, "current") == two


def test_make_deploy_needs_a_prefix():
    done = subprocess.run(
        ["make", "-s", "deploy", "PREFIX="], capture_output=True, text=True, cwd=REPO, timeout=120
    )
    assert done.returncode != 0
    assert "make deploy needs PREFIX=DIR" in done.stdout + done.stderr


def test_units_pass_systemd_analyze_verify(deployed):
    if shutil.which("systemd-analyze") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("systemd-analyze is missing on CI: install systemd")
        pytest.skip("systemd-analyze is not installed here")
    prefix, _one, _two = deployed
    units = prefix / "current" / "systemd"
    done = subprocess.run(
        ["systemd-analyze", "verify", *(f"./{u}" for u in UNITS)],
        capture_output=True,
        text=True,
        cwd=units,
        timeout=60,
    )
    # Unknown keys and values are warnings with exit status 0: accept neither.
    assert done.returncode == 0 and done.stderr == "", done.stderr
    engine = (units / "v6-engine.service").read_text()
    for line in (
        "Type=notify",
        "WatchdogSec=",
        "Restart=on-failure",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/v6",
        "NoNewPrivileges=true",
        "PrivateTmp=true",
        "User=v6",
        "EnvironmentFile=/etc/v6/v6.env",
        f"ExecStart={prefix}/current/venv/bin/v6 run",
    ):
        assert line in engine


def test_systemd_analyze_verify_rejects_a_broken_unit(tmp_path):
    """The check above can fail: a unit with a bad value is reported."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed here")
    bad = tmp_path / "bad.service"
    bad.write_text(f"[Service]\nType=notify\nWatchdogSec=soon\nExecStart={sys.executable}\n")
    done = subprocess.run(
        ["systemd-analyze", "verify", "./bad.service"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert "WatchdogSec" in done.stderr or "sec value" in done.stderr
