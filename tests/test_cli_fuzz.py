"""Garbled command lines and damaged stores through the real ``v6`` process.

Whatever comes in, ``v6`` answers with its output or with one ``v6:`` line and an exit
status from the documented set; never a Python traceback, never a Rust panic, never a
hang; and a damaged store is never silently replaced: every file of the damaged table is
still there afterwards, as it was, and nothing reappears where a file was lost.

The cases are drawn from a fixed seed, so a failure is reproducible; the number of cases
keeps the test under a minute on a small machine (each case is a process start).
"""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fuzz_budget import examples
from sessions import run, sim_config

from v6.cli import build_parser, main
from v6.store.delta_store import DeltaStore
from v6.store.schemas import TABLES

pytestmark = pytest.mark.slow

SEED = 20_261_201
V6 = str(Path(sys.executable).with_name("v6"))
TIMEOUT = 120  # a hang guard, far above any case's seconds
WORKERS = 2
# README "Exit status": 0 done, 2 configuration or command line, 6 a damaged table.
USAGE_STATUSES = {0, 2}
DAMAGED_STATUSES = {0, 6}  # 0: the command never needed the damaged part


def v6(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run([V6, *args], capture_output=True, text=True, cwd=cwd, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"v6 {args!r} still running after {TIMEOUT} s")


def check_answer(args: list[str], result: subprocess.CompletedProcess[str], statuses: set[int]):
    """No traceback, no panic, a documented status, and an error in one ``v6:`` line."""
    err = result.stderr
    where = f"v6 {args!r} exited {result.returncode}:\n{err}"
    assert "Traceback" not in err and "panicked" not in err, where
    assert result.returncode in statuses, where
    if result.returncode != 0:
        lines = err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("v6: "), where


# -- command lines ---------------------------------------------------------------------

COMMANDS = ["run", "explain", "breaker", "plugins", "check-config", "runn", "", "EXPLAIN"]
FLAGS = [
    "--cycles", "--seed", "--store", "--config", "--history", "--json", "--live", "--verbose",
    "-v", "--bogus", "-x", "-", "--", "--cycles=", "--store=", "--hist", "--json=1",
]  # fmt: skip
WORDS = [
    "status", "reset", "daily_loss", "daily_losses", "0", "-1", "1", "2", "1.5", "nan", "1e9",
    str(2**63), "10" * 40, "", " ", "ñandú", "日本語", "🙂", "\u202eevil", "\udcff", "a\tb",
    "line\nbreak", "$(id)", "'", '"', "=", "%s", "{}",
]  # fmt: skip


def random_argv(rng: random.Random, paths: list[str]) -> list[str]:
    argv = [rng.choice(COMMANDS)] if rng.random() < 0.9 else []
    for _ in range(rng.randint(0, 5)):
        pick = rng.random()
        if pick < 0.45:
            argv.append(rng.choice(FLAGS))
        elif pick < 0.8:
            argv.append(rng.choice(WORDS))
        elif pick < 0.9:
            argv.append(rng.choice(paths))
        else:
            argv.append(rng.choice("xé🙂-") * rng.randint(1, 5000))
    return argv


def would_trade(argv: list[str]) -> bool:
    """An argv the parser accepts as ``v6 run``: a real session, not a parsing case."""
    try:
        parsed = build_parser().parse_args(argv)
    except SystemExit:
        return False
    return parsed.command == "run"


def test_random_command_lines_get_output_or_one_line_and_status_2(tmp_path):
    rng = random.Random(SEED)
    (tmp_path / "garbage.yaml").write_text("::: [")
    (tmp_path / "empty").mkdir()
    (tmp_path / "file").write_text("not a store")
    paths = [str(tmp_path / name) for name in ("garbage.yaml", "empty", "file", "missing")]
    cases: list[list[str]] = []
    while len(cases) < examples(quick=20, deep=100):
        argv = random_argv(rng, paths)
        if not would_trade(argv):
            cases.append(argv)
    with ThreadPoolExecutor(WORKERS) as pool:
        results = list(pool.map(lambda argv: v6(argv, tmp_path), cases))
    for argv, result in zip(cases, results, strict=True):
        check_answer(argv, result, USAGE_STATUSES)
    assert {r.returncode for r in results} == {0, 2}  # the draw hits both answers
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "file", "garbage.yaml"]


def test_many_more_random_command_lines_in_process(tmp_path, capsys, monkeypatch):
    """The same, 400 times over (4,000 in ``make fuzz``), through ``main()``: cheap, so
    many more shapes."""
    monkeypatch.chdir(tmp_path)
    rng = random.Random(SEED + 1)
    paths = [str(tmp_path / "missing"), str(tmp_path)]
    done = 0
    while done < examples(quick=400, deep=4000):
        argv = random_argv(rng, paths)
        if would_trade(argv) or "plugins" in argv[:1] or "check-config" in argv[:1]:
            continue  # sessions are not parsing cases; plugin discovery is slow
        capsys.readouterr()
        status = main(argv)
        err = capsys.readouterr().err
        where = f"v6 {argv!r} exited {status}:\n{err}"
        assert "Traceback" not in err and status in USAGE_STATUSES, where
        if status:
            lines = err.splitlines()
            assert len(lines) == 1 and lines[0].startswith("v6: "), where
        done += 1
    assert not any(tmp_path.iterdir())  # nothing was created by a reader or a reset


# -- damaged stores --------------------------------------------------------------------


class Damage:
    """One way to damage a copy of the store, and what must stay as it left it."""

    def __init__(self, table: str, describe: str) -> None:
        self.table = table
        self.describe = describe
        self.kept: dict[Path, bytes | None] = {}  # path -> content (None: a directory)
        self.gone: list[Path] = []  # paths it removed: nothing may reappear there

    def record(self, table_dir: Path) -> None:
        if table_dir.is_file():
            self.kept[table_dir] = table_dir.read_bytes()
            return
        for path in table_dir.rglob("*"):
            if path.name in ("_v6_maintenance.lock", "_last_checkpoint"):
                continue  # a lock made on demand; the pointer each checkpoint rewrites
            self.kept[path] = None if path.is_dir() else path.read_bytes()

    def still_there(self) -> list[str]:
        problems = []
        for path, content in self.kept.items():
            if not path.exists():
                problems.append(f"{path} is gone")
            elif content is not None and (path.is_dir() or path.read_bytes() != content):
                problems.append(f"{path} was rewritten")
        problems += [f"{path} reappeared" for path in self.gone if path.exists()]
        return problems


def _data_files(table: Path) -> list[Path]:
    """In the order they were written: their names are random, the seed's draw must not be."""
    files = [p for p in table.rglob("*.parquet") if "_delta_log" not in p.parts]
    return sorted(files, key=lambda p: (p.stat().st_mtime_ns, p.name))


def _commits(table: Path) -> list[Path]:
    return sorted((table / "_delta_log").glob("*.json"))


# What the readers read: half the damage lands there, or most of it would go unread.
READ_TABLES = ("breaker_events", "positions", "decisions")


def _pick_table(root: Path, files: Callable[[Path], list[Path]], rng: random.Random) -> str:
    tables = [name for name in TABLES if (root / name).is_dir() and files(root / name)]
    read = [name for name in tables if name in READ_TABLES]
    return rng.choice(read if read and rng.random() < 0.5 else tables)


def damage(root: Path, kind: str, rng: random.Random) -> Damage:
    """Damage the store under ``root`` one way; returns what must stay as it is now."""
    if kind in ("truncate a commit", "garble a commit"):
        name = _pick_table(root, _commits, rng)
        target = rng.choice(_commits(root / name))
        data = target.read_bytes()
        if kind == "truncate a commit":
            target.write_bytes(data[: rng.randrange(len(data))])
        else:
            target.write_bytes(bytes(rng.randrange(256) for _ in range(len(data))))
    elif kind in ("delete a data file", "truncate a data file", "garble a data file"):
        name = _pick_table(root, _data_files, rng)
        target = rng.choice(_data_files(root / name))
        data = target.read_bytes()
        if kind == "delete a data file":
            target.unlink()
        elif kind == "truncate a data file":
            target.write_bytes(data[: rng.randrange(len(data))])
        else:
            start = rng.randrange(len(data) // 2)
            target.write_bytes(data[:start] + b"\0garbage\0" * 20 + data[start + 180 :])
    elif kind == "delete a table's log":
        name = _pick_table(root, _data_files, rng)
        target = root / name / "_delta_log"
        shutil.rmtree(target)
    elif kind == "empty a table's log":
        name = _pick_table(root, _data_files, rng)
        target = root / name / "_delta_log"
        for path in target.iterdir():
            path.unlink()
    elif kind == "replace a table with a file":
        name = _pick_table(root, _commits, rng)
        target = root / name
        shutil.rmtree(target)
        target.write_bytes(bytes(rng.randrange(256) for _ in range(64)))
    else:
        raise AssertionError(kind)
    result = Damage(name, f"{kind}: {target.relative_to(root)}")
    result.record(root / name)
    if kind in ("delete a data file", "delete a table's log"):
        result.gone.append(target)
    elif kind == "empty a table's log":
        result.gone.append(target / f"{0:020d}.json")
    return result


KINDS = [
    "truncate a commit",
    "garble a commit",
    "delete a data file",
    "truncate a data file",
    "garble a data file",
    "delete a table's log",
    "empty a table's log",
    "replace a table with a file",
]


@pytest.fixture(scope="module")
def sound_store(tmp_path_factory) -> tuple[Path, str]:
    """A store of 30 simulated cycles and a breaker reset, and one of its positions."""
    path = tmp_path_factory.mktemp("fuzz") / "data"
    run(sim_config(path, days=1), cycles=30)
    assert main(["breaker", "reset", "daily_loss", "--store", str(path)]) == 0
    # A position with decisions to explain (an entry that never filled has none).
    position = DeltaStore(path).read("decisions", columns=["position_id"])["position_id"][0]
    return path, position


def test_damaged_stores_are_named_in_one_line_and_never_replaced(sound_store, tmp_path):
    source, position = sound_store
    rng = random.Random(SEED + 2)
    cases = []
    for index, kind in enumerate(KINDS):
        root = tmp_path / f"case{index}"
        shutil.copytree(source, root)
        cases.append((root, damage(root, kind, rng)))

    def exercise(case: tuple[Path, Damage]) -> list[str]:
        root, harm = case
        store = str(root)
        found = []
        for args in (
            ["explain", position, "--store", store],
            ["breaker", "status", "--store", store],
            ["breaker", "reset", "daily_loss", "--store", store],
            ["run", "--cycles", "1", "--store", store],
        ):
            result = v6(args, tmp_path)
            check_answer(args, result, DAMAGED_STATUSES)
            if result.returncode == 6:
                assert f"table '{harm.table}'" in result.stderr, (harm.describe, result.stderr)
            found += [f"{harm.describe}, after v6 {args[0]}: {p}" for p in harm.still_there()]
        return found

    with ThreadPoolExecutor(WORKERS) as pool:
        problems = [p for found in pool.map(exercise, cases) for p in found]
    assert not problems, "\n".join(problems)
