"""ImageMagick's named kernels against the weights ImageMagick 6.9 itself printed.

tests/data/imagemagick_kernels.txt is the output of, for each NAME:ARGS in it,
``convert xc: -define morphology:showKernel=1 -morphology Convolve:0 'NAME:ARGS' null:``
(ImageMagick 6.9.11-60 Q16), so CI needs no ImageMagick.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from convcli.errors import KernelError
from convcli.kernelspec import load_kernel

DATA = Path(__file__).parent / "data" / "imagemagick_kernels.txt"
# Disk:3.5 makes ImageMagick 6.9.11 build an even 8x8 disk with misplaced rows (its bug);
# FreiChen 3-9 print type 0 and FreiChen:10 a list of kernels: convcli refuses those.
SKIPPED = {"Disk:3.5", *(f"FreiChen:{n}" for n in range(3, 11))}


def imagemagick_blocks() -> dict[str, tuple[np.ndarray, tuple[int, int]]]:
    """spec -> (weights with nan as 0, anchor (row, col)) parsed from ImageMagick's printout."""
    blocks: dict[str, tuple[np.ndarray, tuple[int, int]]] = {}
    spec = None
    rows: list[list[float]] = []
    anchor = (0, 0)
    for line in [*DATA.read_text().splitlines(), "=== end"]:
        if line.startswith("==="):
            if spec is not None and rows:
                blocks[spec] = (np.nan_to_num(np.array(rows), nan=0.0), anchor)
            spec, rows = line[4:].strip(), []
            continue
        head = re.match(r'Kernel (?:#0 )?"[^"]*" of size (\d+)x(\d+)\+(\d+)\+(\d+)', line)
        if head:
            if rows:  # a second kernel of a list: keep the first only
                spec = None
            anchor = (int(head.group(4)), int(head.group(3)))
            continue
        row = re.match(r"\s*\d+:(.*)", line)
        if row and spec is not None:
            rows.append([float(v) for v in row.group(1).split()])
    return blocks


BLOCKS = imagemagick_blocks()


def test_the_reference_file_holds_every_kernel_name():
    names = {spec.partition(":")[0].lower() for spec in BLOCKS}
    assert names >= {
        "gaussian", "blur", "log", "dog", "laplacian", "sobel", "roberts", "prewitt",
        "compass", "kirsch", "freichen", "unity", "disk", "square", "diamond", "rectangle",
    }  # fmt: skip


@pytest.mark.parametrize("spec", sorted(set(BLOCKS) - SKIPPED))
def test_imagemagick_kernel_weights_and_anchor_match_imagemagick(spec):
    want, anchor = BLOCKS[spec]
    k = load_kernel(spec)
    if k.source != "ImageMagick kernel":  # a bare name convcli has too (roberts): convcli's wins
        assert ":" not in spec
        k = load_kernel(spec + ":0")
    assert k.source == "ImageMagick kernel"
    assert k.weights.shape == want.shape
    # ImageMagick prints 6 significant digits.
    np.testing.assert_allclose(k.effective_weights, want, rtol=2e-5, atol=1e-11)
    assert k.effective_anchor == anchor


@pytest.mark.parametrize("spec", ["gaussian:0x2", "GAUSSIAN:0x2", "sobel", "SOBEL:90", "disk:2"])
def test_imagemagick_names_are_case_insensitive(spec):
    canonical = {"gaussian": "Gaussian:0x2", "sobel": "Sobel", "disk": "Disk:2"}
    name = spec.partition(":")[0].lower()
    ref = "Sobel:90" if spec == "SOBEL:90" else canonical[name]
    np.testing.assert_allclose(
        load_kernel(spec).effective_weights, BLOCKS[ref][0], rtol=2e-5, atol=1e-11
    )


def test_convcli_presets_win_for_their_own_syntax():
    assert load_kernel("gaussian:sigma=2").source != "ImageMagick kernel"
    assert load_kernel("gaussian:2").source != "ImageMagick kernel"  # convcli's positional sigma
    assert load_kernel("laplacian").source != "ImageMagick kernel"
    assert load_kernel("Laplacian:0").source == "ImageMagick kernel"


def test_kernels_show_says_which_laplacian_was_taken(run_cli):
    code, out, err = run_cli("kernels", "show", "laplacian")
    assert code == 0, err
    assert "taken: convcli's preset 'laplacian'" in out and "Laplacian:N" in out
    code, out, err = run_cli("kernels", "show", "Laplacian:0")
    assert "taken:" not in out and "ImageMagick" in out


@pytest.mark.parametrize(
    ("spec", "token"),
    [("Gaussian:0xabc", "geometry"), ("Sobel:1,2,3,4,5", "geometry"), ("FreiChen:5", "FreiChen:0"),
     ("Rectangle:3x2+5+0", "outside"), ("Gaussian:5000x1", "4096")],
)  # fmt: skip
def test_bad_imagemagick_arguments_are_clear_errors(spec, token):
    with pytest.raises(KernelError, match=re.escape(token)):
        load_kernel(spec)


def test_imagemagick_kernel_via_cli_filter_and_show(tmp_path, run_cli):
    code, out, err = run_cli("kernels", "show", "Gaussian:0x2", "--json")
    assert code == 0, err
    import json

    doc = json.loads(out)
    np.testing.assert_allclose(doc["weights"], BLOCKS["Gaussian:0x2"][0], rtol=2e-5, atol=1e-11)


def test_even_imagemagick_string_without_anchor_explains_the_anchor():
    k = load_kernel("2x2: 1,0,0,-1")
    assert k.effective_anchor == (1, 1)  # convcli's k // 2
    assert "+0+0" in k.description and "k//2" in k.description
    assert load_kernel("2x2+0+0: 1,0,0,-1").effective_anchor == (0, 0)
