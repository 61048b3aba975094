"""Run a simulated session of N cycles in this process and print its memory as JSON.

Usage: ``python benchmarks/rss_session.py <store root> <cycles>``. The engine is wired
exactly as ``v6 run`` wires it (embedded defaults, a long simulated calendar). Resident
memory is sampled after every cycle; the figures are the mean and the max over the last
``WINDOW`` cycles, the same stretch of work in a short and a long run: 10 flushes and
one maintenance pass with the default settings (a single sample moves by tens of MiB
as allocators take and hand back memory). They are split into anonymous memory (heaps,
buffers) and file-backed pages (mapped code, which grows once as code paths first run).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import attrs

from v6.app import build_engine
from v6.config_loader import load_config
from v6.store.delta_store import DeltaStore
from v6.store.schemas import TABLES

CYCLES_PER_DAY = 26  # 09:30-16:00 every 15 minutes
WINDOW = 200  # cycles: flush_every_cycles (20) x compact_every_flushes (10)


def status() -> dict[str, float]:
    """VmRSS, VmHWM, RssAnon, RssFile (MiB) and Threads from /proc/self/status."""
    values = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            values[key] = int(rest.split()[0]) / 1024
        elif key == "Threads":
            values[key] = int(rest)
    return values


def main(root: str, cycles: int) -> None:
    cfg = load_config(None)
    cfg = attrs.evolve(
        cfg,
        store=attrs.evolve(cfg.store, path=root),
        sim=attrs.evolve(cfg.sim, days=cycles // CYCLES_PER_DAY + 2),
        # Keep trading for the whole run: a tripped consecutive-losses breaker (it needs
        # a manual reset) would stop the order traffic a long run is meant to carry.
        breakers=attrs.evolve(cfg.breakers, enabled=False),
    )
    engine, clock = build_engine(cfg, "rss-bench")
    tail: list[dict[str, float]] = []
    slowest = 0.0
    for cycle in range(1, cycles + 1):
        now = clock.next_cycle()
        started = time.perf_counter()
        engine.run_cycle(now)
        slowest = max(slowest, time.perf_counter() - started)
        if cycle > cycles - WINDOW:
            tail.append(status())
    engine.close()
    engine.recorder.maintenance.wait()
    store = DeltaStore(root)
    end = status()
    print(
        json.dumps(
            {
                "cycles": cycles,
                "rss_mib": round(sum(s["VmRSS"] for s in tail) / len(tail), 1),
                "rss_max_mib": round(max(s["VmRSS"] for s in tail), 1),
                "anon_mib": round(sum(s["RssAnon"] for s in tail) / len(tail), 1),
                "file_mib": round(sum(s["RssFile"] for s in tail) / len(tail), 1),
                "peak_mib": round(end["VmHWM"], 1),
                "threads": int(max(s["Threads"] for s in tail)),
                "slowest_cycle_s": round(slowest, 2),
                "orders_live_files": store.files("orders"),
                "live_files": sum(store.files(t) for t in TABLES),
                "pid": os.getpid(),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
