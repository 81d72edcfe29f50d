"""The public gradients: ``dL/dw``, ``dL/dx``, and loss with both in one call.

Each function gathers its geometry keywords into one
:class:`convcli.conv_options.ConvOptions`, resolves the forward once (the image
is padded once, :mod:`convcli.grad.problem`) and runs the backward pass of
:mod:`convcli.grad.backward`.  Everything is float64 unless
``dtype=np.float32`` is asked for (benchmarks).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from convcli.array_types import F64Array, FloatArray
from convcli.conv_options import ConvOptions
from convcli.grad.backward import _input_grad_of, _kernel_grad_of
from convcli.grad.losses import _check_loss, loss_value_and_grad
from convcli.grad.problem import _problem
from convcli.shapes import PaddingSpec, Pair

__all__ = ["GradResult", "input_grad", "kernel_grad", "loss_and_grad", "loss_and_grad_with"]


def kernel_grad(
    x: npt.ArrayLike,
    w: npt.ArrayLike,
    grad_out: npt.ArrayLike,
    *,
    padding: PaddingSpec = "same",
    border: str = "reflect",
    cval: float = 0.0,
    stride: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
    flip: bool = False,
    anchor: Pair | None = None,
    dtype: npt.DTypeLike = np.float64,
    threads: int | None = None,
) -> F64Array:
    """Gradient of a loss with respect to the kernel, ``dL/dw``.

    ``dL/dw[o, c, p, q] = sum_{i,j} grad_out[i, j, o] * xpad[i*S + p*D, j*S + q*D, c]``

    Parameters
    ----------
    x : ndarray, shape (H, W) or (H, W, C)
        Input image of the forward pass (any real dtype, its own units).
    w : ndarray, shape (kh, kw), (C, kh, kw) or (O, C, kh, kw)
        Kernel of the forward pass, as given (before any flip).
    grad_out : ndarray, shape (H', W') or (H', W', C')
        ``dL/dy`` for the forward output ``y`` (its exact shape).
    padding, border, cval, stride, dilation, anchor, threads
        As for :func:`convcli.correlate`.
    flip : bool
        The forward was :func:`convcli.convolve` (kernel flipped).  The
        gradient is returned in the orientation of ``w`` as given.
    dtype : {float64, float32}
        Working precision (float64 by default; float32 for speed).

    Returns
    -------
    ndarray, shape of ``w``, float64
        For a 2-D (depthwise) kernel, the sum over channels of the per-channel
        gradients, since one kernel is shared by all channels.

    Raises
    ------
    ShapeError
        Kernel/image channel mismatch, empty output, or ``grad_out`` not of
        the forward output's shape.
    OptionError
        Invalid padding, border, stride, dilation or dtype.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(4.0).reshape(1, 4)
    >>> kernel_grad(x, [[0.0, 1.0, 0.0]], np.ones((1, 4)), border="constant")
    array([[3., 6., 6.]])
    """
    opts = ConvOptions(
        padding=padding,
        border=border,
        cval=cval,
        stride=stride,
        dilation=dilation,
        anchor=anchor,
        flip=flip,
    )
    prob = _problem(x, w, opts, dtype=dtype, threads=threads)
    return _kernel_grad_of(prob, prob.upstream(grad_out))


def input_grad(
    x: npt.ArrayLike,
    w: npt.ArrayLike,
    grad_out: npt.ArrayLike,
    *,
    padding: PaddingSpec = "same",
    border: str = "reflect",
    cval: float = 0.0,
    stride: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
    flip: bool = False,
    anchor: Pair | None = None,
    dtype: npt.DTypeLike = np.float64,
    threads: int | None = None,
) -> FloatArray:
    """Gradient of a loss with respect to the input image, ``dL/dx``.

    The full convolution of ``grad_out`` with the kernel, scattered into the
    padded frame and folded back through the border mode (padded cells give
    their gradient to the pixel they copy; with ``constant`` it is dropped).

    Parameters
    ----------
    x : ndarray, shape (H, W) or (H, W, C)
        Input image of the forward pass.
    w : ndarray, shape (kh, kw), (C, kh, kw) or (O, C, kh, kw)
        Kernel of the forward pass, as given.
    grad_out : ndarray, shape (H', W') or (H', W', C')
        ``dL/dy`` for the forward output ``y``.
    padding, border, cval, stride, dilation, flip, anchor, dtype, threads
        As for :func:`kernel_grad`.  ``cval`` does not change the result.

    Returns
    -------
    ndarray, shape of ``x``
        float64, or float32 when ``dtype=float32``.

    Raises
    ------
    ShapeError, OptionError
        As for :func:`kernel_grad`.

    Examples
    --------
    >>> import numpy as np
    >>> input_grad(np.zeros((1, 4)), [[1.0, 2.0, 3.0]], np.ones((1, 4)), border="constant")
    array([[3., 6., 6., 5.]])
    """
    opts = ConvOptions(
        padding=padding,
        border=border,
        cval=cval,
        stride=stride,
        dilation=dilation,
        anchor=anchor,
        flip=flip,
    )
    prob = _problem(x, w, opts, dtype=dtype, threads=threads)
    return _input_grad_of(prob, prob.upstream(grad_out))


@dataclass(frozen=True)
class GradResult:
    """Loss, forward output and gradients of one convolution.

    Attributes
    ----------
    loss : float
        Loss value.
    output : ndarray, shape (H', W') or (H', W', C')
        Forward output ``y`` (as :func:`convcli.correlate` returns it).
    kernel_grad : ndarray, shape of the kernel as given
        ``dL/dw``.
    input_grad : ndarray, shape of the input, or None
        ``dL/dx`` when asked for.
    loss_name : str
        Name of the loss.
    """

    loss: float
    output: FloatArray
    kernel_grad: F64Array
    input_grad: FloatArray | None
    loss_name: str = "mse"


def loss_and_grad(
    x: npt.ArrayLike,
    w: npt.ArrayLike,
    target: npt.ArrayLike | None = None,
    *,
    loss: str = "mse",
    padding: PaddingSpec = "same",
    border: str = "reflect",
    cval: float = 0.0,
    stride: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
    flip: bool = False,
    anchor: Pair | None = None,
    with_input_grad: bool = False,
    dtype: npt.DTypeLike = np.float64,
    threads: int | None = None,
) -> GradResult:
    """Forward convolution, loss and backward pass in one call (pads the image once).

    Parameters
    ----------
    x : ndarray, shape (H, W) or (H, W, C)
        Input image (the CLI passes it scaled to [0, 1]).
    w : ndarray, shape (kh, kw), (C, kh, kw) or (O, C, kh, kw)
        Kernel, as given.
    target : ndarray, shape of the forward output, optional
        Required except for ``loss="sum"``.
    loss : {"mse", "sse", "l1", "sum"}
        See :func:`loss_value_and_grad`.
    padding, border, cval, stride, dilation, flip, anchor, dtype, threads
        As for :func:`kernel_grad`.
    with_input_grad : bool
        Also compute ``dL/dx``.

    Returns
    -------
    GradResult

    Examples
    --------
    >>> import numpy as np
    >>> res = loss_and_grad(np.ones((3, 3)), np.ones((1, 1)), loss="sum")
    >>> res.loss, res.kernel_grad.tolist()
    (9.0, [[9.0]])
    """
    opts = ConvOptions(
        padding=padding,
        border=border,
        cval=cval,
        stride=stride,
        dilation=dilation,
        anchor=anchor,
        flip=flip,
    )
    return loss_and_grad_with(
        x, w, target, opts, loss=loss, with_input_grad=with_input_grad, dtype=dtype, threads=threads
    )


def loss_and_grad_with(
    x: npt.ArrayLike,
    w: npt.ArrayLike,
    target: npt.ArrayLike | None,
    opts: ConvOptions,
    *,
    loss: str = "mse",
    with_input_grad: bool = False,
    dtype: npt.DTypeLike = np.float64,
    threads: int | None = None,
    progress: Callable[[str, float], object] | None = None,
) -> GradResult:
    """:func:`loss_and_grad` with the geometry options as one :class:`ConvOptions`.

    ``progress(stage, fraction)``, if given, hears of each pass as it starts.
    """

    def tell(stage: str, fraction: float) -> None:
        if progress is not None:
            progress(stage, fraction)

    name = _check_loss(loss)
    tell("forward pass", 0.0)
    prob = _problem(x, w, opts, dtype=dtype, threads=threads)
    y = prob.shaped(prob.forward())
    value, g = loss_value_and_grad(y, target, name)
    g3 = prob.upstream(g)
    tell("kernel gradient", 1 / 3)
    gk = _kernel_grad_of(prob, g3)
    tell("input gradient", 2 / 3)
    gx = _input_grad_of(prob, g3) if with_input_grad else None
    tell("gradients", 1.0)
    return GradResult(loss=value, output=y, kernel_grad=gk, input_grad=gx, loss_name=name)
