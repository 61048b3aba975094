"""The Delta Lake store: table schemas, rows, the store itself and its maintenance.

delta-rs (the ``deltalake`` package) allocates through a jemalloc of its own, which by
default keeps freed pages for 10 s before handing them back. One flush of 20 cycles of
option chains allocates and frees tens of MiB inside delta-rs; a simulation flushes
every second or so, so freed pages never got old enough and resident memory carried
about 90 MiB of them. A quarter of a second keeps the reuse between the allocations of
one write and gives the memory back between writes: about 70 MiB less for about 7% more
time in a full-speed simulation, nothing in paper or live, where cycles are minutes
apart (docs/PERFORMANCE.md). jemalloc reads this once, when ``deltalake`` loads, so it
is set here, before any store module imports it; a value already in the environment
wins.
"""

import os

os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:250")
