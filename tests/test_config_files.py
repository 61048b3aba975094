"""A config path or document that is not a config is refused in one line, never read
forever, never a traceback: FIFOs, devices, huge files, deep nesting, alias bombs."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from v6.cli import main
from v6.config_loader import (
    ENV_OVERRIDES,
    MAX_CONFIG_BYTES,
    MAX_NESTING,
    MAX_VALUES,
    ConfigFileError,
    load_config,
)


@pytest.fixture(autouse=True)
def _no_v6_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_OVERRIDES:
        monkeypatch.delenv(name, raising=False)


def v6(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``v6 ARGS`` as a real process; a hang fails the test at ``timeout``."""
    env = {k: v for k, v in os.environ.items() if k not in ENV_OVERRIDES}
    return subprocess.run(
        [sys.executable, "-m", "v6.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("v6: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def nested(depth: int) -> str:
    text = "1"
    for _ in range(depth):
        text = "{a: " + text + "}"
    return f"sim: {text}\n"


# -- paths that are not regular files ------------------------------------------------------


@pytest.mark.parametrize("command", ["check-config", "run"])
def test_a_fifo_is_refused_at_once_not_read_forever(tmp_path, command):
    fifo = tmp_path / "config.yaml"
    os.mkfifo(fifo)
    result = v6(command, "--config", str(fifo), timeout=30)
    assert_one_line_error(result, "a FIFO (named pipe), not a regular file", str(fifo))


def test_a_symlink_to_a_fifo_is_refused_too(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    link = tmp_path / "v6.yaml"
    link.symlink_to(fifo)
    assert_one_line_error(v6("check-config", "--config", str(link), timeout=30), "FIFO")


def test_dev_zero_is_refused_without_reading_it():
    result = v6("check-config", "--config", "/dev/zero", timeout=30)
    assert_one_line_error(result, "a character device, not a regular file: /dev/zero")


def test_a_file_name_too_long_is_one_line(tmp_path):
    name = str(tmp_path / ("a" * 300 + ".yaml"))
    result = v6("run", "--config", name)
    assert_one_line_error(result, "cannot read config file", "File name too long")


def test_a_file_larger_than_the_bound_is_refused_unparsed(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("# padding\n" * (MAX_CONFIG_BYTES // 10 + 1))
    with pytest.raises(ConfigFileError, match=r"larger than 256 KiB; not a config"):
        load_config(path)


def test_a_file_that_is_not_utf8_is_one_line(tmp_path):
    path = tmp_path / "v6.yaml"
    path.write_bytes(b"mode: sim\n\xff\xfe\n")
    with pytest.raises(ConfigFileError, match="not a UTF-8 text file"):
        load_config(path)


# -- documents that would overflow, expand or crash the parser -----------------------------


@pytest.mark.parametrize("depth", [MAX_NESTING + 1, 250, 5000])
def test_deep_nesting_is_one_line_not_a_recursion_error(tmp_path, depth):
    path = tmp_path / "deep.yaml"
    path.write_text(nested(depth))
    result = v6("check-config", "--config", str(path))
    assert_one_line_error(result, f"nested more than {MAX_NESTING} levels deep")


def test_deep_block_nesting_is_refused_as_well(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text("".join(f"{'  ' * i}k{i}:\n" for i in range(300)) + "  " * 300 + "x: 1\n")
    with pytest.raises(ConfigFileError, match="nested more than"):
        load_config(path)


def test_nesting_up_to_the_bound_is_read(tmp_path):
    path = tmp_path / "ok.yaml"
    # plugins.exit_rules.hold.settings is 4 mappings deep; the rest nests inside settings.
    inner = "1"
    for _ in range(MAX_NESTING - 4):
        inner = "{a: " + inner + "}"
    path.write_text(f"plugins: {{exit_rules: {{hold: {{settings: {inner}}}}}}}\n")
    settings = load_config(path).plugins.exit_rules["hold"].settings
    assert settings["a"]["a"]["a"]


def test_an_alias_bomb_is_refused_before_it_expands(tmp_path):
    # Ten times ten times ... : 10**8 values from a few hundred bytes, where plugin
    # settings keep them as they are (every value is then walked, looking for NaN).
    levels = ["a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    for previous, name in zip("abcdefg", "bcdefgh", strict=True):
        levels.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 10) + "]")
    path = tmp_path / "bomb.yaml"
    path.write_text(
        "plugins:\n  exit_rules:\n    hold:\n      settings: {" + ", ".join(levels) + "}\n"
    )
    result = v6("check-config", "--config", str(path), timeout=30)
    assert_one_line_error(result, f"more than {MAX_VALUES} values")


def test_a_recursive_alias_is_refused(tmp_path):
    path = tmp_path / "loop.yaml"
    path.write_text("plugins: {exit_rules: {hold: {settings: &s {x: *s}}}}\n")
    with pytest.raises(ConfigFileError, match=r"alias \*s refers to itself"):
        load_config(path)


def test_anchors_and_merges_still_work(tmp_path):
    path = tmp_path / "merge.yaml"
    path.write_text(
        "sim:\n  underlyings:\n"
        "    SPY: &base {spot: 590.0, vol: 0.15}\n"
        "    QQQ: {<<: *base, spot: 510.0}\n"
        "    IWM: {<<: *base, spot: 225.0}\n"
    )
    cfg = load_config(path)
    assert cfg.sim.underlyings["QQQ"].vol == 0.15
    assert cfg.sim.underlyings["QQQ"].spot == 510.0


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("sim:\n  seed: !!int abc\n", "line 2, column 9: cannot read this value as int"),
        ("sim:\n  speed: !!float fast\n", "cannot read this value as float"),
        ("sim:\n  seed: " + "9" * 5000 + "\n", "Exceeds the limit (4300 digits)"),
        ("sim:\n  start: !!timestamp soon\n", "expected a date (YYYY-MM-DD), got 'soon'"),
        ("sim:\n  seed: 9223372036854775808\n", "between -2**63 and 2**63-1"),
        ("mode: !!python/object:os.system x\n", "could not determine a constructor"),
        ("mode: sim\n\x00\n", "invalid YAML"),
        ("underlyings: ['" + "X" * 100_000 + "']\n", "(100000 characters)"),
    ],
)
def test_a_value_the_parser_cannot_build_is_one_line(tmp_path, capsys, text, fragment):
    path = tmp_path / "v6.yaml"
    path.write_text(text)
    status = main(["check-config", "--config", str(path)])
    err = capsys.readouterr().err
    assert status == 2, err
    assert len(err.strip().splitlines()) == 1 and len(err) < 1000, err
    assert fragment in err
