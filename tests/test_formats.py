"""Multi-frame inputs (``--frame``, ``--all-frames``) and ``--jobs`` batches."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from convcli.errors import OptionError
from convcli.images import animation_format, frame_count, load_frames, load_image
from tests.support import cli

DURATIONS = [100, 200, 300, 400]
LEVELS = (0, 80, 160, 240)


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


def one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in err
    return lines[0]


def frames_rgb() -> list[Image.Image]:
    return [Image.fromarray(np.full((10, 12, 3), (v, 255 - v, 90), np.uint8)) for v in LEVELS]


@pytest.fixture
def animated(tmp_path):
    """An animated GIF and WebP and a 4-page TIFF, with known frame colours."""
    frames = frames_rgb()
    paths = {}
    for ext, extra in (
        (".gif", {"duration": DURATIONS, "loop": 3}),
        (".webp", {"duration": DURATIONS, "loop": 0, "lossless": True}),
        (".tif", {}),
    ):
        path = tmp_path / f"anim{ext}"
        frames[0].save(path, save_all=True, append_images=frames[1:], **extra)
        paths[ext] = path
    return paths


def timing(path):
    with Image.open(path) as im:
        durations = []
        for i in range(im.n_frames):
            im.seek(i)
            im.load()
            durations.append(im.info.get("duration"))
        return im.n_frames, durations, im.info.get("loop")


# -- --frame -----------------------------------------------------------------------


@pytest.mark.parametrize("ext", [".gif", ".webp", ".tif"])
@pytest.mark.parametrize("index", [None, 0, 2, 3])
def test_frame_selects_one_frame(capsys, tmp_path, animated, ext, index):
    args = [] if index is None else ["--frame", index]
    out_path = tmp_path / "o.png"
    code, _, err = cli(capsys, "filter", animated[ext], "-k", "box:1", "-o", out_path, *args)
    assert code == 0, err
    got = np.asarray(Image.open(out_path))
    want = LEVELS[index or 0]
    assert abs(int(got[..., 0].mean()) - want) <= 3  # GIF palettes may round


@pytest.mark.parametrize("ext", [".gif", ".tif"])
def test_frame_out_of_range_names_the_count(capsys, tmp_path, animated, ext):
    code, _, err = cli(
        capsys, "filter", animated[ext], "-k", "box", "-o", tmp_path / "o.png", "--frame", "4"
    )
    assert code == 2
    line = one_error_line(err)
    assert "4 frame(s)" in line
    assert "0 to 3" in line
    assert not (tmp_path / "o.png").exists()


def test_frame_of_single_frame_image(capsys, tmp_path):
    Image.new("RGB", (3, 3)).save(tmp_path / "one.png")
    np.save(tmp_path / "a.npy", np.zeros((3, 3)))
    for src in ("one.png", "a.npy"):
        code, _, err = cli(
            capsys, "filter", tmp_path / src, "-k", "box", "-o", tmp_path / "o.png", "--frame", 1
        )
        assert code == 2
        assert "1 frame" in one_error_line(err)
    code, _, err = cli(
        capsys, "filter", tmp_path / "a.npy", "-k", "box", "-o", tmp_path / "o.png", "--frame", 0
    )
    assert code == 0, err


def test_negative_frame_is_a_usage_error(capsys, tmp_path, animated):
    code, _, err = cli(
        capsys, "filter", animated[".gif"], "-k", "box", "-o", tmp_path / "o.png", "--frame", -1
    )
    assert code == 2
    one_error_line(err)


def test_library_frame_helpers(animated):
    assert frame_count(animated[".gif"]) == 4
    assert load_image(animated[".tif"], frame=3).pixels[0, 0, 0] == LEVELS[3]
    with pytest.raises(OptionError, match="4 frame"):
        load_image(animated[".tif"], frame=7)
    anim = load_frames(animated[".gif"])
    assert len(anim.frames) == 4
    assert anim.durations == DURATIONS
    assert anim.loop == 3


# -- --all-frames ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("src", "dst", "loop"),
    [(".gif", ".gif", 3), (".gif", ".webp", 3), (".webp", ".webp", 0), (".webp", ".gif", 0)],
)
def test_all_frames_keeps_durations_and_loop(capsys, tmp_path, animated, src, dst, loop):
    out_path = tmp_path / f"o{dst}"
    code, out, err = cli(
        capsys, "filter", animated[src], "-k", "box", "--all-frames", "-o", out_path, "--json"
    )
    assert code == 0, err
    doc = json.loads(out)["results"][0]
    assert doc["ok"]
    assert doc["frames"] == 4
    assert timing(out_path) == (4, DURATIONS, loop)
    with Image.open(out_path) as im:
        for i, level in enumerate(LEVELS):
            im.seek(i)
            assert abs(int(np.asarray(im.convert("RGB"))[..., 0].mean()) - level) <= 4


def test_all_frames_from_tiff_pages(capsys, tmp_path, animated):
    code, _, err = cli(
        capsys, "filter", animated[".tif"], "-k", "box", "--all-frames", "-o", tmp_path / "o.gif"
    )
    assert code == 0, err
    assert "(4 frames)" in err
    assert timing(tmp_path / "o.gif")[0] == 4


def test_all_frames_applies_the_kernel_to_each_frame(capsys, tmp_path):
    ramp = np.linspace(0, 150, 16)[None, :, None]
    frames = [np.broadcast_to(ramp + 40 * i, (12, 16, 3)).astype(np.uint8) for i in range(3)]
    images = [Image.fromarray(f) for f in frames]
    images[0].save(
        tmp_path / "n.webp", save_all=True, append_images=images[1:], lossless=True, duration=50
    )
    out_path = tmp_path / "o.webp"
    code, _, err = cli(
        capsys, "filter", tmp_path / "n.webp", "-k", "box:1", "--all-frames", "-o", out_path
    )
    assert code == 0, err
    # Animated WebP is lossless unless --quality is given: box:1 returns each frame exactly.
    with Image.open(out_path) as im:
        for i, frame in enumerate(frames):
            im.seek(i)
            np.testing.assert_array_equal(np.asarray(im.convert("RGB")), frame)
    code, _, err = cli(
        capsys, "filter", tmp_path / "n.webp", "-k", "box:1", "--all-frames", "-o", out_path,
        "--quality", "50",
    )  # fmt: skip
    assert code == 0, err
    with Image.open(out_path) as im:
        assert np.abs(np.asarray(im.convert("RGB"), float) - frames[0]).max() > 0  # lossy


@pytest.mark.parametrize("ext", [".png", ".jpg", ".npy"])
def test_all_frames_to_a_still_format_exit_2(capsys, tmp_path, animated, ext):
    code, _, err = cli(
        capsys, "filter", animated[".gif"], "-k", "box", "--all-frames", "-o", tmp_path / f"o{ext}"
    )
    assert code == 2
    assert ".gif, .webp" in one_error_line(err)
    assert not (tmp_path / f"o{ext}").exists()


def test_all_frames_with_frame_exit_2(capsys, tmp_path, animated):
    code, _, err = cli(
        capsys,
        "filter",
        animated[".gif"],
        "-k",
        "box",
        "--all-frames",
        "--frame",
        "1",
        "-o",
        tmp_path / "o.gif",
    )
    assert code == 2
    assert "--all-frames" in one_error_line(err)


def test_all_frames_npy_input_exit_2(capsys, tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((3, 3)))
    code, _, err = cli(
        capsys, "filter", tmp_path / "a.npy", "-k", "box", "--all-frames", "-o", tmp_path / "o.gif"
    )
    assert code == 2
    assert ".npy" in one_error_line(err)


def test_all_frames_outdir_with_gif_format(capsys, tmp_path, animated):
    code, _, err = cli(
        capsys,
        "filter",
        animated[".gif"],
        animated[".tif"],
        "-k",
        "box",
        "--all-frames",
        "-d",
        tmp_path / "out",
        "--format",
        "gif",
        "-q",
    )
    # Both inputs are named anim.*, so both would write anim.gif: refused before any work.
    assert code == 2, err
    assert "anim.gif" in err and "anim.tif" in err
    assert not (tmp_path / "out").exists()
    code, _, err = cli(
        capsys, "filter", animated[".tif"], "-k", "box", "--all-frames", "-d", tmp_path / "out",
        "--format", "gif", "-q",
    )  # fmt: skip
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["anim.gif"]
    assert timing(tmp_path / "out" / "anim.gif")[0] == 4


def test_all_frames_single_frame_input_gives_one_frame(capsys, tmp_path):
    Image.new("RGB", (4, 4), (10, 20, 30)).save(tmp_path / "one.png")
    code, _, err = cli(
        capsys,
        "filter",
        tmp_path / "one.png",
        "-k",
        "box",
        "--all-frames",
        "-o",
        tmp_path / "o.gif",
    )
    assert code == 0, err
    assert timing(tmp_path / "o.gif")[0] == 1


def test_animation_format():
    assert animation_format("x.webp") == "WEBP"
    assert animation_format("gif") == "GIF"
    assert animation_format("x.tif") == "TIFF"
    with pytest.raises(OptionError, match=".gif, .webp"):
        animation_format("x.png")


# -- --jobs ------------------------------------------------------------------------


@pytest.fixture
def batch(tmp_path):
    rng = np.random.default_rng(5)
    paths = []
    for i in range(5):
        path = tmp_path / f"img{i}.png"
        Image.fromarray(rng.integers(0, 256, (16 + i, 20, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def test_jobs_matches_sequential_and_keeps_input_order(capsys, tmp_path, batch):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    inputs = [batch[0], bad, *batch[1:]]
    docs = {}
    for jobs in ("1", "2"):
        out_dir = tmp_path / f"out{jobs}"
        code, out, err = cli(
            capsys, "filter", *inputs, "-k", "sharpen", "-d", out_dir, "--jobs", jobs, "--json"
        )
        assert code == 1, err
        assert err.count("Error:") == 1
        assert "broken.png" in err
        docs[jobs] = json.loads(out)["results"]
        assert [r["input"] for r in docs[jobs]] == [str(p) for p in inputs]
        assert [r["ok"] for r in docs[jobs]] == [True, False, True, True, True, True]
        assert docs[jobs][1]["error"]
    for a in sorted((tmp_path / "out1").iterdir()):
        b = tmp_path / "out2" / a.name
        np.testing.assert_array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b)))
    shapes = [(r["input_shape"], r["output_shape"]) for r in docs["2"]]
    assert shapes == [(r["input_shape"], r["output_shape"]) for r in docs["1"]]


def test_jobs_progress_and_lines_on_stderr_only(capsys, tmp_path, batch):
    code, out, err = cli(capsys, "filter", *batch, "-k", "box", "-d", tmp_path / "o", "-j", "3")
    assert code == 0, err
    assert out == ""
    assert all(p.name in err for p in batch)


def test_jobs_must_be_positive(capsys, tmp_path, batch):
    code, _, err = cli(capsys, "filter", *batch, "-k", "box", "-d", tmp_path / "o", "--jobs", 0)
    assert code == 2
    one_error_line(err)


def test_jobs_worker_failure_is_reported_per_input(tmp_path, batch):
    from convcli.filters import FilterOptions
    from convcli.runner import FilterJob as _Job
    from convcli.runner import run_all as _run_all

    # A job that cannot be sent to a worker stands in for a worker that dies.
    job = _Job(kernels=[lambda: None], options=FilterOptions(), quality=None, max_pixels=None,
               frame=None)  # fmt: skip
    tasks = [(str(p), str(tmp_path / p.name)) for p in batch[:3]]
    got = sorted(_run_all(job, tasks, 2), key=lambda r: r[0])
    assert [index for index, _, _ in got] == [0, 1, 2]
    for _, entry, code in got:
        assert code == 1
        assert entry["ok"] is False
        assert "worker process failed" in entry["error"]


def test_all_frames_sixteen_bit_pages_are_scaled_not_clipped(capsys, tmp_path):
    pages = [Image.fromarray(np.full((5, 6), v, np.uint16)) for v in (0, 32896, 65535)]
    pages[0].save(tmp_path / "deep.tif", save_all=True, append_images=pages[1:])
    out_path = tmp_path / "o.gif"
    code, _, err = cli(
        capsys, "filter", tmp_path / "deep.tif", "-k", "box", "--all-frames", "-o", out_path
    )
    assert code == 0, err
    assert err.count("8-bit") == 1  # the note is given once, not once per frame
    with Image.open(out_path) as im:
        means = []
        for i in range(3):
            im.seek(i)
            means.append(int(np.asarray(im.convert("L")).mean()))
    assert means == [0, 128, 255]


# -- frames in and out (SPEC section 4) -----------------------------------------------


def test_a_batch_keeps_gif_inputs_as_gif(capsys, tmp_path, animated):
    still = tmp_path / "still.png"
    Image.new("RGB", (16, 12), (10, 200, 30)).save(still)
    code, _, err = cli(
        capsys, "filter", animated[".gif"], still, "-k", "sharpen", "-d", tmp_path / "out"
    )
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["anim.gif", "still.png"]
    assert "quantized" in err
    with Image.open(tmp_path / "out" / "anim.gif") as im:
        assert im.format == "GIF"


def test_taking_frame_0_of_several_says_so(capsys, tmp_path, animated):
    for ext in (".gif", ".tif", ".webp"):
        code, _, err = cli(capsys, "filter", animated[ext], "-k", "box", "-o", tmp_path / "x.png")
        assert code == 0, err
        assert "took frame 0 of 4" in err and "--all-frames" in err
        code, _, err = cli(
            capsys, "filter", animated[ext], "-k", "box", "--frame", "0", "-o", tmp_path / "x.png"
        )
        assert code == 0 and "took frame" not in err


def test_all_frames_to_a_multipage_tiff(capsys, tmp_path, animated):
    out = tmp_path / "out.tif"
    code, _, err = cli(capsys, "filter", animated[".gif"], "-k", "box:1", "--all-frames", "-o", out)
    assert code == 0, err
    with Image.open(out) as im, Image.open(animated[".gif"]) as src:
        assert im.n_frames == 4
        for i in range(4):
            im.seek(i)
            src.seek(i)
            np.testing.assert_array_equal(
                np.asarray(im.convert("RGB")), np.asarray(src.convert("RGB"))
            )


@pytest.mark.parametrize(("ext", "exact"), [(".tif", True), (".webp", True), (".gif", False)])
def test_save_animation_from_python_tiff_pages_and_lossless_webp(tmp_path, ext, exact):
    from convcli.images import save_animation

    rng = np.random.default_rng(2)
    frames = [rng.integers(0, 256, (10, 12, 3), dtype=np.uint8) for _ in range(3)]
    out = tmp_path / f"o{ext}"
    notes = save_animation(out, frames, durations=[40, 50, 60], loop=0)
    assert ("quantized" in " ".join(notes)) == (ext == ".gif")
    back = load_frames(out)
    assert len(back.frames) == 3 and frame_count(out) == 3
    if exact:  # TIFF pages and (without --quality) WebP keep every value
        for got, want in zip(back.frames, frames, strict=True):
            np.testing.assert_array_equal(got.pixels, want)
