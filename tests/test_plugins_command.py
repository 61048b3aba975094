"""``v6 plugins``: a broken plugin fails the listing once, ``--settings NAME`` documents a
plugin's settings, and ``v6 run`` says nothing about a broken plugin it does not select."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from v6.cli import main
from v6.plugin_manager import discover
from v6.plugin_settings import attribute_docs, describe_settings, undocumented

V6 = str(Path(sys.executable).with_name("v6"))


def test_every_installed_plugin_documents_every_setting():
    discovery = discover()
    missing = {p.name: undocumented(p.info.settings) for p in discovery.plugins}
    assert {name: fields for name, fields in missing.items() if fields} == {}


def test_attribute_docs_read_the_docstring_section_and_inherit_from_the_base():
    from v6_plugins.strategies.bull_put_spread import Settings

    docs = attribute_docs(Settings)
    assert docs["wing_width"] == "points between a short strike and its long wing."
    assert docs["max_positions_per_underlying"] == (
        "positions (opening, open or closing) held at once per underlying."
    )
    described = {s.name: s for s in describe_settings(Settings)}
    assert described["short_delta"].default == "0.25"  # the subclass's default
    assert described["avoid_regimes"].default == "[crash, high_vol]"
    assert described["avoid_regimes"].type == "tuple[Regime, ...]"


def test_plugins_settings_prints_each_setting_with_type_default_and_doc(capsys):
    assert main(["plugins", "--settings", "stop_loss"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("stop_loss (exit_rule, priority ")
    assert out[1] == "settings, under plugins.exit_rules.stop_loss.settings:"
    assert out[2] == "  loss_multiple: float = 2.0"
    assert out[3].startswith("      close a credit structure when its loss per share")
    assert "  max_loss_fraction: float = 0.5" in out


def test_plugins_settings_json_and_a_plugin_without_settings(capsys):
    assert main(["plugins", "--settings", "delta_target", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0] == {
        "name": "target_dte",
        "type": "int | None",
        "default": "null",
        "doc": "the calendar days to expiry to aim for; null means the middle of the "
        "candidate's DTE window.",
    }
    assert main(["plugins", "--settings", "hold"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "takes no settings"


def test_plugins_settings_of_an_unknown_name_is_a_usage_error_with_a_suggestion(capsys):
    assert main(["plugins", "--settings", "trailing_stp"]) == 2
    assert capsys.readouterr().err == (
        "v6: no plugin named 'trailing_stp'; did you mean 'trailing_stop'? "
        "(v6 plugins lists them)\n"
    )


@pytest.fixture
def broken_plugin_path(tmp_path: Path) -> dict[str, str]:
    """An environment whose sys.path holds an installed distribution with a plugin that
    raises at import, in V6's real ``v6`` entry-point group."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "acme_broken.py").write_text("raise RuntimeError('acme is broken')\n")
    dist_info = site / "acme_broken-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-broken\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text("[v6]\nacme_broken = acme_broken\n")
    return {**os.environ, "PYTHONPATH": str(site)}


def test_plugins_exits_1_and_prints_each_failure_once(broken_plugin_path):
    result = subprocess.run(
        [V6, "plugins"], capture_output=True, text=True, env=broken_plugin_path, timeout=120
    )
    assert result.returncode == 1
    assert result.stderr.count("acme_broken") == 1
    assert result.stderr == (
        "v6: plugin 'acme_broken': cannot be imported: RuntimeError('acme is broken')\n"
    )
    assert "iron_condor" in result.stdout  # the rest is still listed
    listed = subprocess.run(
        [V6, "plugins", "--json"],
        capture_output=True,
        text=True,
        env=broken_plugin_path,
        timeout=120,
    )
    assert listed.returncode == 1 and listed.stderr == ""
    (row,) = [r for r in json.loads(listed.stdout) if r["name"] == "acme_broken"]
    assert "acme is broken" in row["error"]


@pytest.mark.slow
def test_run_says_nothing_about_a_broken_plugin_it_does_not_select(broken_plugin_path, tmp_path):
    store = str(tmp_path / "store")
    result = subprocess.run(
        [V6, "run", "--cycles", "2", "--store", store],
        capture_output=True,
        text=True,
        env=broken_plugin_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "acme" not in result.stderr
    verbose = subprocess.run(
        [V6, "run", "--cycles", "1", "--store", store, "--verbose"],
        capture_output=True,
        text=True,
        env=broken_plugin_path,
        timeout=300,
    )
    assert verbose.returncode == 0, verbose.stderr
    mentions = [line for line in verbose.stderr.splitlines() if "acme_broken" in line]
    assert mentions and all(" INFO " in line for line in mentions)
    assert any("not selected by this config" in line for line in mentions)


def test_run_refuses_a_broken_plugin_the_config_selects(broken_plugin_path, tmp_path):
    config = tmp_path / "v6.yaml"
    config.write_text(
        textwrap.dedent(
            """
            plugins:
              strategies:
                acme_broken: {}
            """
        )
    )
    result = subprocess.run(
        [V6, "check-config", "--config", str(config)],
        capture_output=True,
        text=True,
        env=broken_plugin_path,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.count("acme is broken") == 1
    assert "plugins.strategies.acme_broken" in result.stderr


def test_a_settings_type_reads_as_written_even_after_something_resolved_it():
    import attrs

    from v6.domain.decisions import Regime

    @attrs.frozen
    class Settings:
        """Where not to trade.

        Attributes:
            avoid: regimes to stay out of.
        """

        avoid: tuple[Regime, ...] = ()

    attrs.resolve_types(Settings, globalns={"Regime": Regime})  # as cattrs may do
    (setting,) = describe_settings(Settings)
    assert (setting.type, setting.default, setting.doc) == (
        "tuple[Regime, ...]",
        "[]",
        "regimes to stay out of.",
    )
