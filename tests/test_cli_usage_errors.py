"""A command line argparse rejects is one line, ``v6: <message> (see v6 <cmd> --help)``, and
exit status 2, like every other V6 error: no usage block."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from v6.cli import V6ArgumentParser, main

V6 = str(Path(sys.executable).with_name("v6"))


@pytest.mark.parametrize(
    ("argv", "message", "command"),
    [
        ([], "the following arguments are required: COMMAND", "v6"),
        (["frob"], "argument COMMAND: invalid choice: 'frob'", "v6"),
        (["--bogus"], "the following arguments are required: COMMAND", "v6"),
        (["run", "--bogus"], "unrecognized arguments: --bogus", "v6 run"),
        (["run", "--cycles"], "argument --cycles: expected one argument", "v6 run"),
        (["run", "--cycles", "x"], "argument --cycles: expected an integer, got 'x'", "v6 run"),
        (["run", "--cycles", "0"], "argument --cycles: must be > 0, got 0", "v6 run"),
        (["run", "--store"], "argument --store: expected one argument", "v6 run"),
        (["plugins", "extra"], "unrecognized arguments: extra", "v6 plugins"),
        (["check-config", "--config"], "argument --config: expected one argument", None),
        (["explain"], "the following arguments are required: POSITION_ID", "v6 explain"),
        (["explain", "p", "--history", "-1"], "argument --history: ", "v6 explain"),
        (["explain", "p", "q"], "unrecognized arguments: q", "v6 explain"),
        (["breaker"], "the following arguments are required: action", "v6 breaker"),
        (["breaker", "flip"], "argument action: invalid choice: 'flip'", "v6 breaker"),
        (["breaker", "reset", "a", "b"], "unrecognized arguments: b", "v6 breaker"),
        (["breaker", "status", "--store"], "argument --store: expected one argument", None),
        (["run", "--cycles", "€" * 3000], "argument --cycles: expected an integer", "v6 run"),
        (["dashboard", "--port", "x"], "argument --port: invalid int value: 'x'", "v6 dashboard"),
        (["dashboard", "--live"], "unrecognized arguments: --live", "v6 dashboard"),
    ],
)
def test_a_rejected_command_line_is_one_line_with_a_help_hint_and_exit_2(
    argv, message, command, capsys
):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    line = lines[0]
    assert line.startswith(f"v6: {message}"), line
    assert "usage:" not in line
    hint = f"(see {command} --help)" if command else " --help)"
    assert line.endswith(hint), line


def test_help_still_prints_the_usage_and_exits_0(capsys):
    assert main(["run", "--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: v6 run")


def test_the_real_command_prints_one_line_for_an_unknown_option():
    result = subprocess.run(
        [V6, "breaker", "status", "--verbose", "--nope"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == "v6: unrecognized arguments: --nope (see v6 breaker --help)\n"


def test_an_unknown_argument_of_a_nested_command_points_to_that_commands_help(capsys):
    parser = V6ArgumentParser(prog="v6")
    plugin = parser.add_subparsers(dest="command").add_parser("plugin")
    plugin.add_subparsers(dest="action").add_parser("new").add_argument("name")
    with pytest.raises(SystemExit) as exited:
        parser.parse_args(["plugin", "new", "x", "--nope"])
    assert exited.value.code == 2
    assert capsys.readouterr().err == (
        "v6: unrecognized arguments: --nope (see v6 plugin new --help)\n"
    )
