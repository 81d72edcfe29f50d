"""Parsing of short option texts, shared by the command line and the library.

Two forms recur across convcli: an integer or a pair of them written ``N``,
``A,B`` or ``AxB`` (strides, dilations, kernel sizes, padding), and a word
that must be one of a few choices (losses, precisions, alpha modes...).
Stdlib only: the command line uses this before NumPy is imported.
"""

from __future__ import annotations

from collections.abc import Sequence

from convcli.errors import OptionError, UsageError

__all__ = ["int_pair", "one_of", "split_ints"]


def split_ints(
    text: str, *, separators: str = ",x", sizes: Sequence[int] = (1, 2), digits_only: bool = False
) -> list[int] | None:
    """Split ``text`` at any of ``separators`` into integers; None if it is not that form.

    Parameters
    ----------
    text : str
        Text such as ``"3"``, ``"2,3"`` or ``"5x3"`` (separators match either case).
    separators : str
        Characters that separate the values.
    sizes : sequence of int
        How many values are allowed.
    digits_only : bool
        Each part must be plain digits as written (``str.isdigit``: no sign, no
        spaces); otherwise parts are stripped and read with ``int()`` (so ``+2``
        and ``-1`` are integers, left to the caller's range check).

    Returns
    -------
    list of int or None
        The values, or None when a part is not an integer or the count is wrong.

    Examples
    --------
    >>> split_ints("2X3"), split_ints(" 2 , 3 "), split_ints("2x3x4"), split_ints("a")
    ([2, 3], [2, 3], None, None)
    >>> split_ints("5x3", separators="x", digits_only=True), split_ints("5,3", separators="x")
    ([5, 3], None)
    """
    normal = text.lower()
    for sep in separators[1:]:
        normal = normal.replace(sep, separators[0])
    parts = normal.split(separators[0])
    if digits_only:
        if not all(p.isdigit() for p in parts):
            return None
        values = [int(p) for p in parts]
    else:
        try:
            values = [int(p.strip()) for p in parts]
        except ValueError:
            return None
    return values if len(values) in sizes else None


def int_pair(text: str, *, minimum: int = 1, separators: str = ",x") -> tuple[int, int] | None:
    """Parse ``N`` (both axes) or ``A,B`` / ``AxB`` into a pair; None unless all >= ``minimum``.

    Examples
    --------
    >>> int_pair("2"), int_pair("2x3"), int_pair("0"), int_pair("0", minimum=0)
    ((2, 2), (2, 3), None, (0, 0))
    """
    values = split_ints(text, separators=separators)
    if values is None or min(values) < minimum:
        return None
    return (values[0], values[-1])


def one_of(
    value: str,
    choices: Sequence[str],
    name: str,
    *,
    where: str = "",
    error: type[UsageError] = OptionError,
    fold: bool = True,
) -> str:
    """Return ``value`` stripped and lower-cased if it is one of ``choices``, else raise.

    Parameters
    ----------
    value : str
        What the user gave.
    choices : sequence of str
        The allowed (lower-case) values, in the order the message lists them.
    name : str
        The parameter's name as the user writes it (``"--loss"``, ``"method"``).
    where : str
        Text put before the message (``"kernel 'x': "``).
    error : type
        The UsageError subclass raised.
    fold : bool
        Strip and lower-case ``value`` before looking it up; False takes it as given.

    Examples
    --------
    >>> one_of(" MSE", ("mse", "l1"), "--loss")
    'mse'
    >>> one_of("huber", ("mse", "l1"), "--loss")
    Traceback (most recent call last):
    convcli.errors.OptionError: `--loss` must be one of mse, l1; got 'huber'
    """
    key = str(value).strip().lower() if fold else value
    if key not in choices:
        msg = f"{where}`{name}` must be one of {', '.join(choices)}; got {value!r}"
        raise error(msg)
    return key
