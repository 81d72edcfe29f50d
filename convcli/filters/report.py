"""What happened to one filtered image: :class:`FilterReport`."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["FilterReport"]


@dataclass
class FilterReport:
    """What happened to one image: shapes ``(H, W, C)`` (of each frame), time in seconds, notes."""

    input: str
    output: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    seconds: float
    notes: list[str] = field(default_factory=list)
    frames: int = 1
