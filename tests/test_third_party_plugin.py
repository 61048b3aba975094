"""A separately installed plugin package is found, listed and trades, with no change to V6."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import attrs
import pytest
from sessions import run, sim_config, table

from v6.config import PluginBlock

V6 = str(Path(sys.executable).with_name("v6"))


def test_example_package_is_listed_by_v6_plugins_with_its_distribution():
    result = subprocess.run([V6, "plugins", "--json"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    plugins = listed["plugins"] if isinstance(listed, dict) else listed
    fly = next(p for p in plugins if p["name"] == "iron_fly")
    assert fly["kind"] == "strategy"
    assert fly["distribution"] == "v6-iron-fly"
    assert "v6_propose_entries" in fly["hooks"]
    installed_at = subprocess.run(
        [sys.executable, "-c", "import v6_iron_fly; print(v6_iron_fly.__file__)"],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert "site-packages" in installed_at, "the example must be installed like any package"


@pytest.mark.slow
def test_example_strategy_trades_in_a_sim_run_selected_only_by_config(tmp_path):
    cfg = sim_config(tmp_path / "data", days=2)
    plugins = attrs.evolve(
        cfg.plugins, strategies={"iron_fly": PluginBlock(settings={"min_dte": 3, "max_dte": 12})}
    )
    cfg = attrs.evolve(cfg, plugins=plugins)
    run(cfg)
    positions = table(cfg, "positions")
    assert set(positions["strategy"]) == {"iron_fly"}
    assert (positions["status"] == "open").any()
    fills = table(cfg, "fills")
    assert set(fills["strategy"]) == {"iron_fly"}
