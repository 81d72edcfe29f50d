"""Every frame of a multi-frame input filtered into an animation (``--all-frames``)."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
import numpy.typing as npt

from convcli.filters import FilterOptions, FilterReport, filter_array, map_values, prepare_kernels

if TYPE_CHECKING:
    from convcli.kernelspec import Kernel

__all__ = ["filter_frames"]


def filter_frames(
    input_name: str,
    output: str | Path | BinaryIO,
    kernels: Sequence[Kernel],
    opts: FilterOptions,
    *,
    quality: int | None,
    max_pixels: int | None,
    input_data: bytes | None,
    fmt: str | None,
    start: float,
) -> FilterReport:
    """Filter every frame and save an animation (see :func:`convcli.runner.filter_image`)."""
    from convcli.images import load_frames, save_animation

    animation = load_frames(input_name, max_pixels=max_pixels, data=input_data)
    chain = prepare_kernels(kernels, opts)
    outputs: list[npt.NDArray[np.generic]] = []
    out_shape: tuple[int, ...] = ()
    for img in animation.frames:
        y = filter_array(
            img.pixels, chain, has_alpha=img.has_alpha, max_value=img.max_value, options=opts
        )
        out_shape = tuple(int(v) for v in y.shape)
        outputs.append(
            map_values(
                y,
                max_value=img.max_value,
                abs_values=opts.abs,
                rescale=opts.rescale,
                has_alpha=img.has_alpha,
            )
        )
    notes = save_animation(
        output,
        outputs,
        durations=animation.durations,
        loop=animation.loop,
        fmt=fmt,
        quality=quality,
    )
    first = animation.frames[0]
    return FilterReport(
        input=input_name,
        output="<stdout>" if not isinstance(output, str | os.PathLike) else str(output),
        input_shape=tuple(int(v) for v in first.pixels.shape),
        output_shape=out_shape,
        seconds=time.perf_counter() - start,
        notes=notes,
        frames=len(outputs),
    )
