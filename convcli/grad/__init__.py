"""Gradients of a convolution: losses, ``dL/dw``, ``dL/dx``, a finite-difference check, fitting.

Public (re-exported here):

* :func:`kernel_grad`, :func:`input_grad`, :func:`loss_and_grad` and its
  :class:`GradResult` (:mod:`convcli.grad.gradients`, on the backward pass of
  :mod:`convcli.grad.backward`);
* :data:`LOSSES` and :func:`loss_value_and_grad` (:mod:`convcli.grad.losses`);
* :func:`check_gradients`, its :class:`GradCheck` and its default tolerance
  :data:`CHECK_RTOL` (:mod:`convcli.grad.check`);
* :func:`fit_kernel`, :data:`FIT_METHODS` and :class:`FitResult` (:mod:`convcli.grad.fit`);
* :func:`load_unit_image`, :func:`load_unit_colours`, :func:`unit_value`,
  :func:`save_input_grad` and :func:`save_kernel_grad`: images and gradients on disk in
  the [0, 1] units of the ``grad`` and ``fit`` commands (:mod:`convcli.grad.files`).

Everything else in the package's modules is internal.  The gradient
functions take the geometry options of :func:`convcli.correlate` as keyword
arguments and check them once, as one :class:`convcli.conv_options.ConvOptions`;
:func:`loss_and_grad_with`, :func:`check_gradients_with` and
:func:`fit_kernel_with` take that value itself (what the command line passes).
"""

from __future__ import annotations

from convcli.grad.check import CHECK_RTOL, GradCheck, check_gradients, check_gradients_with
from convcli.grad.files import (
    load_unit_colours,
    load_unit_image,
    save_input_grad,
    save_kernel_grad,
    unit_value,
)
from convcli.grad.fit import FIT_METHODS, FitResult, fit_kernel, fit_kernel_with
from convcli.grad.gradients import (
    GradResult,
    input_grad,
    kernel_grad,
    loss_and_grad,
    loss_and_grad_with,
)
from convcli.grad.losses import LOSSES, loss_value_and_grad

__all__ = [
    "CHECK_RTOL",
    "FIT_METHODS",
    "LOSSES",
    "FitResult",
    "GradCheck",
    "GradResult",
    "check_gradients",
    "check_gradients_with",
    "fit_kernel",
    "fit_kernel_with",
    "input_grad",
    "kernel_grad",
    "load_unit_colours",
    "load_unit_image",
    "loss_and_grad",
    "loss_and_grad_with",
    "loss_value_and_grad",
    "save_input_grad",
    "save_kernel_grad",
    "unit_value",
]
