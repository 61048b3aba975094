"""Where a sweep's backtests run: a Dask client, local or on a cluster, one code path.

Without ``--scheduler`` a ``LocalCluster`` of N worker processes (one thread each, bound
to 127.0.0.1, no dashboard) is started for the sweep and stopped after it; with
``--scheduler ADDR`` a client connects to that running scheduler. Either way the sweep
submits the same tasks to a ``distributed.Client`` and collects them as they finish.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from v6.errors import V6Error


class SchedulerError(V6Error):
    """The Dask scheduler given by --scheduler could not be reached (exit status 4, like
    an unreachable IB gateway)."""

    exit_status = 4


@contextmanager
def dask_client(workers: int, scheduler: str | None) -> Iterator[Any]:
    """A ``distributed.Client``: to ``scheduler``, or to a LocalCluster of ``workers``."""
    import logging

    from distributed import Client, LocalCluster

    # Dask's INFO lines (scheduler and workers starting) are not the sweep's output.
    logging.getLogger("distributed").setLevel(
        max(logging.WARNING, logging.getLogger().getEffectiveLevel())
    )
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="10s", set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise SchedulerError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
        try:
            yield client
        finally:
            client.close()
        return
    # Dask's default ``allowed-failures`` (3): a task whose worker died is tried on three
    # more before it is recorded as failed, so a combination that merely shared a worker
    # with a crashing one is not blamed for it.
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        scheduler_kwargs={"dashboard": False},
        silence_logs=40,  # ERROR: the sweep's own output is the report
    )
    try:
        client = Client(cluster, set_as_default=False)
        try:
            yield client
        finally:
            client.close()
    finally:
        cluster.close()


def run_tasks(
    client: Any,
    function: Callable[[dict[str, Any]], dict[str, Any]],
    tasks: list[dict[str, Any]],
    key: Callable[[dict[str, Any]], str],
    on_failure: Callable[[dict[str, Any], BaseException], dict[str, Any]],
) -> Iterator[dict[str, Any]]:
    """Each task's result in the order they finish; a task whose worker died (or whose
    result could not come back) yields ``on_failure(task, error)`` instead."""
    from distributed import as_completed

    if not tasks:
        return
    futures = {}
    for task in tasks:
        future = client.submit(function, task, key=key(task), pure=False, retries=0)
        futures[future.key] = (future, task)
    done = as_completed([f for f, _ in futures.values()], loop=client.loop)
    try:
        for future in done:
            task = futures[future.key][1]
            try:
                yield future.result()
            except Exception as exc:  # KilledWorker, a lost connection
                yield on_failure(task, exc)
            finally:
                future.release()
    finally:
        pending = [f for f, _ in futures.values() if not f.done()]
        if pending:
            client.cancel(pending)
