"""Regenerate the README gallery with convcli itself.

Run from the repository root after ``pip install .``::

    python samples/make_gallery.py

Each result is produced by the ``convcli filter`` command line (the installed
entry point if there is one, else ``python -m convcli``), then the before and
after images are pasted side by side into ``samples/gallery/<name>.png``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "card.png"
GALLERY = HERE / "gallery"

# (output name, convcli filter arguments after the input)
EXAMPLES = [
    ("blur", ["-k", "gaussian:sigma=2"]),
    ("edge", ["-k", "sobel-x", "--abs"]),
    ("sharpen", ["-k", "sharpen"]),
    ("emboss", ["-k", "emboss"]),
]


# (gallery file, commands run in a scratch folder holding the samples, the last one drawing it)
PLOTS = [
    ("plot-log", [["kernels", "show", "log", "--plot", "out.png"]]),
    (
        "plot-grad",
        [
            ["filter", "card.png", "-k", "box:5", "-o", "target.png", "-q"],
            ["grad", "card.png", "-k", "box:3", "--target", "target.png", "--plot", "out.png"],
        ],
    ),
    (
        "plot-fit",
        [
            ["filter", "gray.png", "-k", "gaussian:sigma=1", "-o", "gray-blurred.npy", "-q"],
            [
                "fit", "gray.png", "gray-blurred.npy", "--size", "5", "--method", "gd",
                "--steps", "100", "--lr", "0.05", "--plot", "out.png", "-q",
            ],
        ],
    ),
]  # fmt: skip


def convcli_command() -> list[str]:
    exe = shutil.which("convcli")
    return [exe] if exe else [sys.executable, "-m", "convcli"]


def side_by_side(before: Path, after: Path, dest: Path) -> None:
    a = Image.open(before).convert("RGB")
    b = Image.open(after).convert("RGB")
    gap = 8
    canvas = Image.new("RGB", (a.width + b.width + gap, max(a.height, b.height)), "white")
    canvas.paste(a, (0, 0))
    canvas.paste(b, (a.width + gap, 0))
    canvas.save(dest, optimize=True)


def main() -> None:
    GALLERY.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, args in EXAMPLES:
            out = Path(tmp) / f"{name}.png"
            cmd = [*convcli_command(), "filter", str(SOURCE), *args, "-o", str(out), "-q"]
            subprocess.run(cmd, check=True)
            side_by_side(SOURCE, out, GALLERY / f"{name}.png")
            print("wrote", GALLERY / f"{name}.png", "from: convcli filter card.png", *args)
        for sample in ("card.png", "gray.png"):
            shutil.copy(HERE / sample, Path(tmp) / sample)
        for name, commands in PLOTS:
            for args in commands:
                subprocess.run(
                    [*convcli_command(), *args], check=True, cwd=tmp, stdout=subprocess.DEVNULL
                )
            shutil.move(Path(tmp) / "out.png", GALLERY / f"{name}.png")
            print("wrote", GALLERY / f"{name}.png", "from: convcli", *commands[-1])


if __name__ == "__main__":
    main()
