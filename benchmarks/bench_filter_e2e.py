"""End-to-end timing: ``convcli filter`` on a 3840x2160 RGB PNG vs scipy.ndimage.

Usage::

    python benchmarks/bench_filter_e2e.py [--runs 5] [--kernel sharpen]

Generates a deterministic 3840x2160 RGB PNG (smooth gradients plus noise, so
PNG compression does realistic work), then times, in the same run:

* ``convcli filter big.png -k KERNEL -o out.png`` as a subprocess (whole CLI:
  start-up, decode, filter, encode, atomic write);
* the same work in-process with Pillow + ``scipy.ndimage.correlate`` (decode,
  filter each channel in float32 with reflect border, round, clip, encode);
* the engine alone (``convcli.correlate``) and ``scipy.ndimage.correlate`` alone
  on the decoded float32 array.

Prints the median of ``--runs`` runs for each, in seconds, and the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.ndimage as ndi
from PIL import Image


def make_image(path: Path) -> None:
    rng = np.random.default_rng(2026)
    h, w = 2160, 3840
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = 127 + 100 * np.sin(xx / 211) * np.cos(yy / 157)
    g = 127 + 100 * np.sin((xx + yy) / 301)
    b = 255 * xx / w
    img = np.stack([r, g, b], -1) + rng.normal(0, 6, size=(h, w, 3))
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path)


def median_time(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--kernel", default="sharpen")
    args = ap.parse_args()

    import convcli

    weights = convcli.load_kernel(args.kernel).effective_weights.astype(np.float32)
    exe = shutil.which("convcli")
    cli = [exe] if exe else [sys.executable, "-m", "convcli"]
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    print(
        f"numpy {np.__version__}, scipy {__import__('scipy').__version__}, "
        f"Pillow {Image.__version__}"
    )
    print(f"kernel {args.kernel} {weights.shape}; median of {args.runs} runs")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "big.png"
        make_image(src)
        out = Path(tmp) / "out.png"
        out_scipy = Path(tmp) / "out_scipy.png"

        def run_cli() -> None:
            subprocess.run(
                [*cli, "filter", str(src), "-k", args.kernel, "-o", str(out), "-q"], check=True
            )

        def run_scipy() -> None:
            x = np.asarray(Image.open(src), dtype=np.float32)
            y = np.empty_like(x)
            for c in range(3):
                ndi.correlate(x[..., c], weights, output=y[..., c], mode="reflect")
            Image.fromarray(np.clip(np.rint(y), 0, 255).astype(np.uint8)).save(out_scipy)

        x = np.asarray(Image.open(src), dtype=np.float32)

        def engine() -> None:
            convcli.correlate(x, weights)

        def scipy_engine() -> None:
            y = np.empty_like(x)
            for c in range(3):
                ndi.correlate(x[..., c], weights, output=y[..., c], mode="reflect")

        rows = [
            ("convcli filter (CLI, end to end)", median_time(run_cli, args.runs)),
            ("Pillow + scipy.ndimage (end to end)", median_time(run_scipy, args.runs)),
            ("convcli.correlate (engine only)", median_time(engine, args.runs)),
            ("scipy.ndimage.correlate (engine only)", median_time(scipy_engine, args.runs)),
        ]
        a = np.asarray(Image.open(out)).astype(int)
        b = np.asarray(Image.open(out_scipy)).astype(int)
        print(f"max |convcli - scipy| on the saved 8-bit PNG: {np.abs(a - b).max()}")
    for name, t in rows:
        print(f"{name:40s} {t:8.3f} s")


if __name__ == "__main__":
    main()
