"""SIGTERM and SIGHUP handled like Ctrl-C: clean up, then exit ``128 + N``.

Standard library only.  :func:`handled_signals` turns the two signals into
:class:`Signalled`, a :class:`KeyboardInterrupt`, so every ``finally`` and
every ``except BaseException`` that already cleans up after Ctrl-C (the
temporary file of :func:`convcli.atomic.atomic_write`, the worker pool of a
batch) does the same for them.  :func:`worker_init` is run in each worker
process of a ``--jobs`` batch: the worker handles the signals the same way and
is sent SIGTERM when the process that runs the batch dies, so no worker
outlives its batch.
"""

from __future__ import annotations

import os
import signal
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


def worker_init(parent: int | None = None) -> None:
    """Set up a batch worker process: SIGINT, SIGTERM, SIGHUP end it cleanly; die with the parent.

    Inside :func:`worker_task` a signal raises (the task removes its temporary
    file); between tasks it ends the process without a traceback.  ``parent``
    is the pid of the process that runs the batch: a watcher thread sends this
    worker SIGTERM when it is gone (killed with SIGKILL, say), so a worker
    never outlives its batch.  (The worker's own parent may be the
    multiprocessing fork server, which outlives the batch.)
    """
    for signum in (signal.SIGINT, *HANDLED):
        signal.signal(signum, _worker_signal)
    if parent is not None:
        threading.Thread(target=_watch, args=(parent,), daemon=True).start()


def _watch(parent: int, every: float = 0.25) -> None:
    """Send this process SIGTERM once ``parent`` has exited."""
    import time

    while True:
        time.sleep(every)
        try:
            os.kill(parent, 0)
        except ProcessLookupError:
            break
        except OSError:  # the pid now belongs to another user's process
            break
        if _is_zombie(parent):
            break
    os.kill(os.getpid(), HANDLED[0] if HANDLED else signal.SIGINT)


def _is_zombie(pid: int) -> bool:
    """Whether ``pid`` has exited but not been reaped yet (Linux; False elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except (OSError, IndexError):
        return False
