"""``v6 plugin new`` writes a package that installs, tests itself with V6's fixtures, is
listed by ``v6 plugins`` and trades in a simulated session beside the built-ins.

The end-to-end test installs the four packages it writes (one per kind) with pip into a
fresh virtual environment, never into the project's own. That environment is layered
over the project's: a ``.pth`` file adds the project venv's site-packages as a site
directory (its own ``.pth`` files included, so the editable V6 imports), the way a user's
environment already holds V6 and its dependencies. pip resolves each package's
``v6>=...`` dependency against that installed V6 and builds without isolation, so
nothing is downloaded and the test runs offline in some 30 seconds.
"""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from v6.cli import main
from v6.config import DEFAULT_EXIT_RULES
from v6.store.delta_store import DeltaStore

BIN = Path(sys.executable).parent
KINDS = {
    "strategy": "pin_spread",
    "exit_rule": "pin_exit",
    "regime": "vix_band_regime",
    "strike_selector": "capped_selector",
}


def _new(tmp_path: Path, name: str, kind: str) -> int:
    return main(["plugin", "new", name, "--kind", kind, "--dir", str(tmp_path)])


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Pin-Risk", "must be lowercase letters, digits and single underscores"),
        ("2fast", "must be lowercase letters"),
        ("pin__risk", "single underscores"),
        ("class", "is a Python keyword"),
        ("stop_loss", "a plugin named 'stop_loss' is already installed (exit_rule, from v6 "),
    ],
)
def test_a_bad_or_taken_name_is_refused_in_one_line_with_status_2(tmp_path, capsys, name, expected):
    assert _new(tmp_path, name, "exit_rule") == 2
    err = capsys.readouterr().err
    assert err.startswith("v6: ") and err.count("\n") == 1 and expected in err
    assert list(tmp_path.iterdir()) == []


def test_an_existing_directory_is_refused_and_left_alone(tmp_path, capsys):
    (tmp_path / "v6-pin-risk").mkdir()
    (tmp_path / "v6-pin-risk" / "mine.txt").write_text("keep")
    assert _new(tmp_path, "pin_risk", "exit_rule") == 2
    err = capsys.readouterr().err
    assert (
        err == f"v6: {tmp_path / 'v6-pin-risk'} already exists; remove it or choose another --dir\n"
    )
    assert [p.name for p in (tmp_path / "v6-pin-risk").iterdir()] == ["mine.txt"]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_package_declares_its_entry_point_and_documents_its_settings(tmp_path, capsys, kind):
    name = KINDS[kind]
    assert _new(tmp_path, name, kind) == 0
    root = tmp_path / f"v6-{name.replace('_', '-')}"
    assert f"wrote {root}: {kind} plugin '{name}'" in capsys.readouterr().out
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert files == sorted(
        [
            "README.md",
            "pyproject.toml",
            f"v6_{name}/__init__.py",
            f"v6_{name}/{name}.py",
            f"tests/test_{name}.py",
        ]
    )
    pyproject = (root / "pyproject.toml").read_text()
    assert f'[project.entry-points.v6]\n{name} = "v6_{name}.{name}"' in pyproject
    module = (root / f"v6_{name}" / f"{name}.py").read_text()
    assert "class Settings:" in module and "    Attributes:\n" in module
    assert f"kind=PluginKind.{kind.upper()}" in module
    tests = (root / "tests" / f"test_{name}.py").read_text()
    assert "v6_session" in tests


def test_a_new_exit_rule_sits_strictly_between_days_to_expiry_and_stop_loss(tmp_path):
    assert _new(tmp_path, "pin_risk", "exit_rule") == 0
    module = (tmp_path / "v6-pin-risk" / "v6_pin_risk" / "pin_risk.py").read_text()
    assert "\nPRIORITY = 45\n" in module  # days_to_expiry 40 < 45 < stop_loss 50: no tie


def test_a_new_regime_detector_is_shown_beside_others_and_a_selector_says_why(tmp_path):
    assert _new(tmp_path, "vix_band", "regime") == 0
    root = tmp_path / "v6-vix-band"
    readme = (root / "README.md").read_text()
    assert "    vix_band: {}\n  regime_driver: volatility_regime    # or vix_band" in readme
    tests = (root / "tests" / "test_vix_band.py").read_text()
    assert 'regime_driver="volatility_regime"' in tests
    assert _new(tmp_path, "capped", "strike_selector") == 0
    module = (tmp_path / "v6-capped" / "v6_capped" / "capped.py").read_text()
    assert "    market: MarketView,\n    regime: RegimeReading | None," in module
    assert "regimes_by_detector: Mapping[str, Mapping[str, RegimeReading]]," in module
    assert "return NoSelection(" in module and "search_by_delta(" in module


def test_the_written_code_passes_ruff(tmp_path):
    for kind, name in KINDS.items():
        assert _new(tmp_path, name, kind) == 0
    for root in tmp_path.iterdir():
        for args in (["check", "."], ["format", "--check", "."]):
            result = subprocess.run(
                [str(BIN / "ruff"), *args], cwd=root, capture_output=True, text=True, timeout=60
            )
            assert result.returncode == 0, (root.name, result.stdout + result.stderr)


def _layered_venv(path: Path) -> Path:
    """A fresh venv whose interpreter also sees the project venv's packages (V6, pytest)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    python = path / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    project_site = sysconfig.get_paths()["purelib"]
    Path(site, "_v6_project_venv.pth").write_text(
        f"import site; site.addsitedir({project_site!r})\n", encoding="utf-8"
    )
    return python


def _run(args: list[str], cwd: Path | None = None, timeout: float = 180):
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_new_packages_install_test_themselves_list_and_trade_beside_the_built_ins(tmp_path):
    packages = tmp_path / "packages"
    for kind, name in KINDS.items():
        assert _new(packages, name, kind) == 0
    python = _layered_venv(tmp_path / "venv")

    installed = _run(
        [
            sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
            "--no-build-isolation", "--no-index", *map(str, sorted(packages.iterdir())),
        ]
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    own = _run([sys.executable, "-c", "import v6_pin_exit"])
    assert own.returncode != 0, "installed into the fresh venv only, not the project's"

    for root in sorted(packages.iterdir()):
        tested = _run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=root)
        assert tested.returncode == 0, (root.name, tested.stdout[-3000:])
        assert " passed" in tested.stdout and "failed" not in tested.stdout

    listed = _run([str(python), "-m", "v6.cli", "plugins", "--json"])
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    for kind, name in KINDS.items():
        assert rows[name]["kind"] == kind
        assert rows[name]["distribution"] == f"v6-{name.replace('_', '-')}"
        assert rows[name]["version"] == "0.1.0"
    assert rows["stop_loss"]["distribution"] == "v6"

    exit_rules = "\n".join(f"    {rule}: {{}}" for rule in (*DEFAULT_EXIT_RULES, "pin_exit"))
    config = tmp_path / "v6.yaml"
    config.write_text(
        textwrap.dedent(
            """\
            sim: {days: 2}
            plugins:
              strategies:
                iron_condor: {settings: {min_dte: 3, max_dte: 12}}
                pin_spread: {}
              strike_selector:
                capped_selector: {settings: {max_width: 10}}
              regime:
                volatility_regime: {}
                vix_band_regime: {}
              regime_driver: vix_band_regime
              exit_rules:
            """
        )
        + exit_rules
        + "\n"
    )
    store = tmp_path / "store"
    ran = _run(
        [str(python), "-m", "v6.cli", "run", "--config", str(config), "--cycles", "30",
         "--store", str(store)]
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert "30 cycles" in ran.stdout
    tables = DeltaStore(store)
    entries = tables.read("entries")
    assert {"iron_condor", "pin_spread"} <= set(
        entries[entries["outcome"] == "accepted"]["strategy"]
    )
    regimes = tables.read("regimes")
    assert set(regimes["detector"]) == {"volatility_regime", "vix_band_regime"}
    assert regimes[regimes["detector"] == "vix_band_regime"]["reason"].str.startswith("VIX ").all()
    # The new detector drives: the regime every decision records is one it can read.
    decided = set(tables.read("decisions")["regime"]) - {""}
    assert decided and decided <= {"normal", "high_vol", "low_vol"}
    verdicts = tables.read("decisions")["verdicts"].dropna()
    assert verdicts.str.contains('"pin_exit"').any() and verdicts.str.contains('"stop_loss"').any()
    alerts: pd.DataFrame = tables.read("alerts")
    assert alerts[alerts["code"] == "plugin_error"].empty
