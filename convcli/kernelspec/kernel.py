"""The :class:`Kernel` value: weights, scale, offset, anchor and metadata.

A kernel is immutable; :meth:`Kernel.transformed` returns the kernel with
``--normalize``, ``--scale`` and ``--convolve`` applied, and
:meth:`Kernel.to_toml` writes it in the preset file format.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from convcli.array_types import F64Array
from convcli.errors import KernelError
from convcli.parsing import one_of
from convcli.presets import CATEGORIES, check_anchor, check_size, finite_float, position

# |sum of the weights| below this counts as 0: such a kernel cannot be normalized
_ZERO_SUM = 1e-12


@dataclass(frozen=True, eq=False)
class Kernel:
    """A convolution kernel with the metadata needed to apply and describe it.

    Instances are immutable: ``weights`` is a read-only float64 copy.

    Parameters
    ----------
    name : str
        Preset name, file name, or the inline spec text.
    weights : ndarray, shape (kh, kw), (C, kh, kw) or (O, C, kh, kw)
        The weights as written (correlation orientation), before ``scale``.
    scale : float
        Multiplier applied to ``weights`` when the kernel is used.
    offset : float
        Added to every output value, in image units (0..255 for 8-bit).
    category : str
        One of :data:`CATEGORIES`.
    description : str
        One-line, human-readable summary.
    source : str
        Where it comes from: ``"builtin"``, ``"builtin generator"``,
        ``"user:<dir>"``, ``"file:<path>"`` or ``"inline"``.
    anchor : tuple of int or None
        ``(row, col)`` of the tap that lands on the output pixel for ``same``
        padding; ``None`` means ``(kh // 2, kw // 2)``.
    reference : str
        Where the weights come from (paper, library, formula).

    Raises
    ------
    KernelError
        If the weights are not a non-empty, finite, real 2-D to 4-D array
        within :data:`MAX_KERNEL_SIDE` / :data:`MAX_KERNEL_TAPS`, if ``scale``
        or ``offset`` is not finite, if ``anchor`` lies outside the kernel, or
        if ``category`` is unknown.

    Examples
    --------
    >>> import numpy as np
    >>> k = Kernel("avg", np.ones((3, 3)), scale=1 / 9, category="blur")
    >>> k.shape, k.effective_anchor
    ((3, 3), (1, 1))
    >>> float(k.effective_weights.sum())
    1.0
    """

    name: str
    weights: F64Array
    scale: float = 1.0
    offset: float = 0.0
    category: str = "other"
    description: str = ""
    source: str = ""
    anchor: tuple[int, int] | None = None
    reference: str = ""

    def __post_init__(self) -> None:
        label = f"kernel {self.name!r}"
        weights = _as_weights(self.weights, label)
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "scale", finite_float(self.scale, f"{label}: `scale`"))
        object.__setattr__(self, "offset", finite_float(self.offset, f"{label}: `offset`"))
        one_of(
            self.category, CATEGORIES, "category", where=f"{label}: ", error=KernelError, fold=False
        )
        if self.anchor is not None:
            object.__setattr__(self, "anchor", check_anchor(self.anchor, weights.shape, label))

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of ``weights``: ``(kh, kw)``, ``(C, kh, kw)`` or ``(O, C, kh, kw)``."""
        return tuple(int(n) for n in self.weights.shape)

    @property
    def label(self) -> str:
        """``name``, shortened to 40 characters for one-line reports (a long inline matrix).

        Examples
        --------
        >>> import numpy as np
        >>> Kernel("; ".join(["1, 1, 1"] * 9), np.ones((9, 3))).label
        '1, 1, 1; 1, 1, 1; 1, 1, 1; 1,… (9x3, 79 chars)'
        """
        if len(self.name) <= 40:
            return self.name
        shape = "x".join(str(n) for n in self.shape)
        return f"{self.name[:30].rstrip()}… ({shape}, {len(self.name)} chars)"

    @property
    def effective_weights(self) -> F64Array:
        """The weights as applied: ``weights * scale`` (a new float64 array)."""
        return np.multiply(self.weights, self.scale, dtype=np.float64)

    @property
    def effective_anchor(self) -> tuple[int, int]:
        """``anchor``, or ``(kh // 2, kw // 2)`` when it is ``None``."""
        if self.anchor is not None:
            return self.anchor
        kh, kw = self.weights.shape[-2:]
        return (int(kh) // 2, int(kw) // 2)

    def transformed(
        self, *, normalize: bool = False, scale: float = 1.0, flip: bool = False
    ) -> Kernel:
        """Return the kernel with options applied, its ``scale`` folded into the weights.

        Parameters
        ----------
        normalize : bool
            Divide the effective weights by their sum; a 4-D kernel divides
            each output channel by its own sum.
        scale : float
            Multiply the (normalized) weights by this.
        flip : bool
            Reverse the last two axes (true convolution instead of
            correlation).  The anchor moves to ``(kh-1-ay, kw-1-ax)``, which
            for an even side differs from the default ``k // 2`` (as
            ``scipy.ndimage.convolve`` does).

        Returns
        -------
        Kernel
            A new kernel with ``scale == 1.0``, whose ``weights`` (equal to its
            ``effective_weights``) are what gets applied.  Other fields are
            kept.

        Raises
        ------
        KernelError
            If ``normalize`` is set and a sum is 0 (absolute value below
            1e-12), or if ``scale`` is not finite.

        Examples
        --------
        >>> from convcli.kernelspec import load_kernel
        >>> k = load_kernel("1, 2, 1").transformed(normalize=True, flip=True)
        >>> k.weights.tolist(), k.scale
        ([[0.25, 0.5, 0.25]], 1.0)
        """
        factor = finite_float(scale, "`scale`")
        w = self.effective_weights
        if normalize:
            if w.ndim == 4:
                sums = w.sum(axis=(1, 2, 3))
                bad = np.flatnonzero(np.abs(sums) < _ZERO_SUM)
                if bad.size:
                    msg = (
                        f"cannot normalize kernel {self.name!r}: the weights of output "
                        f"channel {int(bad[0])} sum to 0"
                    )
                    raise KernelError(msg)
                w = w / sums[:, None, None, None]
            else:
                w = w / _normalizing_total(w, self.name)
        w = w * factor
        anchor = self.anchor
        if flip:
            w = w[..., ::-1, ::-1]
            kh, kw = w.shape[-2:]
            ay, ax = self.effective_anchor
            moved = (int(kh) - 1 - ay, int(kw) - 1 - ax)
            anchor = None if moved == (int(kh) // 2, int(kw) // 2) else moved
        return Kernel(
            name=self.name,
            weights=np.ascontiguousarray(w),
            scale=1.0,
            offset=self.offset,
            category=self.category,
            description=self.description,
            source=self.source,
            anchor=anchor,
            reference=self.reference,
        )

    def applied_scale(self, *, normalize: bool = False, scale: float = 1.0) -> float:
        """Return the factor :meth:`transformed` applies to the weights as written.

        That is the kernel's ``scale`` times ``scale``, divided by the sum of
        the effective weights for ``normalize``.  A 4-D kernel is normalized
        per output channel, which no single factor says, so for it
        ``normalize`` is left out of the factor.

        Parameters
        ----------
        normalize : bool
            Include the division by the sum (as ``transformed(normalize=True)``).
        scale : float
            The extra multiplier (as ``transformed(scale=...)``).

        Returns
        -------
        float

        Raises
        ------
        KernelError
            If ``scale`` is not finite, or ``normalize`` is set and the
            weights sum to 0 (absolute value below 1e-12).

        Examples
        --------
        >>> Kernel("avg", np.ones((3, 3)), scale=0.5).applied_scale(normalize=True, scale=3.0)
        0.3333333333333333
        """
        factor = self.scale * finite_float(scale, "`scale`")
        if normalize and self.weights.ndim < 4:
            factor /= _normalizing_total(self.effective_weights, self.name)
        return factor

    def to_toml(self) -> str:
        """Return the kernel in the preset TOML format (that of the built-in preset files).

        The text loads back with :func:`~convcli.kernelspec.load_kernel` (given a ``.toml`` path)
        to an equal kernel, apart from ``source``.

        Returns
        -------
        str
            TOML text with ``name``, ``category``, ``description``,
            ``reference`` (if set), ``weights``, ``scale``, ``offset`` and
            ``anchor`` (if set).

        Examples
        --------
        >>> from convcli.kernelspec import load_kernel
        >>> print(load_kernel("1,2; 3,4").to_toml())
        name = "1,2; 3,4"
        category = "other"
        description = "inline matrix"
        weights = [
          [1, 2],
          [3, 4],
        ]
        scale = 1.0
        offset = 0.0
        <BLANKLINE>
        """
        lines = [
            f"name = {_toml_string(self.name)}",
            f"category = {_toml_string(self.category)}",
            f"description = {_toml_string(self.description)}",
        ]
        if self.reference:
            lines.append(f"reference = {_toml_string(self.reference)}")
        lines.append(f"weights = {_toml_array(self.weights, 0)}")
        lines.append(f"scale = {_toml_float(self.scale)}")
        lines.append(f"offset = {_toml_float(self.offset)}")
        if self.anchor is not None:
            lines.append(f"anchor = [{self.anchor[0]}, {self.anchor[1]}]")
        return "\n".join(lines) + "\n"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Kernel):
            return NotImplemented
        return self._key() == other._key() and bool(np.array_equal(self.weights, other.weights))

    def __hash__(self) -> int:
        return hash((self._key(), self.weights.tobytes()))

    def __repr__(self) -> str:
        return (
            f"Kernel(name={self.name!r}, shape={self.shape}, scale={self.scale!r}, "
            f"offset={self.offset!r}, category={self.category!r}, source={self.source!r}, "
            f"anchor={self.anchor!r})"
        )

    def _key(self) -> tuple[Any, ...]:
        return (
            self.name,
            self.shape,
            self.scale,
            self.offset,
            self.category,
            self.description,
            self.source,
            self.anchor,
            self.reference,
        )


# --------------------------------------------------------------------------- validation


def _normalizing_total(w: F64Array, name: str) -> float:
    """The sum of a 2-D or 3-D kernel's effective weights ``w``; refuse a sum of 0."""
    total = float(w.sum())
    if abs(total) < _ZERO_SUM:
        msg = (
            f"cannot normalize kernel {name!r}: its weights sum to 0 "
            "(edge and emboss kernels usually do); drop normalize"
        )
        raise KernelError(msg)
    return total


def _as_weights(value: Any, label: str) -> F64Array:
    """Validate kernel weights and return a read-only float64 copy."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "iuf":
        msg = f"{label}: weights must be real numbers; got an array of dtype {arr.dtype}"
        raise KernelError(msg)
    if arr.ndim not in (2, 3, 4):
        msg = (
            f"{label}: weights must be a 2-D (kh, kw), 3-D (C, kh, kw) or 4-D (O, C, kh, kw) "
            f"array; got {arr.ndim}-D with shape {arr.shape}"
        )
        raise KernelError(msg)
    check_size(tuple(int(n) for n in arr.shape), label)
    out = np.array(arr, dtype=np.float64, copy=True, order="C")
    finite = np.isfinite(out)
    if not finite.all():
        index = tuple(int(i) for i in np.argwhere(~finite)[0])
        msg = f"{label}: {position(index)} is {out[index]!r}; weights must be finite numbers"
        raise KernelError(msg)
    out.setflags(write=False)
    return out


# --------------------------------------------------------------------------- TOML writing


def _toml_string(text: str) -> str:
    """Quote text as a TOML basic string."""
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _toml_float(value: float) -> str:
    """Format a finite float so that TOML reads back the same value."""
    return repr(float(value))


def _toml_number(value: float) -> str:
    """Format a weight: integers without a fraction, others as exact floats."""
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def _toml_array(arr: F64Array, depth: int) -> str:
    """Format an N-D array as a nested TOML array, innermost rows on one line."""
    if arr.ndim == 1:
        return "[" + ", ".join(_toml_number(float(v)) for v in arr) + "]"
    indent = "  " * (depth + 1)
    inner = [f"{indent}{_toml_array(sub, depth + 1)}," for sub in arr]
    return "[\n" + "\n".join(inner) + "\n" + "  " * depth + "]"
