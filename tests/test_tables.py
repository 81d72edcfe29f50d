"""What a person sees in a terminal: tables at 60, 80 and 120 columns, kernels shown bounded.

Every table the commands print is rendered at each width: no line is wider than the
terminal, every column keeps at least its header, one line per row.  Weights printed are
read back and compared with weights computed here from the formula (not by convcli).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from convcli.presets import list_presets

WIDTHS = (60, 80, 120)
HEADERS = ("name", "category", "shape", "sum", "source", "description")
CARD = Path(__file__).resolve().parent.parent / "samples" / "card.png"
NUMBER = re.compile(r"^-?\d+(\.\d+)?(e[+-]\d+)?$")


def gaussian(sigma: float) -> np.ndarray:
    """The sampled, normalized Gaussian of the generator's formula (size 2*ceil(3*sigma)+1)."""
    r = math.ceil(3 * sigma)
    x = np.arange(-r, r + 1, dtype=np.float64)
    g = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * sigma**2))
    return g / g.sum()


@pytest.fixture
def at_width(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., tuple[int, str, str]]]:
    """``at_width(width, *args)``: run the CLI in-process with consoles ``width`` columns wide."""
    from convcli.cli import output, run

    def invoke(width: int, *args: object) -> tuple[int, str, str]:
        monkeypatch.setenv("COLUMNS", str(width))
        output.out_console.cache_clear()
        output.err_console.cache_clear()
        code = run([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    yield invoke
    output.out_console.cache_clear()
    output.err_console.cache_clear()


def assert_fits(text: str, width: int) -> None:
    too_wide = [ln for ln in text.splitlines() if len(ln) > width]
    assert too_wide == [], f"{len(too_wide)} lines wider than {width}: {too_wide[:2]}"


def numbers(line: str) -> list[float]:
    return [float(tok) for tok in line.split() if NUMBER.match(tok)]


@pytest.mark.parametrize("width", WIDTHS)
def test_kernels_table_fits_with_one_line_per_kernel(
    at_width: Callable[..., tuple[int, str, str]], width: int
) -> None:
    code, out, _ = at_width(width, "kernels")
    assert code == 0
    assert_fits(out, width)
    lines = out.splitlines()
    header = next(ln for ln in lines if ln.startswith("name"))
    assert header.split() == list(HEADERS)  # every header whole, none cut or wrapped
    presets = list_presets()
    body = lines[lines.index(header) + 2 :]
    rows = [ln for ln in body if ln.strip()]
    assert len(rows) == len(presets)  # one line per kernel: nothing wraps
    for row, p in zip(rows, presets, strict=True):
        first = row.split()[0]
        assert first == p.name or (first.endswith("…") and p.name.startswith(first[:-1]))
        assert p.category in row.split()
    if width >= 80:
        assert all(row.split()[0] == p.name for row, p in zip(rows, presets, strict=True))


def test_kernels_table_at_80_columns_is_short(
    at_width: Callable[..., tuple[int, str, str]],
) -> None:
    _, out, _ = at_width(80, "kernels")
    assert len(out.splitlines()) <= len(list_presets()) + 4  # was ~1,090 lines


def weight_rows(out: str, n: int) -> list[list[float]]:
    """The ``n`` lines that are all numbers (the weight table)."""
    rows = [numbers(ln) for ln in out.splitlines()]
    rows = [
        r for r, ln in zip(rows, out.splitlines(), strict=True) if r and len(r) == len(ln.split())
    ]
    assert len(rows) >= n, out
    return rows[:n]


@pytest.mark.parametrize("width", WIDTHS)
def test_a_7x7_kernel_is_a_table_that_fits(
    at_width: Callable[..., tuple[int, str, str]], width: int
) -> None:
    code, out, _ = at_width(width, "kernels", "show", "gaussian")
    assert code == 0
    assert_fits(out, width)
    got = np.array(weight_rows(out, 7))
    # at least 4 significant digits from 80 columns on, 3 at 60
    np.testing.assert_allclose(got, gaussian(1.0), rtol=1e-3 if width >= 80 else 5e-3)


@pytest.mark.parametrize("width", WIDTHS)
def test_a_31x31_kernel_is_summarised_and_fits(
    at_width: Callable[..., tuple[int, str, str]], width: int
) -> None:
    code, out, _ = at_width(width, "kernels", "show", "gaussian:sigma=5")
    assert code == 0
    assert_fits(out, width)
    assert "31x31 weights, summarised" in out and "--full" in out
    want = gaussian(5.0)
    m = re.search(r"centre: rows (\d+)\.\.(\d+), columns (\d+)\.\.(\d+)", out)
    assert m is not None
    r0, r1, c0, c1 = (int(v) for v in m.groups())
    assert r0 <= 15 <= r1 and c0 <= 15 <= c1  # the centre is in the window
    lines = out.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("centre:")) + 2
    for i, row in enumerate(range(r0, r1 + 1)):
        vals = numbers(lines[start + i])
        assert vals[0] == row
        np.testing.assert_allclose(vals[1:], want[row, c0 : c1 + 1], rtol=5e-3)
    # block means, each checked against the mean of its block computed here
    b = next(i for i, ln in enumerate(lines) if ln.startswith("block means"))
    cols = [int(v) for v in lines[b + 1].split()]
    edges_c = [*cols, 31]
    rows = [numbers(ln) for ln in lines[b + 2 :] if numbers(ln)]
    edges_r = [int(r[0]) for r in rows] + [31]
    for i, r in enumerate(rows):
        for j, v in enumerate(r[1:]):
            block = want[edges_r[i] : edges_r[i + 1], edges_c[j] : edges_c[j + 1]]
            assert v == pytest.approx(block.mean(), rel=5e-3)
    assert len(out) < 3000


def test_a_huge_kernel_prints_a_small_summary_and_full_prints_every_weight(
    at_width: Callable[..., tuple[int, str, str]],
) -> None:
    code, out, _ = at_width(80, "kernels", "show", "gaussian:sigma=40")
    assert code == 0 and len(out) < 3000  # 241x241: the summary only
    code, full, _ = at_width(80, "kernels", "show", "gaussian:sigma=40", "--full")
    assert code == 0
    rows = [numbers(ln) for ln in full.splitlines() if len(numbers(ln)) == 241]
    assert len(rows) == 241
    np.testing.assert_allclose(np.array(rows), gaussian(40.0), rtol=1e-5)


@pytest.mark.parametrize("width", WIDTHS)
def test_slices_of_a_4d_kernel_fit(
    at_width: Callable[..., tuple[int, str, str]], width: int
) -> None:
    code, out, _ = at_width(width, "kernels", "show", "sepia")
    assert code == 0
    assert_fits(out, width)
    sepia = [[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]]  # MSDN 2005
    np.testing.assert_allclose(weight_rows(out, 3), sepia)
    code, out, _ = at_width(width, "kernels", "show", "box:3", "--scale", "9")
    assert code == 0
    assert_fits(out, width)
    np.testing.assert_allclose(weight_rows(out, 3), np.ones((3, 3)))


@pytest.mark.parametrize("width", WIDTHS)
def test_grad_and_fit_tables_fit(
    at_width: Callable[..., tuple[int, str, str]], tmp_path: Path, width: int
) -> None:
    small = tmp_path / "small.npy"
    np.save(small, np.random.default_rng(7).random((24, 24)))
    code, out, err = at_width(width, "grad", small, "-k", "gaussian", "--loss", "sum")
    assert code == 0, err
    assert_fits(out, width)
    assert len(weight_rows(out, 7)) == 7
    code, out, err = at_width(width, "fit", small, small, "--size", "7")
    assert code == 0, err
    assert_fits(out, width)
    got = np.array(weight_rows(out, 7))
    want = np.zeros((7, 7))
    want[3, 3] = 1.0  # the identity maps an image onto itself
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_long_inline_kernels_are_abbreviated_in_per_image_and_explain_lines(
    run_cli: Callable[..., tuple[int, str, str]], tmp_path: Path
) -> None:
    spec = "; ".join([", ".join(["1"] * 31)] * 31)  # 31x31 inline, 2,881 characters
    code, _, err = run_cli(
        "filter", CARD, "-k", spec, "--normalize", "-o", tmp_path / "o.png", "--explain"
    )
    assert code == 0, err
    assert spec[:60] not in err  # at most the first 30 characters of the spec
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert sum("(31x31, 2881 chars)" in ln for ln in lines) >= 2  # the plan and the done line
