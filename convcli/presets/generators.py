"""The kernel generators: names, parameters, defaults, categories and descriptions.

The one table both sides read: :mod:`convcli.kernelspec` builds the weights
(with NumPy) from these names, parameter orders, defaults and texts, and
``convcli kernels list`` lists each generator at its defaults from the same
entries without importing NumPy.  Only the shape and the sum of the weights
at the defaults are numbers NumPy computes; they are recorded here and
``tests/test_kernels.py`` checks them against the generators.

Examples
--------
>>> GENERATORS["motion"]
('length', 'angle')
>>> GENERATOR_SPECS["gaussian"].default_description()
'Gaussian blur, sigma=1, 7x7, normalized to sum 1'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

#: The ``source`` of a kernel a generator made.
GENERATOR_SOURCE = "builtin generator"


@dataclass(frozen=True, eq=False)
class GeneratorSpec:
    """What a generator is called, what it takes and how its kernels are described.

    Parameters
    ----------
    name : str
        The preset name that calls it (``gaussian``).
    params : tuple of str
        Its parameter names, in positional order.
    defaults : mapping of str to float
        The default of each parameter that has a fixed one; a missing
        ``size`` of the Gaussian-based generators is ``2*ceil(3*sigma)+1``.
    category : str
        The category of every kernel it makes.
    description : str
        Template of the one-line description, filled by :meth:`describe`.
    reference : str
        Where the weights come from (the formula).
    shape : tuple of int
        Shape of the weights at the defaults (computed with NumPy, checked by the tests).
    weight_sum : float
        Sum of the weights at the defaults, the float64 result of the
        generator on the project's machine (checked by the tests).
    """

    name: str
    params: tuple[str, ...]
    defaults: Mapping[str, float]
    category: str
    description: str
    reference: str
    shape: tuple[int, int]
    weight_sum: float

    def describe(self, *, width: int, height: int, **values: float) -> str:
        """Fill the description with the kernel's ``width`` and ``height`` and parameter values."""
        return self.description.format(width=width, height=height, **values)

    def parameters_text(self) -> str:
        """Its parameters in positional order with their defaults.

        Examples
        --------
        >>> GENERATOR_SPECS["gaussian"].parameters_text()
        'sigma=1, size=2*ceil(3*sigma)+1'
        """
        derived = "2*ceil(3*sigma)+1"
        return ", ".join(
            f"{p}={self.defaults[p]:g}" if p in self.defaults else f"{p}={derived}"
            for p in self.params
        )

    def default_description(self) -> str:
        """The description of the kernel made with the default parameters."""
        height, width = self.shape
        return self.describe(width=width, height=height, **self.defaults)


#: Every generator, by name (in the order error messages list them).
GENERATOR_SPECS: dict[str, GeneratorSpec] = {
    spec.name: spec
    for spec in (
        GeneratorSpec(
            name="box",
            params=("size",),
            defaults={"size": 3},
            category="blur",
            description="box (mean) blur, {height} high x {width} wide",
            reference="Uniform mean filter: every weight 1 / (width * height)",
            shape=(3, 3),
            weight_sum=1.0,
        ),
        GeneratorSpec(
            name="gaussian",
            params=("sigma", "size"),
            defaults={"sigma": 1.0},
            category="blur",
            description="Gaussian blur, sigma={sigma:g}, {width}x{height}, normalized to sum 1",
            reference=("Sampled 2-D Gaussian exp(-(x^2 + y^2) / (2 sigma^2)), normalized to sum 1"),
            shape=(7, 7),
            weight_sum=0.9999999999999999,
        ),
        GeneratorSpec(
            name="log",
            params=("sigma", "size"),
            defaults={"sigma": 1.4},
            category="edge",
            description=(
                "Laplacian of Gaussian, sigma={sigma:g}, {width}x{height}, zero-sum; "
                "negative centre (a bright spot gives a negative response)"
            ),
            reference=(
                "LoG(x, y) = -(1 - r^2 / (2 sigma^2)) exp(-r^2 / (2 sigma^2)) / (pi sigma^4), "
                "r^2 = x^2 + y^2, minus its mean so it sums to 0"
            ),
            shape=(11, 11),
            weight_sum=3.441494864694222e-17,
        ),
        GeneratorSpec(
            name="motion",
            params=("length", "angle"),
            defaults={"length": 9, "angle": 0.0},
            category="blur",
            description=(
                "motion blur along a {length}-pixel line at {angle:g} degrees "
                "(counter-clockwise from +x), normalized to sum 1"
            ),
            reference=(
                "Line of `length` samples one pixel apart through the centre, "
                "each spread bilinearly over the 4 nearest taps"
            ),
            shape=(1, 9),
            weight_sum=1.0,
        ),
        GeneratorSpec(
            name="unsharp",
            params=("sigma", "amount", "size"),
            defaults={"sigma": 1.0, "amount": 1.0},
            category="sharpen",
            description=(
                "unsharp mask, sigma={sigma:g}, amount={amount:g}, {width}x{height}; sums to 1"
            ),
            reference=(
                "identity + amount * (identity - gaussian(sigma)), Gaussian normalized to sum 1"
            ),
            shape=(7, 7),
            weight_sum=1.0000000000000002,
        ),
    )
}

#: Generator name -> parameter names (in positional order).
GENERATORS: dict[str, tuple[str, ...]] = {
    name: spec.params for name, spec in GENERATOR_SPECS.items()
}
