"""The losses of the backward pass: their names, values, terms, slopes and ``dL/dy``."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from convcli.array_types import F64Array
from convcli.errors import ShapeError, UsageError
from convcli.parsing import one_of

__all__ = ["LOSSES", "loss_value_and_grad"]

#: Loss names accepted by :func:`loss_value_and_grad` (the ``--loss`` choices of ``convcli grad``).
LOSSES = ("mse", "sse", "l1", "sum")


def _check_loss(loss: str) -> str:
    return one_of(loss, LOSSES, "loss")


def _match_target(y: F64Array, target: npt.ArrayLike | None, loss: str) -> F64Array:
    """Return ``target`` as float64 shaped like ``y`` (a trailing axis of 1 may differ)."""
    if target is None:
        msg = f"loss {loss!r} needs a target; pass `target` (or use loss='sum')"
        raise UsageError(msg)
    t = np.asarray(target, dtype=np.float64)
    if t.shape != y.shape:
        if t.shape + (1,) == y.shape or t.shape == y.shape + (1,):
            t = t.reshape(y.shape)
        else:
            msg = (
                f"target has shape {t.shape} but the convolution output has shape {y.shape};"
                " they must be equal"
            )
            raise ShapeError(msg)
    return t


def _loss_terms(y: F64Array, t: F64Array | None, loss: str, n: int) -> tuple[F64Array, float]:
    """Per-output loss terms and the factor that turns their sum into the loss (``n`` outputs)."""
    if loss == "sum":
        return y, 1.0
    assert t is not None
    d = y - t
    if loss == "mse":
        return d * d, 1.0 / n
    if loss == "sse":
        return 0.5 * (d * d), 1.0
    return np.abs(d), 1.0 / n


def _loss_slope(y: F64Array, t: F64Array | None, loss: str, n: int) -> F64Array:
    """``|d loss / d y|`` per output (an upper bound on either side of an ``l1`` kink)."""
    if loss == "sum":
        return np.ones_like(y)
    if loss == "l1":
        return np.full_like(y, 1.0 / n)
    assert t is not None
    d = np.abs(y - t)
    return d * (2.0 / n) if loss == "mse" else d


def loss_value_and_grad(
    y: npt.ArrayLike, target: npt.ArrayLike | None, loss: str
) -> tuple[float, F64Array]:
    """Value of a loss and its gradient with respect to the output.

    ========  ===========================  ======================
    loss      value ``L``                  ``dL/dy``
    ========  ===========================  ======================
    ``mse``   ``mean((y - t)**2)``         ``2 (y - t) / N``
    ``sse``   ``sum((y - t)**2) / 2``      ``y - t``
    ``l1``    ``mean(|y - t|)``            ``sign(y - t) / N`` (0 where ``y == t``)
    ``sum``   ``sum(y)``                   ``1``
    ========  ===========================  ======================

    ``N`` is the number of values in ``y``.

    Parameters
    ----------
    y : ndarray, shape (H', W') or (H', W', C')
        Output of the convolution.
    target : ndarray, same shape as ``y``, or None
        Desired output.  Only ``sum`` accepts ``None`` (and ignores a target).
        A missing or extra trailing axis of length 1 is tolerated.
    loss : {"mse", "sse", "l1", "sum"}
        Loss name.

    Returns
    -------
    loss : float
        The loss value.
    grad : ndarray, shape of ``y``, float64
        ``dL/dy``.

    Raises
    ------
    OptionError
        Unknown loss name.
    UsageError
        No target for a loss that needs one.
    ShapeError
        Target and output shapes differ (both are named).

    Examples
    --------
    >>> value, grad = loss_value_and_grad([1.0, 2.0], [0.0, 2.0], "l1")
    >>> value, grad.tolist()
    (0.5, [0.5, 0.0])
    """
    name = _check_loss(loss)
    yy = np.asarray(y, dtype=np.float64)
    if name == "sum":
        return float(np.sum(yy)), np.ones_like(yy)
    t = _match_target(yy, target, name)
    d = yy - t
    n = d.size
    if name == "mse":
        return float(np.mean(d * d)), d * (2.0 / n)
    if name == "sse":
        return float(0.5 * np.sum(d * d)), d
    return float(np.mean(np.abs(d))), np.sign(d) / n
