"""The batch runner (convcli.runner): files in, files out, without the command line."""

from __future__ import annotations

import dataclasses
import json
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convcli import runner
from convcli.errors import ImageError, OptionError
from convcli.filters import FilterOptions
from convcli.kernelspec import load_kernel

REPO = Path(__file__).resolve().parent.parent
UI = ("typer", "rich", "click")


@pytest.fixture
def images(tmp_path, rng):
    paths = []
    for name, shape in (("a.png", (6, 7, 3)), ("b.png", (5, 4))):
        Image.fromarray(rng.integers(0, 256, size=shape, dtype=np.uint8)).save(tmp_path / name)
        paths.append(str(tmp_path / name))
    return paths


def _python(code: str) -> list[str]:
    """Run ``code`` with this checkout first on the path; return its last stdout line as JSON."""
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": ""},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def test_runner_imports_no_cli_libraries(images, tmp_path):
    loaded = _python(
        f"""
        import json, sys
        from convcli import runner
        from convcli.filters import FilterOptions
        from convcli.kernelspec import load_kernel
        job = runner.FilterJob(kernels=[load_kernel("box")], options=FilterOptions())
        result, code = runner.filter_one(job, {images[0]!r}, {str(tmp_path / "o.png")!r})
        assert code == 0, result
        print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {UI!r})))
        """
    )
    assert loaded == []


def test_worker_processes_import_no_cli_libraries(images, tmp_path):
    # The parent has the command line loaded, as `convcli filter --jobs N` does; a worker
    # unpickles filter_one from the runner and must not load typer or rich for it.
    parent, worker = _python(
        f"""
        import json, sys
        import convcli.cli
        from convcli import runner
        from convcli.filters import FilterOptions
        from convcli.kernelspec import load_kernel
        probe = "sorted(m for m in __import__('sys').modules if m.split('.')[0] in {UI!r})"
        job = runner.FilterJob(kernels=[load_kernel("box")], options=FilterOptions())
        with runner.batch._worker_pool(1) as pool:
            result, code = pool.submit(
                runner.filter_one, job, {images[0]!r}, {str(tmp_path / "o.png")!r}
            ).result()
            assert code == 0, result
            worker = pool.submit(eval, probe).result()
        print(json.dumps([eval(probe), worker]))
        """
    )
    assert "typer" in parent  # the check can fail
    assert worker == []


def test_filter_job_is_frozen_and_picklable():
    job = runner.FilterJob(
        kernels=[load_kernel("box")], options=FilterOptions(stride=2), fmt="png", input_data=b"x"
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        job.fmt = "jpg"  # type: ignore[misc]
    back = pickle.loads(pickle.dumps(job))
    assert back.options == job.options
    assert [k.name for k in back.kernels] == ["box"]
    assert (back.fmt, back.input_data, back.all_frames, back.quality) == ("png", b"x", False, None)


def test_run_all_in_process_keeps_order_and_reports_progress(images, tmp_path):
    job = runner.FilterJob(kernels=[load_kernel("box")], options=FilterOptions())
    tasks = [(src, str(tmp_path / f"o{i}.png")) for i, src in enumerate(images)]
    heard = []
    got = list(runner.run_all(job, tasks, progress=lambda stage, f: heard.append(stage)))
    assert [(i, code) for i, _, code in got] == [(0, 0), (1, 0)]
    assert [r["output_shape"] for _, r, _ in got] == [[6, 7, 3], [5, 4, 1]]
    assert "saving" in heard


def test_results_have_the_json_keys_in_order(images, tmp_path):
    job = runner.FilterJob(kernels=[load_kernel("box")], options=FilterOptions())
    ok, code = runner.filter_one(job, images[0], str(tmp_path / "o.png"))
    assert code == 0
    assert list(ok) == [
        "input", "output", "ok", "error", "input_shape", "output_shape", "seconds", "notes",
        "frames",
    ]  # fmt: skip
    bad, code = runner.filter_one(job, str(tmp_path / "missing.png"), str(tmp_path / "x.png"))
    assert code == 2
    assert list(bad) == [
        "input", "output", "ok", "error", "input_shape", "output_shape", "seconds",
    ]  # fmt: skip
    assert bad["ok"] is False and "missing.png" in bad["error"]


def test_expand_inputs_globs_keeps_order_and_drops_repeats(images, tmp_path):
    pattern = str(tmp_path / "*.png")
    assert runner.expand_inputs([images[1], pattern]) == [images[1], images[0]]
    with pytest.raises(OptionError, match="no input files match"):
        runner.expand_inputs([str(tmp_path / "*.xyz")])


def test_output_targets(tmp_path):
    assert runner.output_targets(["a.png"], output="./x//y.png") == ["x/y.png"]
    out = tmp_path / "new" / "dir"
    got = runner.output_targets(["p/a.png", "b.tif"], outdir=str(out), suffix="-s", fmt=".NPY")
    assert got == [str(out / "a-s.npy"), str(out / "b-s.npy")]
    assert out.is_dir()
    with pytest.raises(OptionError):
        runner.output_targets(["a.png"], outdir=str(out), fmt="xyz")
    with pytest.raises(OptionError):
        runner.output_targets(["a.png"], outdir=str(out), fmt="png", all_frames=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ImageError, match="a file of that name exists"):
        runner.output_targets(["a.png"], outdir=str(tmp_path / "file"))


def test_read_stdin_refuses_a_terminal(monkeypatch):
    class Terminal:
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stdin", Terminal())
    with pytest.raises(OptionError, match="stdin is a terminal"):
        runner.read_stdin()
