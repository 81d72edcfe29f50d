"""The engine's plan for each step of a chain, in words (``convcli filter --explain``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from convcli.filters.options import FilterOptions

if TYPE_CHECKING:
    from convcli.kernelspec import Kernel

__all__ = ["explain_chain"]


def explain_chain(
    image_shape: tuple[int, ...], kernels: Sequence[Kernel], options: FilterOptions
) -> list[str]:
    """The engine's plan for each step of a prepared chain, as one paragraph per step.

    Parameters
    ----------
    image_shape : (H, W, C)
        Shape of the image the chain starts from (colour channels only).
    kernels : sequence of Kernel
        The chain, prepared (see :func:`convcli.filters.prepare_kernels`).
    options : FilterOptions
        Geometry and precision.

    Returns
    -------
    list of str
        ``"step i (name): <plan explanation>"`` for each kernel of one repeat.
    """
    from convcli.engine import make_plan
    from convcli.layers import output_shape

    # A plan depends on the shape options only.  They are read as given rather
    # than through ``options.conv``, which would also check ``border``: a bad
    # border is reported by the filtering itself, after these lines are printed.
    dtype = options.working_dtype
    shape = tuple(image_shape)
    lines = []
    for i, k in enumerate(kernels, 1):
        plan = make_plan(
            shape,
            k.effective_weights,
            padding=options.padding,
            stride=options.stride,
            dilation=options.dilation,
            anchor=k.effective_anchor,
            dtype=dtype,
            threads=options.threads,
        )
        lines.append(f"step {i} ({k.label}): {plan}")
        shape = output_shape(
            shape,
            k.shape,
            padding=options.padding,
            stride=options.stride,
            dilation=options.dilation,
            anchor=k.effective_anchor,
        )
    return lines
