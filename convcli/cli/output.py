"""What the commands print: the consoles, JSON documents, shapes, weight tables, error lines.

Rich is imported only when a console or table is first needed, so the
command line starts without it.
"""

from __future__ import annotations

import json
import sys
from functools import cache
from typing import TYPE_CHECKING, Any

from convcli.errors import one_line

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from rich.console import Console
    from rich.table import Table


@cache
def err_console() -> Console:
    """Rich console on stderr (progress, notes, per-image lines)."""
    from rich.console import Console

    return Console(stderr=True, highlight=False)


@cache
def out_console() -> Console:
    """Rich console on stdout (tables that are the command's output)."""
    from rich.console import Console

    return Console(highlight=False)


def error_line(message: object, source: str | None = None) -> str:
    r"""The one ``Error:`` line for ``message``, its whitespace folded onto one line.

    ``source: `` goes before the message unless the message already names it
    (the input a per-file error in a batch is about).

    Examples
    --------
    >>> error_line("bad\n  value")
    'Error: bad value'
    >>> error_line("cannot read a.png", source="a.png"), error_line("broken", source="b.png")
    ('Error: cannot read a.png', 'Error: b.png: broken')
    """
    line = one_line(message)
    where = f"{source}: " if source is not None and source not in line else ""
    return f"Error: {where}{line}"


class _JsonState:
    """Whether this run asked for ``--json``, wrote its document, and a batch's results so far."""

    requested = False
    emitted = False
    partial: dict[str, Any] | None = None


def start_json(requested: bool) -> None:
    """Reset the JSON state at the start of a run (``requested``: ``--json`` was given)."""
    _JsonState.requested = requested
    _JsonState.emitted = False
    _JsonState.partial = None


def keep_partial(**parts: Any) -> None:
    """Remember what a failing command's error document should carry (a batch's ``results``)."""
    _JsonState.partial = dict(parts)


def error_doc(message: object, exit_code: int) -> dict[str, Any]:
    """The SPEC section 7 error object: ``{"message": str, "exit_code": int}``."""
    return {"message": one_line(message), "exit_code": exit_code}


def emit_json(doc: Any) -> None:
    """Write one JSON document to stdout, and nothing else."""
    _JsonState.emitted = True
    sys.stdout.write(json.dumps(doc, allow_nan=False) + "\n")
    sys.stdout.flush()


def emit_json_error(message: object, exit_code: int) -> None:
    """With ``--json``, the one document of a run that failed before writing its own.

    ``{"error": {"message": ..., "exit_code": ...}}`` plus the partial results a
    command kept; nothing if ``--json`` was not given or a document was written.
    """
    if not _JsonState.requested or _JsonState.emitted:
        return
    doc: dict[str, Any] = dict(_JsonState.partial or {})
    doc["error"] = error_doc(message, exit_code)
    try:
        emit_json(doc)
    except OSError:
        pass  # stdout gone (closed pipe): the Error: line on stderr still says it


def shape_text(shape: tuple[int, ...] | list[int]) -> str:
    """``(384, 512, 3)`` -> ``384x512x3``."""
    return "x".join(str(v) for v in shape)


def weights_table(w: npt.NDArray[np.float64], title: str = "") -> Table:
    """Build a Rich table of a 2-D matrix: positive green, negative red, zero dim."""
    from rich.table import Table

    digits = 6 if w.shape[1] <= 7 else 3
    table = Table(title=title or None, show_header=False, box=None, padding=(0, 1))
    for _ in range(w.shape[1]):
        table.add_column(justify="right", no_wrap=True, min_width=digits + 6)
    for row in w:
        cells = []
        for v in row:
            style = "green" if v > 0 else "red" if v < 0 else "dim"
            cells.append(f"[{style}]{v:.{digits}g}[/]")
        table.add_row(*cells)
    return table


def print_weights(console: Console, w: npt.NDArray[np.float64]) -> None:
    """Print a 2-D, 3-D or 4-D kernel (or kernel gradient) as one table per 2-D slice."""
    # wide kernels: let the table be as wide as it needs rather than dropping columns
    needed = 14 * w.shape[-1] + 4
    if needed > console.width:
        from rich.console import Console

        console = Console(file=console.file, width=needed, highlight=False)
    if w.ndim == 2:
        console.print(weights_table(w))
        return
    w4 = w.reshape((1, *w.shape)) if w.ndim == 3 else w
    for o in range(w4.shape[0]):
        for c in range(w4.shape[1]):
            label = f"in {c}" if w.ndim == 3 else f"out {o}, in {c}"
            console.print(weights_table(w4[o, c], title=label))
