"""Batch output names (SPEC section 7): collisions refused before any work, --suffix kept in
the folder, options that would do nothing refused, idle --cval noted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convcli.errors import OptionError
from convcli.filters import check_collisions, check_suffix
from convcli.runner import output_targets
from tests.support import assert_clean_error


def png(path: Path, value: int = 100) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((6, 7, 3), value, np.uint8)).save(path)
    return path


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_two_folders_same_name_into_one_outdir_is_refused_before_any_work(tmp_path, run_cli):
    a, b = png(tmp_path / "ca" / "x.png", 10), png(tmp_path / "cb" / "x.png", 200)
    before = snapshot(tmp_path)
    code, _, err = run_cli("filter", a, b, "-k", "box", "-d", tmp_path / "coll")
    assert_clean_error(code, err, 2, str(a), str(b), "x.png")
    assert snapshot(tmp_path) == before
    assert not (tmp_path / "coll").exists()


def test_same_stem_different_extensions_with_format_is_refused(tmp_path, run_cli):
    y1, y2 = png(tmp_path / "y.png"), tmp_path / "y.jpg"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(y2)
    code, _, err = run_cli("filter", y1, y2, "-k", "box", "-d", tmp_path / "o", "--format", "png")
    assert_clean_error(code, err, 2, "y.png", "y.jpg")
    # Without --format each keeps its own extension: no collision.
    code, _, err = run_cli("filter", y1, y2, "-k", "box", "-d", tmp_path / "o", "-q")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["y.jpg", "y.png"]


def test_an_output_that_would_overwrite_another_input_is_refused(tmp_path, run_cli):
    s = tmp_path / "s"
    a, a_s = png(s / "a.png", 10), png(s / "a-s.png", 99)
    before = snapshot(tmp_path)
    code, _, err = run_cli("filter", a, a_s, "-k", "box", "-d", s, "--suffix", "-s")
    assert_clean_error(code, err, 2, "a-s.png", "another input")
    assert snapshot(tmp_path) == before


def test_an_output_may_be_its_own_input(tmp_path, run_cli):
    a = png(tmp_path / "a.png")
    code, _, err = run_cli("filter", a, "-k", "box", "-d", tmp_path, "-q")
    assert code == 0, err


def test_a_symlinked_outdir_is_seen_through(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(OptionError, match="would both write"):
        check_collisions(
            ["p/x.png", "q/x.png"],
            [str(tmp_path / "real" / "x.png"), str(tmp_path / "link" / "x.png")],
        )


@pytest.mark.parametrize("suffix", ["/../../x", "/x", "a/b", "..\\x", "x\0y"])
def test_suffix_that_could_leave_the_folder_is_refused(tmp_path, run_cli, suffix):
    a = png(tmp_path / "in" / "a.png")
    before = snapshot(tmp_path)
    with pytest.raises(OptionError, match="--suffix"):
        check_suffix(suffix)
    if "\0" not in suffix:  # argv cannot hold NUL
        code, _, err = run_cli(
            "filter", a, "-k", "box", "-d", tmp_path / "o" / "p", "--suffix", suffix
        )
        assert_clean_error(code, err, 2, "--suffix")
        assert snapshot(tmp_path) == before
        assert not (tmp_path / "o").exists()


def test_suffix_and_format_with_dash_o_are_refused(tmp_path, run_cli):
    a = png(tmp_path / "a.png")
    code, _, err = run_cli("filter", a, "-k", "box", "-o", tmp_path / "x.png", "--format", "jpg")
    assert_clean_error(code, err, 2, "--format", "x.png")
    code, _, err = run_cli("filter", a, "-k", "box", "-o", tmp_path / "x.png", "--suffix", "-s")
    assert_clean_error(code, err, 2, "--suffix")
    assert not (tmp_path / "x.png").exists()
    with pytest.raises(OptionError, match="--format"):
        output_targets([str(a)], output=str(tmp_path / "x.png"), fmt="jpg")


def test_idle_cval_gets_a_note_and_constant_border_does_not(tmp_path, run_cli):
    a = png(tmp_path / "a.png")
    code, _, err = run_cli("filter", a, "-k", "box", "-o", tmp_path / "o.png", "--cval", "9")
    assert code == 0
    assert "note: --cval 9 has no effect with --border reflect" in err
    code, _, err = run_cli(
        "filter", a, "-k", "box", "-o", tmp_path / "o.png", "--cval", "9", "--border", "zeros"
    )
    assert code == 0
    assert "--cval" not in err


# -- border names (SPEC section 3) ---------------------------------------------------------

BORDER_SPELLINGS = {
    "reflect": ["reflect", "REFLECT", "symmetric", "grid-mirror", "grid_mirror", "BORDER_REFLECT"],
    "mirror": [
        "mirror",
        "reflect101",
        "BORDER_REFLECT_101",
        "BORDER_REFLECT101",
        "BORDER_DEFAULT",
        "Reflect_101",
    ],
    "nearest": ["nearest", "edge", "Edge", "replicate", "BORDER_REPLICATE"],
    "wrap": ["wrap", "circular", "grid-wrap", "BORDER_WRAP", "tile", "Tile"],
    "constant": ["constant", "zeros", "grid-constant", "BORDER_CONSTANT"],
}
SCIPY_MODE = {
    "reflect": "reflect",
    "mirror": "mirror",
    "nearest": "nearest",
    "wrap": "wrap",
    "constant": "constant",
}


@pytest.mark.parametrize(
    ("canonical", "spelling"),
    [(c, s) for c, spellings in BORDER_SPELLINGS.items() for s in spellings],
)
def test_border_spellings_give_scipys_result(canonical, spelling):
    import scipy.ndimage as ndi

    import convcli

    x = np.arange(20.0).reshape(4, 5)
    w = np.arange(1.0, 10.0).reshape(3, 3)
    got = convcli.correlate(x, w, border=spelling, cval=3.0, dtype=np.float64)
    want = ndi.correlate(x, w, mode=SCIPY_MODE[canonical], cval=3.0)
    np.testing.assert_allclose(got, want)


@pytest.mark.parametrize(
    ("typo", "hint"), [("refelct", "reflect"), ("BORDER_REPLICAT", "replicate"), ("wrp", "wrap")]
)
def test_unknown_border_says_did_you_mean(tmp_path, run_cli, typo, hint):
    a = png(tmp_path / "a.png")
    code, _, err = run_cli("filter", a, "-k", "box", "-o", tmp_path / "o.png", "--border", typo)
    assert_clean_error(code, err, 2, f"unknown border {typo!r}", "did you mean", hint)


# -- float .npy in 0..1 (SPEC section 4) ----------------------------------------------------


def test_float_npy_in_unit_range_gets_a_note_and_input_range_maps_it(tmp_path, run_cli):
    x = np.random.default_rng(1).random((8, 9, 3)).astype(np.float32)
    np.save(tmp_path / "u.npy", x)
    code, _, err = run_cli("filter", tmp_path / "u.npy", "-k", "identity", "-o", tmp_path / "a.png")
    assert code == 0, err
    assert "within 0..1" in err and "--input-range 0,1" in err
    assert np.asarray(Image.open(tmp_path / "a.png")).max() <= 1  # nearly black, as the note says
    code, _, err = run_cli(
        "filter",
        tmp_path / "u.npy",
        "-k",
        "identity",
        "-o",
        tmp_path / "b.png",
        "--input-range",
        "0,1",
    )
    assert code == 0, err
    assert "within 0..1" not in err
    np.testing.assert_array_equal(
        np.asarray(Image.open(tmp_path / "b.png")), np.rint(x * 255).astype(np.uint8)
    )
    # .npy output keeps raw values: no note
    code, _, err = run_cli("filter", tmp_path / "u.npy", "-k", "identity", "-o", tmp_path / "c.npy")
    assert code == 0 and "within 0..1" not in err


@pytest.mark.parametrize("bad", ["1,0", "0", "a,b", "0,inf"])
def test_bad_input_range_is_refused(tmp_path, run_cli, bad):
    np.save(tmp_path / "u.npy", np.zeros((3, 3), np.float32))
    code, _, err = run_cli(
        "filter", tmp_path / "u.npy", "-k", "box", "-o", tmp_path / "o.png", "--input-range", bad
    )
    assert_clean_error(code, err, 2, "--input-range")


def test_input_range_from_python():
    from convcli.filters import FilterOptions, from_input_range

    np.testing.assert_allclose(
        from_input_range(np.array([2.0, 6.0]), (2.0, 6.0), 65535.0), [0.0, 65535.0]
    )
    assert FilterOptions(input_range=(0.0, 1.0)).input_range == (0.0, 1.0)
