"""``v6 run`` hands the overridden config to the session; ``v6 plugins`` lists what it finds.

``v6.app`` and ``v6.plugin_manager`` are imported lazily by the CLI; these tests stand in
small modules for them (the documented seam), so they prove the CLI's own contract.
"""

from __future__ import annotations

import json
import sys
import types
from types import SimpleNamespace
from typing import Any

import pytest

from v6.cli import main
from v6.config import TradingConfig
from v6.config_loader import ENV_OVERRIDES
from v6.domain.plugins import PluginKind
from v6.errors import PluginError, V6Error


@pytest.fixture(autouse=True)
def _no_v6_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_OVERRIDES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def sessions(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Calls made to ``v6.app.run_session``; it returns 0."""
    calls: list[dict[str, Any]] = []

    def run_session(config: TradingConfig, **kwargs: Any) -> int:
        calls.append({"config": config, **kwargs})
        return 0

    app = types.ModuleType("v6.app")
    app.run_session = run_session  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "v6.app", app)
    return calls


def test_run_passes_seed_store_and_flags_to_the_session(sessions, tmp_path):
    store = str(tmp_path / "tables")
    assert main(["run", "--seed", "42", "--store", store, "--cycles", "3", "--verbose"]) == 0
    (call,) = sessions
    assert call["config"].sim.seed == 42
    assert call["config"].store.path == store
    assert (call["cycles"], call["live"], call["verbose"]) == (3, False, True)
    assert call["config"].sim.days == TradingConfig().sim.days  # the rest untouched


def test_run_live_reaches_the_session_only_with_flag_and_live_config(sessions, tmp_path):
    path = tmp_path / "live.yaml"
    path.write_text("mode: live\nib:\n  host: gw.lan\n  account: U1234567\n", encoding="utf-8")
    assert main(["run", "--config", str(path), "--live"]) == 0
    assert sessions[0]["live"] is True
    assert sessions[0]["config"].ib.account == "U1234567"


def test_empty_store_override_is_refused(sessions, capsys):
    assert main(["run", "--store", ""]) == 2
    assert "'store.path'" in capsys.readouterr().err
    assert sessions == []


def test_v6_error_from_the_session_becomes_its_exit_status(monkeypatch, capsys):
    class Refused(V6Error):
        exit_status = 3

    def run_session(config: TradingConfig, **kwargs: Any) -> int:
        raise Refused("account type does not match mode 'paper'")

    monkeypatch.setitem(sys.modules, "v6.app", SimpleNamespace(run_session=run_session))
    assert main(["run"]) == 3
    err = capsys.readouterr().err
    assert err == "v6: account type does not match mode 'paper'\n"


def test_unexpected_error_keeps_its_traceback_and_exits_1(monkeypatch, capsys):
    def run_session(config: TradingConfig, **kwargs: Any) -> int:
        raise ZeroDivisionError("a bug")

    monkeypatch.setitem(sys.modules, "v6.app", SimpleNamespace(run_session=run_session))
    assert main(["run"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "ZeroDivisionError: a bug" in err
    assert "ERROR" in err and "v6.cli" in err  # the log format: time, level, logger


def plugin(name: str, kind: PluginKind, priority: int | None, hooks: list[str]) -> Any:
    return SimpleNamespace(
        name=name,
        kind=kind,
        summary=f"{name} summary",
        distribution="v6",
        version="0.1.0",
        module=f"v6_plugins.x.{name}",
        hooks=hooks,
        priority=priority,
    )


@pytest.fixture
def discovered(monkeypatch: pytest.MonkeyPatch) -> None:
    found = SimpleNamespace(
        plugins=[
            plugin("take_profit", PluginKind.EXIT_RULE, 3, ["v6_plugin_info", "v6_evaluate_exit"]),
            plugin("iron_condor", PluginKind.STRATEGY, None, ["v6_propose_entries"]),
            plugin("stop_loss", PluginKind.EXIT_RULE, 1, ["v6_evaluate_exit"]),
            plugin("bull_put_spread", PluginKind.STRATEGY, None, ["v6_propose_entries"]),
        ],
        errors=[PluginError("broken_rule", "import failed: No module named 'nope'")],
    )
    module = types.ModuleType("v6.plugin_manager")
    module.discover = lambda: found  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "v6.plugin_manager", module)


def test_plugins_table_is_sorted_by_kind_priority_name_with_errors_on_stderr(discovered, capsys):
    assert main(["plugins"]) == 1  # a plugin failed to load
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    assert lines[0].split() == ["NAME", "KIND", "PRIORITY", "DISTRIBUTION", "HOOKS"]
    assert [line.split()[0] for line in lines[1:]] == [
        "bull_put_spread",
        "iron_condor",
        "stop_loss",
        "take_profit",
    ]
    assert lines[3].split()[:4] == ["stop_loss", "exit_rule", "1", "v6==0.1.0"]
    assert lines[4].endswith("v6_plugin_info, v6_evaluate_exit")
    assert err == "v6: plugin 'broken_rule': import failed: No module named 'nope'\n"


def test_plugins_json_lists_every_plugin_and_every_load_error(discovered, capsys):
    assert main(["plugins", "--json"]) == 1  # a plugin failed to load
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == [
        "bull_put_spread",
        "iron_condor",
        "stop_loss",
        "take_profit",
        "broken_rule",
    ]
    assert rows[2] == {
        "name": "stop_loss",
        "kind": "exit_rule",
        "priority": 1,
        "distribution": "v6",
        "version": "0.1.0",
        "module": "v6_plugins.x.stop_loss",
        "hooks": ["v6_evaluate_exit"],
        "summary": "stop_loss summary",
        "error": None,
    }
    assert rows[-1]["error"] == "import failed: No module named 'nope'"
    assert rows[-1]["kind"] is None
