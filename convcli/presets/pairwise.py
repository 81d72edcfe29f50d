"""The sum of a kernel's weights, added in the order NumPy adds them.

``kernels list`` shows each preset's sum without NumPy; summing in NumPy's
order gives the float ``float(kernel.effective_weights.sum())`` would give,
bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence

# numpy's float64 sum adds blocks of up to 128 values with 8 running sums
_PAIRWISE_BLOCK = 128
_UNROLL = 8


def _pairwise_sum(values: Sequence[float], start: int, n: int) -> float:
    """Sum ``values[start:start + n]`` in the order numpy's float64 ``add.reduce`` uses."""
    if n < _UNROLL:
        total = 0.0
        for v in values[start : start + n]:
            total += v
        return total
    if n <= _PAIRWISE_BLOCK:
        acc = list(values[start : start + _UNROLL])
        stop = start + n - n % _UNROLL
        for i in range(start + _UNROLL, stop, _UNROLL):
            for j in range(_UNROLL):
                acc[j] += values[i + j]
        total = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
        for v in values[stop : start + n]:
            total += v
        return total
    half = n // 2
    half -= half % _UNROLL
    return _pairwise_sum(values, start, half) + _pairwise_sum(values, start + half, n - half)


def weight_sum(values: Sequence[float], scale: float = 1.0) -> float:
    """Sum ``values * scale`` exactly as NumPy sums a contiguous float64 array.

    NumPy adds with pairwise summation (blocks of 8 running sums), which can
    differ in the last bits from a left-to-right sum; following the same order
    gives the same float as ``float((np.asarray(values) * scale).sum())``.

    Parameters
    ----------
    values : sequence of float
        The weights, flattened in row-major order.
    scale : float
        Multiplier applied to every value before summing.

    Returns
    -------
    float

    Examples
    --------
    >>> weight_sum([0.1] * 10)
    1.0
    >>> sum([0.1] * 10)
    0.9999999999999999
    >>> weight_sum([1, 2, 1], scale=0.25)
    1.0
    """
    scaled = [float(v) * scale for v in values]
    return 0.0 + _pairwise_sum(scaled, 0, len(scaled))
