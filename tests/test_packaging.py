"""Installing V6 adds `v6`, `v6_plugins` and `dash_app`, never a generic `plugins` module."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import distribution


def test_installed_top_level_packages_are_v6_names_only():
    top_level = set(distribution("v6").read_text("top_level.txt").split())
    assert top_level == {"v6", "v6_plugins", "dash_app"}


def test_no_module_named_plugins_is_importable_outside_the_source_tree(tmp_path):
    probe = (
        "import importlib.util, v6_plugins.strategies.iron_condor as m; "
        "print(importlib.util.find_spec('plugins'), m.NAME)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["None", "iron_condor"]


def test_every_package_of_the_source_tree_is_in_the_wheel():
    """A package left out of pyproject's list imports in the editable checkout and fails in
    every real install (`make deploy` builds a wheel): list them all."""
    import tomllib
    from pathlib import Path

    root = Path(__file__).parents[1]
    listed = set(
        tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    names = {"v6": "v6", "plugins": "v6_plugins", "dash_app": "dash_app"}
    found = set()
    for top, name in names.items():
        for init in (root / top).rglob("__init__.py"):
            parts = init.parent.relative_to(root / top).parts
            found.add(".".join((name, *parts)))
    assert found - listed == set()
