"""Kill ``v6 run`` at every commit boundary of the order tables and at random instants,
then audit what it left.

Usage:
    python tests/kill_harness.py [--kills 50] [--seed 1]             (sim)
    python tests/kill_harness.py --gateway [--kills 50] [--seed 1]   (paper, fake gateway)
    python tests/kill_harness.py at N before|after -- <v6 arguments>

The second form is the launcher the harness (and the crash tests) use: it runs
``v6 <arguments>`` in this process with Delta's writer wrapped so that the process sends
itself SIGKILL just before, or just after, the N-th commit to ``orders``, ``fills`` or
``positions`` (or, with ``at 0 after:open:filled``, right after the first ``orders``
commit that records an entry filled; any intent and status may be named). Nothing in
V6 knows about it: the kill comes from outside V6's code, at the store's outermost
boundary, as a crash or ``kill -9`` would.

The harness reports orphan rows (a fill or order whose order or position row is
missing, an order stored filled without its fills, a closed position whose P&L is not
its fills' cash), and exits 1 if it found any. In sim, every fifth run is stopped with
SIGTERM instead, and must exit 0 with every cycle it printed stored and a stop record.
With ``--gateway`` every killed paper session is restarted against the same gateway and
must also send no order twice, hold exactly what the broker holds and leave no naked
short leg. ``make killtest`` runs both.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ORDER_TABLES = {"orders", "fills", "positions"}
HERE = Path(__file__).resolve()
# A sim session that opens, closes, partially fills and unwinds: two-lot orders, partial
# and legged fills now and then, short-dated structures that turn over within days.
SIM_CONFIG = """
mode: sim
sim:
  days: 3
  broker:
    partial_fill_probability: 0.3
    legged_fill_probability: 0.2
plugins:
  strategies:
    iron_condor: {settings: {min_dte: 3, max_dte: 12, quantity: 2}}
    bull_put_spread: {settings: {min_dte: 3, max_dte: 12, quantity: 2}}
  exit_rules:
    stop_loss: {}
    days_to_expiry: {}
    take_profit: {settings: {profit_fraction: 0.2}}
"""


def table_name(table_or_path: object) -> str:
    """The table a ``write_deltalake`` call writes: the store passes the DeltaTable it
    keeps between appends, or the table's path."""
    uri = str(getattr(table_or_path, "table_uri", table_or_path))
    return Path(uri.removeprefix("file://")).name


def launch(at: int, when: str, argv: list[str]) -> None:
    """Run ``v6 argv`` here, killed at the ``at``-th order-table commit (``when`` is
    ``before`` or ``after``), or at the first ``orders`` commit holding an order of one
    intent in one status (``when`` like ``after:open:filled`` or ``before:close:pending``;
    ``at`` is then ignored)."""
    from v6 import cli
    from v6.store import delta_store

    real = delta_store.write_deltalake
    seen = 0
    side, _, match = when.partition(":")
    intent, _, status = match.partition(":")

    def matches(table: str, data: object) -> bool:
        if table != "orders":
            return False
        rows = data.select(["order_ref", "status"]).to_pylist()  # type: ignore[attr-defined]
        return any(r["status"] == status and f":{intent}" in r["order_ref"] for r in rows)

    def write(table_or_path: object, data: object, **kwargs: object) -> None:
        nonlocal seen
        table = table_name(table_or_path)
        if match:
            hit = matches(table, data)
        else:
            seen += table in ORDER_TABLES
            hit = table in ORDER_TABLES and seen == at
        if hit and side == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        real(table_or_path, data, **kwargs)
        if hit and side == "after":
            os.kill(os.getpid(), signal.SIGKILL)

    delta_store.write_deltalake = write
    sys.exit(cli.main(argv))


def killed(args: list[str], at: int, when: str) -> int:
    """``v6 args`` killed by the launcher at commit ``at`` (``when``); its exit status."""
    done = subprocess.run(
        [sys.executable, str(HERE), "at", str(at), when, "--", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    return done.returncode


def cycling(args: list[str]) -> subprocess.Popen:
    """``v6 args`` started, returned once it has printed its first cycle."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "v6.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if " cycle " in line:
            break
    return proc


def killed_at_random(args: list[str], delay: float) -> int:
    """``v6 args`` SIGKILLed ``delay`` seconds after its first cycle; its exit status."""
    proc = cycling(args)
    time.sleep(delay)
    proc.kill()
    proc.wait(timeout=60)
    return proc.returncode


def terminated_at_random(args: list[str], delay: float) -> tuple[int, int]:
    """``v6 args`` sent SIGTERM ``delay`` seconds after its first cycle; returns its exit
    status and the number of cycles it printed (at least; lines read ahead by the pipe's
    buffer may go uncounted, which only makes the check for lost cycles weaker)."""
    proc = cycling(args)
    time.sleep(delay)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    return proc.returncode, 1 + sum(" cycle " in line for line in out.splitlines())


def lost_cycles(store: Path, printed: int) -> list[str]:
    """What a SIGTERM lost: cycles printed but not stored, or no stop record."""
    from v6.store.delta_store import DeltaStore

    tables = DeltaStore(store)
    stored = set(tables.read("account_snapshots", columns=["cycle"])["cycle"])
    problems = [
        f"cycle {c} printed but not stored" for c in range(1, printed + 1) if c not in stored
    ]
    if "stop" not in set(tables.read("runs", columns=["event"])["event"]):
        problems.append("no stop record after SIGTERM")
    return problems


def run_killed(store: Path, config: Path, at: int, when: str, seed: int) -> int:
    """One sim session killed at commit ``at``; returns its exit status."""
    args = ["run", "--config", str(config), "--store", str(store), "--seed", str(seed)]
    return killed(args, at, when)


def report(n: int, how: str, status: int, found: list[str]) -> int:
    """Print one kill's line and its problems; returns how many it found."""
    print(f"kill {n + 1:3d} ({how}): exit {status}, {len(found)} problems")
    for line in found:
        print(f"    {line}")
    return len(found)


# -- the gateway side -------------------------------------------------------------------


def book_of(store: Path) -> dict[str, int]:
    """Contracts V6's live positions hold, by contract key (as the broker counts them)."""
    from v6.store.delta_store import DeltaStore
    from v6.store.rows import positions_from_frame

    book: dict[str, int] = {}
    for position in positions_from_frame(DeltaStore(store).read("positions")):
        if position.status.value == "closed":
            continue
        for leg in position.legs:
            key = leg.contract.key
            book[key] = book.get(key, 0) + leg.ratio * position.quantity
    return {k: v for k, v in book.items() if v}


def restart(config: Path, cycles: int = 3) -> None:
    """``v6 run`` again on the killed run's store; it must finish cleanly."""
    done = subprocess.run(
        [sys.executable, "-m", "v6.cli", "run", "--config", str(config), "--cycles", str(cycles)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        raise AssertionError(f"restart exited {done.returncode}: {done.stderr[-3000:]}")


def restart_problems(gateway: object, store: Path, before: list[str]) -> list[str]:
    """What is wrong after a restart: orders sent twice, orphan rows, a book that differs
    from the broker's, a naked short leg at the broker."""
    from collections import Counter

    from ib_harness import broker_option_positions, naked_shorts, placed_refs

    from v6.store.delta_store import DeltaStore
    from v6.testing.store_audit import audit

    refs = placed_refs(gateway)  # type: ignore[arg-type]
    problems = [f"order sent twice: {r}" for r, n in Counter(refs).items() if n > 1]
    if refs[: len(before)] != before:
        problems.append("orders of the killed run were replaced")
    problems += audit(DeltaStore(store))
    held = {k: v for k, v in broker_option_positions(gateway).items() if v}  # type: ignore[arg-type]
    book = book_of(store)
    if book != held:
        problems.append(f"book differs from the broker: V6 {book}, broker {held}")
    problems += [f"naked short at the broker: {g}" for g in naked_shorts(held)]
    return problems


def gateway_config(kind: str, store: Path, port: int) -> object:
    """A paper config against the fake gateway for one scenario: ``entry`` (the default
    condor), ``close`` (every position closed the cycle after it opens), ``partial``
    (two-lot condors), ``legs`` (the default condor, scripted to leg)."""
    import attrs
    from ib_harness import paper_config

    from v6.config import PluginBlock

    cfg = paper_config(store, port)
    if kind == "close":
        rules = dict(cfg.plugins.exit_rules)
        rules["days_to_expiry"] = PluginBlock(settings={"close_at_dte": 60, "itm_close_dte": 60})
        cfg = attrs.evolve(cfg, plugins=attrs.evolve(cfg.plugins, exit_rules=rules))
    if kind == "partial":
        settings = {"min_dte": 14, "max_dte": 45, "quantity": 2}
        strategies = {"iron_condor": PluginBlock(settings=settings)}
        cfg = attrs.evolve(cfg, plugins=attrs.evolve(cfg.plugins, strategies=strategies))
    return cfg


def gateway_harness(kills: int, seed: int) -> int:
    """Paper sessions against the fake gateway, killed at commit boundaries and at random
    instants, each restarted and checked against the broker."""
    from ib_harness import advance, placed_refs, running_gateway, write_config

    rng = random.Random(seed)
    kinds = ["entry", "close", "partial", "legs"]
    problems = 0
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(kills):
            kind = kinds[n % len(kinds)]
            store = Path(tmp) / f"store-{n}"
            with running_gateway() as gateway:
                if kind == "partial":
                    gateway.fill_next("partial", units=1)
                if kind == "legs":
                    gateway.fill_next("legs", indices=[0, 1])
                config = write_config(
                    gateway_config(kind, store, gateway.port),  # type: ignore[arg-type]
                    Path(tmp) / f"paper-{n}.yaml",
                )
                args = ["run", "--config", str(config), "--cycles", "6"]
                if n % 5 == 4:
                    how = "random"
                    status = killed_at_random(args, rng.uniform(0.0, 4.0))
                else:
                    at = 1 + (n // len(kinds)) % 12
                    when = "before" if n % 2 else "after"
                    how = f"commit {at} {when}"
                    status = killed(args, at, when)
                before = placed_refs(gateway)
                advance(gateway)
                try:
                    restart(config)
                    found = restart_problems(gateway, store, before)
                except AssertionError as exc:
                    found = [str(exc)]
            problems += report(n, f"{kind}, {how}", status, found)
    print(f"{kills} gateway kills: {problems} problems")
    return 1 if problems else 0


# -- the sim side -----------------------------------------------------------------------


def harness(kills: int, seed: int) -> int:
    from v6.store.delta_store import DeltaStore
    from v6.testing.store_audit import audit

    rng = random.Random(seed)
    problems = 0
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "sim.yaml"
        config.write_text(SIM_CONFIG, encoding="utf-8")
        for n in range(kills):
            store = Path(tmp) / f"store-{n}"
            args = ["run", "--config", str(config), "--store", str(store), "--seed", str(seed + n)]
            found = []
            if n % 5 == 4:
                how = "random"
                status = killed_at_random(args, rng.uniform(0.0, 8.0))
            elif n % 5 == 2:
                how = "SIGTERM"
                status, printed = terminated_at_random(args, rng.uniform(0.0, 4.0))
                found += lost_cycles(store, printed)
                if status != 0:
                    found.append(f"SIGTERM exit status {status}, expected 0")
            else:
                how = f"commit {n + 1} {'before' if n % 2 else 'after'}"
                status = run_killed(store, config, n + 1, "before" if n % 2 else "after", seed)
            found += audit(DeltaStore(store))
            problems += report(n, how, status, found)
    print(f"{kills} kills and stops: {problems} orphan rows, inconsistent rows or lost cycles")
    return 1 if problems else 0


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "at":
        at, when = int(sys.argv[2]), sys.argv[3]
        launch(at, when, sys.argv[sys.argv.index("--") + 1 :])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--gateway", action="store_true", help="paper mode against the fake IB gateway"
    )
    args = parser.parse_args()
    if args.gateway:
        return gateway_harness(args.kills, args.seed)
    return harness(args.kills, args.seed)


if __name__ == "__main__":
    sys.exit(main())
