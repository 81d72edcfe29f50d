"""The gradient package's files: [0, 1] image loading and saving the gradients."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from convcli.errors import OptionError
from convcli.grad import load_unit_image, save_input_grad, save_kernel_grad, unit_value


def test_load_unit_image_scales_8_bit_by_255(tmp_path):
    px = np.array([[0, 51, 255]], dtype=np.uint8)
    Image.fromarray(px).save(tmp_path / "g.png")
    x, full = load_unit_image(str(tmp_path / "g.png"), None)
    assert full == 255.0
    assert x.dtype == np.float64
    assert x.shape == (1, 3, 1)
    np.testing.assert_array_equal(x[0, :, 0], [0.0, 0.2, 1.0])


def test_load_unit_image_scales_16_bit_by_65535(tmp_path):
    px = np.array([[0, 65535, 13107]], dtype=np.uint16)
    np.save(tmp_path / "g.npy", px)
    x, full = load_unit_image(str(tmp_path / "g.npy"), None)
    assert full == 65535.0
    np.testing.assert_array_equal(x[0, :, 0], [0.0, 1.0, 0.2])


def test_unit_value_uses_the_image_scale():
    assert unit_value(51.0, 255.0) == 0.2
    assert unit_value(65535.0, 65535.0) == 1.0


def test_save_input_grad_image_puts_zero_at_mid_grey(tmp_path):
    gx = np.array([[[-2.0], [0.0], [2.0], [1.0]]])
    save_input_grad(tmp_path / "dx.png", gx)
    got = np.asarray(Image.open(tmp_path / "dx.png"))
    assert got.tolist() == [[0, 128, 255, 191]]


def test_save_input_grad_npy_is_raw(tmp_path):
    gx = np.random.default_rng(0).normal(size=(3, 4, 2))
    save_input_grad(tmp_path / "dx.npy", gx)
    np.testing.assert_array_equal(np.load(tmp_path / "dx.npy"), gx)


def test_save_input_grad_image_needs_one_or_three_channels(tmp_path):
    with pytest.raises(OptionError, match="2 channels can only be saved as .npy"):
        save_input_grad(tmp_path / "dx.png", np.zeros((2, 2, 2)))
    assert not (tmp_path / "dx.png").exists()


@pytest.mark.parametrize("suffix", [".npy", ".json", ".JSON"])
def test_save_kernel_grad_round_trips(tmp_path, suffix):
    gk = np.array([[0.1, -2.5], [3.0, 1e-17]])
    path = tmp_path / f"dw{suffix}"
    save_kernel_grad(path, gk)
    back = np.load(path) if suffix == ".npy" else np.array(json.loads(path.read_text()))
    np.testing.assert_array_equal(back, gk)


def test_save_kernel_grad_refuses_other_suffixes(tmp_path):
    with pytest.raises(OptionError, match=r"must end in \.npy or \.json; got '.*dw\.txt'"):
        save_kernel_grad(tmp_path / "dw.txt", np.zeros((3, 3)))
    assert list(tmp_path.iterdir()) == []
