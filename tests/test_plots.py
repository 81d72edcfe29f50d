"""``--plot FILE.png`` of ``kernels show``, ``grad`` and ``fit``: each PNG decoded and looked at.

matplotlib is in the ``test`` extra, so CI runs these; the colours checked are those of the
colour maps (RdBu_r ends: #053061 blue, #67001f red; matplotlib's default line #1f77b4).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.support import assert_clean_error

pytest.importorskip("matplotlib")  # a test dependency: CI has it

DARK_BLUE = (5, 48, 97)
DARK_RED = (103, 0, 31)
LINE_BLUE = (31, 119, 180)


def decode(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        assert im.format == "PNG"
        return np.asarray(im.convert("RGB")).astype(int)


def near(img: np.ndarray, colour: tuple[int, int, int], tol: int = 12) -> int:
    """How many pixels are within ``tol`` of ``colour`` in every channel."""
    return int((np.abs(img - np.array(colour)) <= tol).all(axis=2).sum())


def coloured_fraction(img: np.ndarray) -> float:
    """Share of pixels that are clearly not white or grey (a heat map's colour)."""
    spread = img.max(axis=2) - img.min(axis=2)
    return float((spread > 40).mean())


def test_kernels_show_plot_has_the_weights_and_the_frequency_response(
    run_cli: Callable[..., tuple[int, str, str]], tmp_path: Path
) -> None:
    out = tmp_path / "log.png"
    code, stdout, err = run_cli("kernels", "show", "log", "--plot", out)
    assert code == 0, err
    assert "log" in stdout and f"wrote {out}" in err
    img = decode(out)
    assert img.shape == (400, 920, 3)
    # LoG: the most negative weight (the centre) is the colour map's dark-blue end
    assert near(img[:, :460], DARK_BLUE) > 50
    # the frequency response (magma) is a ring: bright yellow-white pixels on the right
    right = img[:, 460:]
    assert ((right[:, :, 0] > 240) & (right[:, :, 1] > 200) & (right[:, :, 2] > 130)).sum() > 500


def test_a_huge_kernel_plots_quickly_as_block_means(
    run_cli: Callable[..., tuple[int, str, str]], tmp_path: Path
) -> None:
    out = tmp_path / "big.png"
    code, _, err = run_cli("kernels", "show", "gaussian:sigma=100", "--plot", out, "--json")
    assert code == 0, err
    assert decode(out).shape == (400, 920, 3)


def test_grad_plot_scales_dx_by_a_percentile_not_the_maximum() -> None:
    from convcli.plots import plot_grad

    rng = np.random.default_rng(3)
    gx = rng.normal(size=(60, 80, 1))
    gx[30, 40, 0] = 1e4  # one huge gradient (an edge) would flatten a max-scaled map
    gw = np.array([[1.0, -1.0], [0.5, -0.5]])
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "g.png"
        plot_grad(str(path), gw, gx)
        img = decode(path)
    left, right = img[:, :460], img[:, 460:]
    assert near(left, DARK_RED) > 100 and near(left, DARK_BLUE) > 100  # dL/dw: +1 and -1 ends
    # most of dL/dx is visibly coloured: with max scaling 99.99% of it would be white
    assert coloured_fraction(right) > 0.25


def test_grad_command_plot(run_cli: Callable[..., tuple[int, str, str]], tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    x, t = tmp_path / "x.npy", tmp_path / "t.npy"
    np.save(x, rng.random((20, 30)))
    np.save(t, rng.random((20, 30)))
    out = tmp_path / "grad.png"
    code, stdout, err = run_cli(
        "grad", x, "-k", "sobel-x", "--target", t, "--plot", out, "--json", "-q"
    )
    assert code == 0, err
    assert err == ""  # -q: no "wrote" note
    assert json.loads(stdout)["loss_name"] == "mse"
    img = decode(out)
    assert img.shape == (400, 920, 3)
    assert coloured_fraction(img[:, 460:]) > 0.1


def test_fit_plot_has_the_loss_curve(
    run_cli: Callable[..., tuple[int, str, str]], tmp_path: Path
) -> None:
    rng = np.random.default_rng(6)
    x = tmp_path / "x.npy"
    np.save(x, rng.random((16, 16)))
    out = tmp_path / "fit.png"
    code, _, err = run_cli(
        "fit", x, x, "--size", "3", "--method", "gd", "--steps", "30", "--plot", out, "-q"
    )
    assert code == 0, err
    assert err == ""  # -q: no progress bar and no loss line
    img = decode(out)
    assert near(img[:, :460], LINE_BLUE, tol=20) > 100  # the curve
    assert near(img[:, 460:], DARK_RED, tol=20) > 20  # the fitted kernel's centre is ~1


@pytest.mark.parametrize(
    "command", [["kernels", "show", "box"], ["fit", "x.npy", "x.npy", "--size", "3"]]
)
def test_plot_needs_a_png_name(
    run_cli: Callable[..., tuple[int, str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    command: list[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "x.npy", np.ones((8, 8)))
    code, out, err = run_cli(*command, "--plot", "k.jpg", "--json")
    assert_clean_error(code, err, 2, ".png")
    assert json.loads(out)["error"]["exit_code"] == 2
    assert not (tmp_path / "k.jpg").exists()


def test_plot_without_matplotlib_is_a_clear_error(
    run_cli: Callable[..., tuple[int, str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib fails
    code, _, err = run_cli("kernels", "show", "box", "--plot", tmp_path / "k.png")
    assert_clean_error(code, err, 2, "matplotlib", "convcli[plot]")
    assert not (tmp_path / "k.png").exists()
