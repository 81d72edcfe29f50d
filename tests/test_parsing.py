"""The shared parsers of option texts (convcli.parsing)."""

from __future__ import annotations

import pytest

from convcli.errors import KernelError, OptionError
from convcli.parsing import int_pair, one_of, split_ints


@pytest.mark.parametrize(
    ("text", "want"),
    [("3", (3, 3)), ("2,3", (2, 3)), ("2X3", (2, 3)), (" 2 , 3 ", (2, 3)), ("+2", (2, 2))],
)
def test_int_pair_accepts(text, want):
    assert int_pair(text) == want


@pytest.mark.parametrize("text", ["0", "-1", "1,0", "a", "", "1,2,3", "1.5", "2x"])
def test_int_pair_refuses(text):
    assert int_pair(text) is None


def test_int_pair_minimum_zero():
    assert int_pair("0,2", minimum=0) == (0, 2)


def test_split_ints_digits_only_takes_plain_digits():
    assert split_ints("5x3", separators="x", digits_only=True) == [5, 3]
    for text in ("+5", " 5", "5,3", "5x", "-1"):
        assert split_ints(text, separators="x", digits_only=True) is None
    assert split_ints("0x0", separators="x", digits_only=True) == [0, 0]  # range is the caller's


def test_split_ints_sizes():
    assert split_ints("1x2x3", sizes=(3,)) == [1, 2, 3]
    assert split_ints("1x2", sizes=(3,)) is None


def test_one_of_folds_case_and_space():
    assert one_of(" Float64 ", ("float32", "float64"), "--precision") == "float64"


def test_one_of_message_names_the_option_value_and_choices():
    with pytest.raises(OptionError) as info:
        one_of("huber", ("mse", "l1"), "--loss")
    assert str(info.value) == "`--loss` must be one of mse, l1; got 'huber'"


def test_one_of_prefix_and_error_class():
    with pytest.raises(KernelError, match=r"^kernel 'k': `category` must be one of a, b; got 'c'$"):
        one_of("c", ("a", "b"), "category", where="kernel 'k': ", error=KernelError)


def test_one_of_without_folding_takes_the_value_as_given():
    assert one_of("keep", ("keep", "filter"), "alpha", fold=False) == "keep"
    with pytest.raises(OptionError, match="got ' Keep'"):
        one_of(" Keep", ("keep", "filter"), "alpha", fold=False)
