"""Soak: a simulated quarter at full speed, sampled from outside the process.

Runs ``v6 run --cycles N`` (a quarter: 63 trading days of 26 fifteen-minute cycles, 1,638
cycles) on a fresh store and samples, every ``--every`` seconds, from /proc: resident
memory (VmRSS), open file descriptors, threads; and from the store: files per table (data
and log). Cycle times come from the heartbeat table afterwards. The growth of each is
judged between the second quarter of the run and its last (the first holds the start-up):

* RSS in the last quarter at most ``--max-rss-growth`` (1.25) times the second's;
* open descriptors and threads bounded (last quarter's max at most twice the second's);
* live data files (those the tables' current versions reference, what every reader opens)
  bounded: the engine's compaction keeps them few. Files on disk are reported too; the
  replaced ones are deleted only once older than ``store.retention_hours`` (1 h of wall
  time), so in a run shorter than that they only grow, by design;
* cycle time: the last quarter's median at most twice the second's.

Prints the samples and a summary, writes them as JSON with ``--json PATH``, and exits 1
when growth is unbounded. ``make soak`` runs it; it is not part of ``make test``
(minutes). Figures: docs/PERFORMANCE.md, "Soak".
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUARTER_CYCLES = 63 * 26


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS (KiB) and Threads of ``pid``, and its open descriptors."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "Threads"):
                out[key] = int(value.split()[0])
    out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    return out


def table_files(store: Path) -> dict[str, int]:
    """Live data files (all tables), data files on disk, and transaction-log files on disk."""
    from v6.store.delta_store import DeltaStore
    from v6.store.schemas import TABLES

    counts = {"live": 0, "disk": 0, "log": 0}
    if not store.is_dir():
        return counts
    reader = DeltaStore(store)
    for name in TABLES:
        table = store / name
        if not table.is_dir():
            continue
        with contextlib.suppress(Exception):  # a table being created: the next sample counts it
            counts["live"] += reader.files(name)
        counts["disk"] += sum(1 for p in table.rglob("*.parquet") if "_delta_log" not in p.parts)
        log_dir = table / "_delta_log"
        counts["log"] += sum(1 for _ in log_dir.iterdir()) if log_dir.is_dir() else 0
    return counts


def quarter(values: list[float], which: int) -> list[float]:
    """The ``which``-th quarter (0..3) of ``values``."""
    n = len(values)
    return values[which * n // 4 : max((which + 1) * n // 4, which * n // 4 + 1)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=QUARTER_CYCLES)
    parser.add_argument("--every", type=float, default=2.0, help="seconds between samples")
    parser.add_argument("--store", type=Path, help="store directory (default: a temp dir)")
    parser.add_argument("--json", type=Path, help="write samples and summary here")
    parser.add_argument("--max-rss-growth", type=float, default=1.25)
    args = parser.parse_args(argv)

    v6 = str(Path(sys.executable).with_name("v6"))
    work = Path(tempfile.mkdtemp(prefix="v6-soak-"))
    store = args.store or work / "store"
    started = time.monotonic()
    proc = subprocess.Popen(
        [v6, "run", "--cycles", str(args.cycles), "--store", str(store)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=work,
    )
    samples = []
    while proc.poll() is None:
        try:
            sample = {"t": round(time.monotonic() - started, 1), **proc_status(proc.pid)}
        except (FileNotFoundError, ProcessLookupError):
            break
        sample["files"] = table_files(store)
        samples.append(sample)
        files = sample["files"]
        print(
            f"{sample['t']:7.1f}s rss {sample['VmRSS'] / 1024:7.1f} MiB  fds {sample['fds']:4d}  "
            f"threads {sample['Threads']:3d}  live files {files['live']:4d}  "
            f"on disk {files['disk']:5d}  log files {files['log']:5d}",
            flush=True,
        )
        time.sleep(args.every)
    _, err = proc.communicate()
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        print(f"soak: v6 run failed ({proc.returncode}): {err[-2000:]}", file=sys.stderr)
        return 2

    from v6.store.delta_store import DeltaStore

    beats = DeltaStore(store).read("heartbeat", columns=["cycle", "cycle_seconds"])
    cycle_ms = [1000 * s for s in beats.sort_values("cycle")["cycle_seconds"].tolist()]
    rss = [s["VmRSS"] / 1024 for s in samples]
    fds = [s["fds"] for s in samples]
    threads = [s["Threads"] for s in samples]
    data = [s["files"]["live"] for s in samples]
    checks = {
        "rss": statistics.mean(quarter(rss, 3))
        <= args.max_rss_growth * statistics.mean(quarter(rss, 1)),
        "fds": max(quarter(fds, 3)) <= 2 * max(quarter(fds, 1)),
        "threads": max(quarter(threads, 3)) <= 2 * max(quarter(threads, 1)),
        "live_files": max(quarter(data, 3)) <= 2 * max(quarter(data, 1)) + 50,
        "cycle_time": statistics.median(quarter(cycle_ms, 3))
        <= 2 * statistics.median(quarter(cycle_ms, 1)),
    }
    summary = {
        "cycles": len(cycle_ms),
        "seconds": round(elapsed, 1),
        "samples": len(samples),
        "rss_mib": {
            "q2_mean": round(statistics.mean(quarter(rss, 1)), 1),
            "q4_mean": round(statistics.mean(quarter(rss, 3)), 1),
            "peak": round(max(rss), 1),
        },
        "fds": {"q2_max": max(quarter(fds, 1)), "q4_max": max(quarter(fds, 3))},
        "threads": {"q2_max": max(quarter(threads, 1)), "q4_max": max(quarter(threads, 3))},
        "live_files": {"q2_max": max(quarter(data, 1)), "q4_max": max(quarter(data, 3))},
        "files_on_disk_end": samples[-1]["files"]["disk"],
        "log_files_end": samples[-1]["files"]["log"],
        "store_mb": round(sum(p.stat().st_size for p in store.rglob("*") if p.is_file()) / 1e6, 1),
        "cycle_ms": {
            "q2_median": round(statistics.median(quarter(cycle_ms, 1)), 1),
            "q4_median": round(statistics.median(quarter(cycle_ms, 3)), 1),
            "p99": round(sorted(cycle_ms)[int(0.99 * (len(cycle_ms) - 1))], 1),
        },
        "bounded": checks,
    }
    print(json.dumps(summary, indent=1))
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "samples": samples}, indent=1))
    if not all(checks.values()):
        print(
            f"soak: unbounded growth: {[k for k, ok in checks.items() if not ok]}", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
