"""A broken config stops ``v6`` with one line naming the key, exit status 2, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from v6.cli import main
from v6.config_loader import ENV_OVERRIDES

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _no_v6_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_OVERRIDES:
        monkeypatch.delenv(name, raising=False)


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "v6.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def v6(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    clean = {k: v for k, v in os.environ.items() if k not in ENV_OVERRIDES}
    return subprocess.run(
        [sys.executable, "-m", "v6.cli", *args],
        capture_output=True,
        text=True,
        env={**clean, **(env or {})},
        cwd=cwd,
        timeout=60,
    )


def assert_one_line_error(status: int, err: str, *fragments: str) -> None:
    assert status == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("v6: "), err
    for fragment in fragments:
        assert fragment in lines[0]


# -- as a real process ---------------------------------------------------------------------


def test_unknown_key_in_a_real_process_suggests_the_right_key(tmp_path):
    path = write(tmp_path, "ib:\n  prot: 4002\n")
    result = v6("run", "--config", path, cwd=tmp_path)
    assert_one_line_error(
        result.returncode,
        result.stderr,
        path,
        "'ib.prot'",
        "unknown key 'prot'; did you mean 'port'?",
    )
    assert result.stdout == ""


def test_bad_yaml_in_a_real_process_gives_line_and_column(tmp_path):
    path = write(tmp_path, "mode: sim\nib: {port: 7497\n")
    result = v6("check-config", "--config", path, cwd=tmp_path)
    assert_one_line_error(result.returncode, result.stderr, path, "invalid YAML at line 3")


def test_missing_file_in_a_real_process(tmp_path):
    result = v6("run", "--config", str(tmp_path / "nope.yaml"), cwd=tmp_path)
    assert_one_line_error(
        result.returncode, result.stderr, f"config file not found: {tmp_path / 'nope.yaml'}"
    )


def test_invalid_environment_override_in_a_real_process_names_the_variable(tmp_path):
    result = v6("check-config", env={"V6_IB_PORT": "seventy"}, cwd=tmp_path)
    assert_one_line_error(
        result.returncode,
        result.stderr,
        "environment variable V6_IB_PORT",
        "'ib.port'",
        "expected an integer, got 'seventy'",
    )


def test_console_script_checks_the_shipped_config(tmp_path):
    script = Path(sys.executable).with_name("v6")
    result = subprocess.run(
        [str(script), "check-config", "--config", str(REPO / "config" / "sim.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k not in ENV_OVERRIDES},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"config OK: {REPO / 'config' / 'sim.yaml'}"


# -- in process ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("zmode: sim\n", ("'zmode'", "unknown key 'zmode'; did you mean 'mode'?")),
        ("cycle:\n  interval: 60\n", ("'cycle.interval'", "did you mean 'interval_seconds'?")),
        ("cycle:\n  interval_seconds: soon\n", ("'cycle.interval_seconds'", "got 'soon'")),
        ("cycle:\n  interval_seconds: -900\n", ("'cycle.interval_seconds'", "must be > 0")),
        ("mode: demo\n", ("'mode'", "expected one of sim, paper, live, got 'demo'")),
        ("- mode: sim\n", ("'(top level)'", "got a list")),
        ("mode: sim\nmode: live\n", ("duplicate key 'mode'",)),
        (
            "plugins:\n  exit_rules:\n    stop_loss:\n      priority: 5.5\n",
            ("'plugins.exit_rules.stop_loss.priority'", "expected an integer, got 5.5"),
        ),
        (
            "plugins:\n  exit_rules:\n    stop_loss:\n      settings: {}\n      when: always\n",
            ("'plugins.exit_rules.stop_loss.when'", "unknown key 'when'"),
        ),
        (  # a plugin's own settings class, checked by check-config as well as run
            "plugins:\n  exit_rules:\n    dynamic_take_profit:\n"
            "      settings: {targets: {hig_vol: 0.5}}\n",
            ("'plugins.exit_rules.dynamic_take_profit.settings'", "unknown regimes ['hig_vol']"),
        ),
        ("underlyings: [SPY, NVDA]\n", ("'underlyings[1]'", "'NVDA' has no simulated market")),
        ("mode: live\n", ("'ib.account'",)),
    ],
)
@pytest.mark.parametrize("command", ["run", "check-config"])
def test_config_error_is_one_line_with_the_key_path_and_status_2(
    tmp_path, capsys, command, text, fragments
):
    path = write(tmp_path, text)
    status = main([command, "--config", path])
    captured = capsys.readouterr()
    assert_one_line_error(status, captured.err, path, *fragments)
    assert captured.out == ""


def test_invalid_environment_override_is_reported_in_process(capsys, monkeypatch):
    monkeypatch.setenv("V6_IB_CLIENT_ID", "-1")
    status = main(["check-config"])
    captured = capsys.readouterr()
    assert_one_line_error(
        status, captured.err, "environment variable V6_IB_CLIENT_ID", "'ib.client_id'"
    )


def test_environment_override_is_applied_before_validation(tmp_path, capsys, monkeypatch):
    # An account from the environment completes a live config: proof it was read first.
    path = write(tmp_path, "mode: live\n")
    assert main(["check-config", "--config", path]) == 2
    assert "'ib.account'" in capsys.readouterr().err
    monkeypatch.setenv("V6_IB_ACCOUNT", "U1234567")
    assert main(["check-config", "--config", path]) == 0


def test_a_gateway_host_in_the_environment_does_not_stop_check_config_in_sim(monkeypatch):
    monkeypatch.setenv("V6_IB_HOST", "10.9.8.7")
    assert main(["check-config"]) == 0


def test_live_config_without_live_flag_is_refused(tmp_path, capsys):
    path = write(tmp_path, "mode: live\nib:\n  account: U1234567\n")
    status = main(["run", "--config", path])
    assert_one_line_error(status, capsys.readouterr().err, "live trading needs --live")


def test_live_flag_with_a_sim_config_is_refused(capsys):
    status = main(["run", "--live"])
    assert_one_line_error(status, capsys.readouterr().err, "--live given", "mode: sim")


def test_check_config_reports_ok_for_the_embedded_defaults(capsys):
    assert main(["check-config"]) == 0
    assert capsys.readouterr().out.startswith("config OK: embedded defaults")


@pytest.mark.parametrize("args", [["run", "--cycles", "0"], ["run", "--seed", "x"], ["fly"], []])
def test_bad_command_line_is_a_usage_error_with_status_2(capsys, args):
    assert main(args) == 2
    assert "Traceback" not in capsys.readouterr().err
