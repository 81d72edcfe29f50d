"""What the commands print: the consoles, JSON documents, shapes, weight tables, error lines.

Rich is imported only when a console or table is first needed, so the
command line starts without it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
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
    source = None if source is None else one_line(source)
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
    """The ``--json`` error object of a failing command: ``{"message": str, "exit_code": int}``."""
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


def column_widths(
    natural: list[int], floors: list[int], width: int, give_way: tuple[tuple[int, int], ...]
) -> list[int]:
    """Widths of table columns that fit ``width`` (one cell of gap between columns).

    Columns start at their ``natural`` width; while the row is too wide, the columns of
    ``give_way`` are narrowed in turn, each ``(column, at least)`` down to that width but
    never below the column's floor (its header).  Columns not named keep their width.

    Examples
    --------
    >>> column_widths([4, 8, 40], [4, 8, 11], 60, ((2, 0),))
    [4, 8, 40]
    >>> column_widths([4, 8, 40], [4, 8, 11], 40, ((2, 0),))
    [4, 8, 26]
    >>> column_widths([10, 8, 40], [4, 8, 11], 20, ((2, 0), (0, 0)))
    [4, 8, 11]
    """
    widths = list(natural)
    for col, least in give_way:
        excess = sum(widths) + len(widths) - 1 - width
        if excess <= 0:
            break
        widths[col] = max(floors[col], least, widths[col] - excess)
    return widths


def fitted_table(
    headers: tuple[str, ...],
    rows: Sequence[tuple[str, ...]],
    title: str = "",
    give_way: tuple[tuple[int, int], ...] = (),
    width: int | None = None,
) -> Table:
    """A table that fits the terminal: one line per row, every column at least its header wide.

    When the rows are wider than the console, the columns of ``give_way`` (see
    :func:`column_widths`; default: right to left) are narrowed and their cells cut with an
    ellipsis; no column gets narrower than its header, so no header is ever broken.
    """
    from rich import box
    from rich.cells import cell_len
    from rich.table import Table

    natural = [max([cell_len(h)] + [cell_len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    floors = [cell_len(h) for h in headers]
    order = give_way or tuple((i, 0) for i in reversed(range(len(headers))))
    widths = column_widths(natural, floors, width or out_console().width, order)
    table = Table(
        title=title or None,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=0,  # the box's blank divider is the one-cell gap between columns
    )
    for header, w in zip(headers, widths, strict=True):
        table.add_column(header, no_wrap=True, overflow="ellipsis", width=w)
    for row in rows:
        table.add_row(*row)
    return table


def print_weights(
    console: Console, w: npt.NDArray[np.float64], *, full: bool = False, hint: str = ""
) -> None:
    """Print a kernel (or kernel gradient): see :func:`convcli.cli.weights.print_weights`."""
    from convcli.cli.weights import print_weights as print_all

    print_all(console, w, full=full, hint=hint)
