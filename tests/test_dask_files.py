"""Huge images chunk by chunk (no cluster): .zarr and tiled TIFF in and out, equal to the whole.

The oracle is the whole-image path: :func:`convcli.filters.filter_and_map` on
the array read whole (what ``convcli filter`` does to an image it decodes).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

from convcli.dask import ChunkOptions, filter_chunked
from convcli.filters import FilterOptions, filter_and_map, prepare_kernels
from convcli.kernelspec import load_kernel
from tests.support import assert_clean_error

REPO = Path(__file__).resolve().parent.parent


def _zarr(path: Path, a: np.ndarray, chunks: tuple[int, ...]) -> str:
    z = zarr.create_array(str(path), shape=a.shape, chunks=chunks, dtype=a.dtype)
    z[:] = a
    return str(path)


def _whole(a: np.ndarray, specs: list[str], opts: FilterOptions) -> np.ndarray:
    x = a if a.ndim == 3 else a[:, :, None]
    chain = prepare_kernels([load_kernel(s) for s in specs], opts)
    has_alpha = x.shape[2] in (2, 4)
    max_value = 65535.0 if a.dtype == np.uint16 else 255.0
    y = filter_and_map(
        x, chain, has_alpha=has_alpha, max_value=max_value, options=opts, to_integer=True
    )
    return y[:, :, 0] if a.ndim == 2 and y.shape[2] == 1 else y


def _no_leftovers(folder: Path) -> None:
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []


CASES = {
    "sharpen": (["sharpen"], FilterOptions()),
    "chain-repeat-offset": (
        ["box:3", "sobel-x"],
        FilterOptions(repeat=2, offset=40.0, abs=True, border="wrap"),
    ),
    "stride-dilation-mirror": (["laplacian"], FilterOptions(stride=2, dilation=2, border="mirror")),
    "alpha-premultiply": (["gaussian:sigma=2"], FilterOptions(alpha="premultiply")),
    "alpha-filter-constant": (
        ["emboss"],
        FilterOptions(alpha="filter", border="constant", cval=90),
    ),
    "rescale-abs": (["sobel-y"], FilterOptions(rescale=True, abs=True)),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_zarr_to_zarr_and_tiff_equal_the_whole_image(tmp_path: Path, case: str) -> None:
    specs, opts = CASES[case]
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, size=(61, 47, 4)).astype(np.uint8)
    a[..., 3] = rng.integers(0, 256, size=(61, 47))  # uneven alpha
    src = _zarr(tmp_path / "in.zarr", a, (16, 16, 4))
    want = _whole(a, specs, opts)
    kernels = [load_kernel(s) for s in specs]
    chunking = ChunkOptions(chunks=(13, 20), tile=16)
    report = filter_chunked(src, str(tmp_path / "o.zarr"), kernels, options=opts, chunking=chunking)
    got = zarr.open_array(str(tmp_path / "o.zarr"), mode="r")[:]
    assert got.dtype == want.dtype == np.uint8
    np.testing.assert_array_equal(got, want)
    assert report.output_shape == want.shape
    filter_chunked(src, str(tmp_path / "o.tif"), kernels, options=opts, chunking=chunking)
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "o.tif"), want)
    _no_leftovers(tmp_path)


def test_tiled_bigtiff_in_and_out_with_compression(tmp_path: Path, run_cli) -> None:
    rng = np.random.default_rng(2)
    a = rng.integers(0, 65536, size=(70, 90)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "in.tif", a, tile=(32, 32), bigtiff=True, compression="zstd")
    for comp in ("deflate", "zstd", "lzw", "none"):
        out = tmp_path / f"o-{comp}.tif"
        code, _, err = run_cli(
            "filter", tmp_path / "in.tif", "-k", "gaussian:sigma=1.5", "-o", out,
            "--chunks", "24x40", "--tile", "32", "--compression", comp, "-q",
        )  # fmt: skip
        assert code == 0, err
        with tifffile.TiffFile(out) as tif:
            page = tif.pages[0]
            assert tif.is_bigtiff and page.is_tiled
            assert (page.tilelength, page.tilewidth) == (32, 32)
            assert page.compression.name.lower().startswith(comp if comp != "none" else "none")
            got = page.asarray()
        np.testing.assert_array_equal(got, _whole(a, ["gaussian:sigma=1.5"], FilterOptions()))


def test_ome_tiff_channels_first_and_float_zarr(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, size=(40, 30, 3)).astype(np.uint8)
    planar = np.moveaxis(a, -1, 0)  # (C, H, W) as microscopy files store it
    tifffile.imwrite(tmp_path / "in.ome.tif", planar, ome=True, metadata={"axes": "CYX"})
    kernels = [load_kernel("sharpen")]
    filter_chunked(str(tmp_path / "in.ome.tif"), str(tmp_path / "o.zarr"), kernels,
                   chunking=ChunkOptions(chunks=(16, 16)))  # fmt: skip
    got = zarr.open_array(str(tmp_path / "o.zarr"), mode="r")[:]
    np.testing.assert_array_equal(got, _whole(a, ["sharpen"], FilterOptions()))
    # float input keeps float values in a .zarr output (as .npy does)
    f = rng.normal(size=(33, 21)).astype(np.float32)
    src = _zarr(tmp_path / "f.zarr", f, (8, 8))
    filter_chunked(src, str(tmp_path / "fo.zarr"), kernels, chunking=ChunkOptions(chunks=(10, 10)))
    got = zarr.open_array(str(tmp_path / "fo.zarr"), mode="r")[:]
    chain = prepare_kernels(kernels, FilterOptions())
    want = filter_and_map(f[:, :, None], chain, has_alpha=False, max_value=255.0,
                          options=FilterOptions(), to_integer=False)[:, :, 0]  # fmt: skip
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-4)


def test_explain_prints_the_chunk_plan(tmp_path: Path, run_cli) -> None:
    a = np.zeros((100, 80, 3), np.uint8)
    src = _zarr(tmp_path / "in.zarr", a, (50, 50, 3))
    out = tmp_path / "o.zarr"
    code, _, err = run_cli("filter", src, "-k", "box:5", "-o", out, "--chunks", "32", "--explain")
    assert code == 0, err
    assert "in 32x32 chunks, a 4x3 grid (12 input chunks)" in err
    assert "box:5 reads 4 extra rows and 4 extra columns" in err
    assert "tasks:" in err and "MiB per task" in err


def test_failures_leave_no_partial_output(tmp_path: Path, run_cli) -> None:
    a = np.arange(64 * 64 * 3, dtype=np.uint32).reshape(64, 64, 3).astype(np.uint8)
    src = _zarr(tmp_path / "in.zarr", a, (16, 16, 3))
    chunk = next(
        p
        for p in (tmp_path / "in.zarr").rglob("*")
        if p.is_file() and p.parent.name == "0" and p.name == "0"
    )
    chunk.write_bytes(b"garbage, not a zstd frame")  # one unreadable chunk
    for out in ("o.zarr", "o.tif"):
        code, _, err = run_cli(
            "filter", src, "-k", "sharpen", "-o", tmp_path / out, "--chunks", "16"
        )
        assert_clean_error(code, err, 1, "failed")
        assert not (tmp_path / out).exists()
    _no_leftovers(tmp_path)
    # an existing result survives a failed run untouched
    good = _zarr(tmp_path / "good.zarr", a, (16, 16, 3))
    code, _, err = run_cli("filter", good, "-k", "box", "-o", tmp_path / "o.zarr", "-q")
    assert code == 0, err
    before = zarr.open_array(str(tmp_path / "o.zarr"), mode="r")[:]
    code, _, err = run_cli("filter", src, "-k", "sharpen", "-o", tmp_path / "o.zarr")
    assert code == 1
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "o.zarr"), mode="r")[:], before)
    _no_leftovers(tmp_path)


@pytest.mark.parametrize(
    ("args", "tokens"),
    [
        (["--chunks", "0"], ["--chunks"]),
        (["--compression", "jpeg"], ["compression"]),
        (["--tile", "40"], ["multiple of 16"]),
    ],
    ids=["chunks", "compression", "tile"],
)
def test_bad_scale_options_are_one_error_line(tmp_path: Path, run_cli, args, tokens) -> None:
    src = _zarr(tmp_path / "in.zarr", np.zeros((8, 8), np.uint8), (4, 4))
    code, _, err = run_cli("filter", src, "-k", "box", "-o", tmp_path / "o.tif", *args)
    assert_clean_error(code, err, 2, *tokens)
    assert not (tmp_path / "o.tif").exists()


def test_without_the_extra_exit_2_with_the_install_hint(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "for m in ('dask', 'distributed', 'zarr', 'tifffile'): sys.modules[m] = None\n"
        "from convcli.cli import run\n"
        "sys.exit(run(sys.argv[1:]))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    for extra in (["--scheduler", "local:2"], ["--chunks", "64"]):
        proc = subprocess.run(
            [sys.executable, "-c", code, "filter", "a.png", "-k", "box", "-o", "b.png", *extra],
            capture_output=True, text=True, env=env, cwd=tmp_path, check=False,
        )  # fmt: skip
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith("Error: ") and "Traceback" not in proc.stderr
        assert "pip install 'convcli[dask]'" in proc.stderr
