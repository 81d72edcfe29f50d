"""Array type aliases shared by the library (one definition each)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

#: A float array of either working precision (float32 or float64).
FloatArray = npt.NDArray[np.floating[Any]]
#: A float64 array (kernels, gradients, anything computed in double precision).
F64Array = npt.NDArray[np.float64]

__all__ = ["F64Array", "FloatArray"]
