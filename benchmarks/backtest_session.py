"""One backtest in a fresh process, for the replay benchmark: prints JSON figures.

Usage: backtest_session.py DATA_STORE OUT_DIR. The engine is wired by
:func:`v6.backtest.runner.run_backtest` (embedded defaults, breakers that stop entries
turned off so the trading never stops); resident memory is sampled after every cycle.

``cycles_per_second`` is the replay's rate: cycles over the time of the replay itself
(plugins loaded, engine wired, every snapshot read and cycled, the final flatten and
flush). ``end_to_end_cycles_per_second`` adds what a backtest does once, before and
after (the output store's checks, the summary read back from it, the HTML report).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from datetime import date
from pathlib import Path

import attrs

from v6.backtest import runner
from v6.config_loader import load_config
from v6.engine.cycle import Engine


def rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def main() -> None:
    data, out = Path(sys.argv[1]), Path(sys.argv[2])
    cfg = load_config(None)
    cfg = attrs.evolve(cfg, breakers=attrs.evolve(cfg.breakers, enabled=False))
    samples: list[float] = []
    cycle_times: list[float] = []
    original = Engine.run_cycle

    def measured(self: Engine, now, **kwargs):
        started = time.perf_counter()
        report = original(self, now, **kwargs)
        cycle_times.append(time.perf_counter() - started)
        samples.append(rss_mib())
        return report

    Engine.run_cycle = measured  # type: ignore[method-assign]
    replay_seconds: list[float] = []
    replay = runner._replay

    def timed_replay(*args, **kwargs):
        began = time.perf_counter()
        try:
            return replay(*args, **kwargs)
        finally:
            replay_seconds.append(time.perf_counter() - began)

    runner._replay = timed_replay  # type: ignore[assignment]
    started = time.perf_counter()
    result = runner.run_backtest(cfg, data, date(2000, 1, 1), date(2100, 1, 1), out, progress=False)
    wall = time.perf_counter() - started
    cycles = result.summary["snapshots"]
    tail = samples[-200:] or [rss_mib()]
    print(
        json.dumps(
            {
                "cycles": cycles,
                "seconds": wall,
                "cycles_per_second": cycles / replay_seconds[0],
                "replay_seconds": replay_seconds[0],
                "end_to_end_cycles_per_second": cycles / wall,
                "engine_seconds": sum(cycle_times),
                "rss_mib_last_200": sum(tail) / len(tail),
                "rss_mib_peak": max(samples) if samples else rss_mib(),
                "trades": result.summary["trades"],
            }
        )
    )


if __name__ == "__main__":
    main()
