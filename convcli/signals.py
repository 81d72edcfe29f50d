"""SIGTERM and SIGHUP handled like Ctrl-C: clean up, then exit ``128 + N``.

Standard library only.  :func:`handled_signals` turns the two signals into
:class:`Signalled`, a :class:`KeyboardInterrupt`, so every ``finally`` and
every ``except BaseException`` that already cleans up after Ctrl-C (the
temporary file of :func:`convcli.atomic.atomic_write`, the worker pool of a
batch) does the same for them.  :func:`worker_init` is run in each worker
process of a ``--jobs`` batch: the worker handles the signals the same way and
is sent SIGTERM when the process that started it dies (Linux), so no worker
outlives its batch.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = [
    "HANDLED",
    "Signalled",
    "exit_code",
    "handled_signals",
    "worker_init",
    "worker_task",
]

#: The signals handled like SIGINT (SIGHUP does not exist on Windows).
HANDLED = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class Signalled(KeyboardInterrupt):
    """A handled signal (SIGTERM, SIGHUP) arrived; ``signum`` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


#: The last handled signal of this process (the CLI's Typer may turn the exception into
#: a plain exit code 130, losing which signal it was).
_received: list[int] = []


def exit_code(exc: BaseException | None) -> int:
    """``128 + N`` for a :class:`Signalled` in ``exc``'s chain (or the last one received), else 130.

    130 is the shell's code for SIGINT (Ctrl-C).
    """
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, Signalled):
            return 128 + exc.signum
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return 128 + _received[-1] if _received else 130


def _raise(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Signalled(signum)


@contextmanager
def handled_signals() -> Iterator[None]:
    """While inside, SIGTERM and SIGHUP raise :class:`Signalled` (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _received.clear()
    saved = {}
    for signum in HANDLED:
        saved[signum] = signal.getsignal(signum)
        if saved[signum] is not signal.SIG_IGN:  # nohup: keep ignoring SIGHUP
            signal.signal(signum, _raise)
    try:
        yield
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


#: Whether this worker process is inside a task (see :func:`worker_task`).
_in_task: list[bool] = [False]


def _worker_signal(signum: int, frame: FrameType | None) -> None:
    """In a task: raise, so the task cleans up; between tasks: exit at once, silently."""
    if _in_task[0]:
        _raise(signum, frame)
    os._exit(128 + signum)


@contextmanager
def worker_task() -> Iterator[None]:
    """Mark a task of a worker process: a signal inside raises :class:`Signalled` / Ctrl-C."""
    _in_task[0] = True
    try:
        yield
    finally:
        _in_task[0] = False


def worker_init() -> None:
    """Set up a batch worker process: SIGINT, SIGTERM, SIGHUP end it cleanly; die with the parent.

    Inside :func:`worker_task` a signal raises (the task removes its temporary
    file); between tasks it ends the process without a traceback.
    """
    for signum in (signal.SIGINT, *HANDLED):
        signal.signal(signum, _worker_signal)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes

            pr_set_pdeathsig = 1
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
