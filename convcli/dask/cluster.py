"""Where the work runs: a ``distributed`` cluster (``--scheduler``) or local threads.

:func:`connect` turns ``--scheduler`` / ``--scheduler-file`` into a
``distributed.Client`` (``local[:N]`` starts N worker processes on 127.0.0.1,
dashboard on 127.0.0.1 at a free port), within ``--connect-timeout``, and checks
that the workers run the client's convcli, dask and distributed.
:class:`Runner` computes dask collections on that client, or on this
process's threads when there is none.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from convcli.config import default_threads
from convcli.errors import ConvCliError, OptionError, error_detail

__all__ = ["ClusterError", "Runner", "connect", "parse_scheduler"]


class ClusterError(ConvCliError):
    """The Dask scheduler cannot be reached or its workers do not match (exit code 1)."""


def parse_scheduler(address: str) -> tuple[str, int | None]:
    """``("local", N)`` for ``local`` / ``local:N``, else ``("tcp", None)`` for an address.

    Examples
    --------
    >>> parse_scheduler("local:3"), parse_scheduler("tcp://10.0.0.5:8786")
    (('local', 3), ('tcp', None))
    """
    text = address.strip()
    if text == "local" or text.startswith("local:"):
        count = text.partition(":")[2] or str(os.cpu_count() or 1)  # local: one per core
        if not count.isdigit() or int(count) < 1:
            msg = f"`--scheduler` local:N needs a positive N; got {address!r}"
            raise OptionError(msg)
        return "local", int(count)
    if "://" not in text or not text.split("://", 1)[1]:
        msg = f"`--scheduler` must be tcp://HOST:PORT, local or local:N; got {address!r}"
        raise OptionError(msg)
    return "tcp", None


@contextlib.contextmanager
def connect(
    scheduler: str | None = None,
    *,
    scheduler_file: str | None = None,
    timeout: float = 30.0,
) -> Iterator[Any]:
    """A ``distributed.Client`` for the duration of the block (a local cluster is torn down).

    Raises
    ------
    ClusterError
        The scheduler does not answer within ``timeout`` seconds, or the
        workers run another version of convcli, dask or distributed.
    """
    from distributed import Client, LocalCluster

    if (scheduler is None) == (scheduler_file is None):
        msg = "give one of --scheduler ADDRESS or --scheduler-file PATH"
        raise OptionError(msg)
    if timeout <= 0:
        msg = f"`--connect-timeout` must be positive; got {timeout}"
        raise OptionError(msg)
    kind, workers = parse_scheduler(scheduler) if scheduler is not None else ("file", None)
    with contextlib.ExitStack() as stack:
        if kind == "local":
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address="127.0.0.1:0",
                    silence_logs=logging.ERROR,
                )
            )
            client = stack.enter_context(Client(cluster, timeout=timeout))
        else:
            client = stack.enter_context(_remote_client(scheduler, scheduler_file, timeout))
        check_versions(client)
        yield client


@contextlib.contextmanager
def _remote_client(
    address: str | None, scheduler_file: str | None, timeout: float
) -> Iterator[Any]:
    from distributed import Client

    where = address if address is not None else f"the scheduler in {scheduler_file}"
    try:
        client = Client(address, scheduler_file=scheduler_file, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as exc:
        msg = (
            f"cannot reach the Dask scheduler at {where} within {timeout:g} s: {error_detail(exc)}"
        )
        raise ClusterError(msg) from None
    try:
        yield client
    finally:
        client.close()


def _worker_versions() -> tuple[str, str, str]:
    from importlib.metadata import version

    import convcli

    return convcli.__version__, version("dask"), version("distributed")


def check_versions(client: Any) -> None:
    """Refuse workers whose convcli, dask or distributed differ from this process's."""
    mine = _worker_versions()
    theirs = client.run(_worker_versions)
    for worker, versions in theirs.items():
        if tuple(versions) != mine:
            names = ("convcli", "dask", "distributed")
            diff = ", ".join(
                f"{n} {a} here but {b} there"
                for n, a, b in zip(names, mine, versions, strict=True)
                if a != b
            )
            msg = f"worker {worker} does not match this client: {diff}; install the same versions"
            raise ClusterError(msg)


@dataclass
class Runner:
    """Computes dask collections: on ``client`` if given, else on ``threads`` local threads."""

    client: Any = None
    threads: int | None = None

    def compute(self, *collections: Any) -> tuple[Any, ...]:
        """The computed values of ``collections`` (blocking)."""
        from concurrent.futures import ThreadPoolExecutor

        from dask.base import compute

        if self.client is not None:
            futures = self.client.compute(list(collections))
            try:
                return tuple(self.client.gather(futures))
            except BaseException:
                # stop the rest, so nothing writes into an output being removed
                self.client.cancel(futures, force=True)
                raise
        # our own pool: on a failure, wait for the tasks still running before returning
        with ThreadPoolExecutor(self.threads or default_threads()) as pool:
            return tuple(compute(*collections, scheduler="threads", pool=pool))

    def submit(self, collection: Any) -> Any:
        """Start computing ``collection``; the returned object's ``result()`` waits for it."""
        if self.client is not None:
            return self.client.compute(collection)
        from concurrent.futures import Future

        future: Future[Any] = Future()
        future.set_result(self.compute(collection)[0])
        return future
