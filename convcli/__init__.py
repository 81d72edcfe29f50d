"""convcli: filter images with convolution kernels, explain shapes, compute gradients.

The public API (the stable names Python users rely on) is re-exported here and loaded lazily, so
``import convcli`` (and ``convcli --help``) does not pay for NumPy until a
function is used.  This module imports no typer, rich or Pillow.

Examples
--------
>>> import numpy as np, convcli
>>> convcli.correlate(np.ones((4, 4)), np.ones((3, 3)) / 9).shape
(4, 4)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "correlate": "convcli.engine",
    "convolve": "convcli.engine",
    "output_shape": "convcli.layers",
    "layer_shape": "convcli.layers",
    "Kernel": "convcli.kernelspec",
    "load_kernel": "convcli.kernelspec",
    "list_kernels": "convcli.kernelspec",
    "kernel_grad": "convcli.grad",
    "input_grad": "convcli.grad",
    "loss_and_grad": "convcli.grad",
    "fit_kernel": "convcli.grad",
    "load_image": "convcli.images",
    "save_image": "convcli.images",
    "filter_image": "convcli.runner",
    "ConvCliError": "convcli.errors",
}

__all__ = [
    "ConvCliError",
    "Kernel",
    "__version__",
    "convolve",
    "correlate",
    "filter_image",
    "fit_kernel",
    "input_grad",
    "kernel_grad",
    "layer_shape",
    "list_kernels",
    "load_image",
    "load_kernel",
    "loss_and_grad",
    "output_shape",
    "save_image",
]

if TYPE_CHECKING:
    from convcli.engine import convolve, correlate
    from convcli.errors import ConvCliError
    from convcli.grad import fit_kernel, input_grad, kernel_grad, loss_and_grad
    from convcli.images import load_image, save_image
    from convcli.kernelspec import Kernel, list_kernels, load_kernel
    from convcli.layers import layer_shape, output_shape
    from convcli.runner import filter_image


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        msg = f"module 'convcli' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
