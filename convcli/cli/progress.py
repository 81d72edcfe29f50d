"""Progress bars on stderr: one slow image, a batch of inputs, the steps of a fit.

All are transient (they vanish when the work ends) and import Rich only when
they are shown.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class SlowWorkBar:
    """A progress bar for one image that appears only once the work passes a second."""

    DELAY_S = 1.0

    def __init__(self, console: Any) -> None:
        self.console = console
        self.started = time.perf_counter()
        self.bar: Any = None
        self.task: Any = None

    def __call__(self, stage: str, fraction: float) -> None:
        """Hear that ``stage`` is ``fraction`` done; show the bar once the delay has passed."""
        if self.bar is None:
            if time.perf_counter() - self.started < self.DELAY_S:
                return
            from rich.progress import Progress

            self.bar = Progress(console=self.console, transient=True)
            self.bar.start()
            self.task = self.bar.add_task(stage, total=1.0)
        self.bar.update(self.task, description=stage, completed=fraction)

    def close(self) -> None:
        """Remove the bar, if it was shown."""
        if self.bar is not None:
            self.bar.stop()


@contextmanager
def batch_bar(console: Any, total: int, *, shown: bool) -> Iterator[Callable[[], None]]:
    """A ``filtering`` bar over ``total`` inputs; yields the function that advances it."""
    if not shown:
        yield lambda: None
        return
    from rich.progress import Progress

    progress = Progress(console=console, transient=True)
    progress.start()
    task = progress.add_task("filtering", total=total)
    try:
        yield lambda: progress.advance(task)
    finally:
        progress.stop()


@contextmanager
def fit_bar(console: Any, steps: int) -> Iterator[Callable[[int, float], None]]:
    """A ``fitting`` bar with the step and the loss; yields the ``callback(step, loss)``."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("fitting"),
        BarColumn(),
        TextColumn("step {task.completed}/{task.total}  loss {task.fields[loss]:.4g}"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("fit", total=steps, loss=float("nan"))
        yield lambda i, v: bar.update(task, completed=i, loss=v)
