"""One AxB rule (SPEC section 4): A high x B wide in every command that reads a kernel size."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from convcli.kernelspec import load_kernel


def test_box_axb_is_a_high_b_wide():
    assert load_kernel("box:7x3").shape == (7, 3)
    assert load_kernel("box:size=2x6").shape == (2, 6)


def test_imagemagick_strings_keep_imagemagicks_width_first():
    assert load_kernel("7x3: " + ",".join(["1"] * 21)).shape == (3, 7)


@pytest.mark.parametrize(
    "args",
    [["100x100", "-k", "7x3"], ["100x100", "--layer", "k=7x3"], ["100x100", "-k", "box:7x3"]],
    ids=["shape -k", "shape --layer", "shape -k box"],
)
def test_shape_reads_axb_the_same_way(run_cli, args):
    code, out, err = run_cli("shape", *args, "--padding", "valid", "--json")
    assert code == 0, err
    layer = json.loads(out)["layers"][0]
    assert layer["kernel_shape"][-2:] == [7, 3]
    assert layer["output_shape"][:2] == [94, 98]  # 100 - 7 + 1 rows, 100 - 3 + 1 columns


def test_fit_size_axb_is_a_high_b_wide(tmp_path, run_cli):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (24, 20), dtype=np.uint8)
    Image.fromarray(x).save(tmp_path / "x.png")
    Image.fromarray(x).save(tmp_path / "t.png")
    code, out, err = run_cli(
        "fit", tmp_path / "x.png", tmp_path / "t.png", "--size", "5x3", "--json"
    )
    assert code == 0, err
    assert np.asarray(json.loads(out)["kernel"]).shape[-2:] == (5, 3)


def test_kernels_show_says_high_and_wide(run_cli):
    code, out, err = run_cli("kernels", "show", "box:7x3")
    assert code == 0, err
    assert "7 high x 3 wide" in out


@pytest.mark.parametrize("command", ["filter", "shape", "grad", "fit", ["kernels", "show"]])
def test_every_size_reading_command_states_the_rule_in_help(run_cli, command):
    words = command if isinstance(command, list) else [command]
    code, out, _ = run_cli(*words, "--help")
    assert code == 0
    flat = " ".join(out.split())
    assert "A high x B wide" in flat
