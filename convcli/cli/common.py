"""Helpers shared by the command modules: consoles, JSON output, option parsing."""

from __future__ import annotations

import json
import sys
from functools import cache
from typing import TYPE_CHECKING, Any

from convcli.errors import OptionError

if TYPE_CHECKING:
    from rich.console import Console


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


def emit_json(doc: Any) -> None:
    """Write one JSON document to stdout, and nothing else."""
    sys.stdout.write(json.dumps(doc, allow_nan=False) + "\n")
    sys.stdout.flush()


def parse_pair(text: str, name: str) -> tuple[int, int]:
    """Parse ``N`` or ``NH,NW`` (``x`` also accepted) into positive integers."""
    parts = [p.strip() for p in text.lower().replace("x", ",").split(",")]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or any(v < 1 for v in values):
        msg = f"`--{name}` must be a positive integer N or a pair NH,NW; got {text!r}"
        raise OptionError(msg)
    return (values[0], values[-1])


def check_choice(value: str, choices: tuple[str, ...], name: str) -> str:
    """Return ``value`` lower-cased if it is one of ``choices``, else raise OptionError."""
    v = value.strip().lower()
    if v not in choices:
        msg = f"`--{name}` must be one of {', '.join(choices)}; got {value!r}"
        raise OptionError(msg)
    return v


def shape_text(shape: tuple[int, ...] | list[int]) -> str:
    """``(384, 512, 3)`` -> ``384x512x3``."""
    return "x".join(str(v) for v in shape)
