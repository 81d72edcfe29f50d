"""What test modules share that is not a fixture (fixtures are in conftest.py).

Test modules import only from here and from :mod:`tests.helpers` (the
independent references), never from each other or from conftest.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

BORDERS = ("reflect", "mirror", "nearest", "wrap", "constant")


def cli(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    """Run the command line in this process; return ``(exit code, stdout, stderr)``.

    It goes through :func:`convcli.cli.run`, as the console script does, so
    errors become the ``Error:`` line and exit code.  The ``run_cli`` fixture
    is this with Rich's width pinned.
    """
    from convcli.cli import run

    code = run([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_clean_error(code: int, err: str, expected_code: int, *tokens: str) -> None:
    """One ``Error:`` line on stderr (no traceback) holding every token, and the exit code."""
    assert code == expected_code, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in err
    for t in tokens:
        assert t in lines[0]


def noisy_pngs(folder: Path, n: int, seed: int, size: int = 600) -> list[str]:
    """``n`` random RGB PNGs in ``folder`` (slow enough to filter that a signal lands mid-batch)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        path = folder / f"in{i}.png"
        pixels = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(path, compress_level=1)
        paths.append(str(path))
    return paths


def start_batch(
    command: Sequence[str],
    inputs: Sequence[str],
    out_dir: Path,
    kernel: str,
    jobs: str,
    env: dict[str, str],
    *,
    pipe: bool = True,
) -> subprocess.Popen[bytes]:
    """``convcli filter INPUTS -k KERNEL -d OUT_DIR -q --jobs JOBS`` started in the background."""
    out_dir.mkdir()
    stream = subprocess.PIPE if pipe else subprocess.DEVNULL
    return subprocess.Popen(
        [*command, "filter", *inputs, "-k", kernel, "-d", str(out_dir), "-q", "--jobs", jobs],
        stdout=stream,
        stderr=stream,
        env=env,
    )
