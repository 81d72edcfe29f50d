"""The engine beside scipy.ndimage.correlate and OpenCV on a 4K RGB image.

Times :func:`convcli.correlate` (planned method) on a 2160x3840x3 image with
the ``reflect`` border against ``scipy.ndimage.correlate`` and, when ``cv2``
imports (``pip install opencv-python-headless``, the optional ``bench``
extra), OpenCV ``filter2D`` and ``sepFilter2D`` (for gaussian kernels).
Kernels: random and gaussian of each size, float32 input, and uint8 input
(float32 output everywhere); with ``--presets`` also every built-in 3x3 and
5x5 preset.  Prints machine info, median milliseconds of ``--runs`` runs
after a warm-up (within a run the contenders take turns, so a slow spell of
a shared machine hits them alike), the median of the per-run ratios, and
the largest difference from scipy relative to ``sum|w| * max|x|``.

scipy at 63x63 takes close to a minute per call: calls slower than
``--slow`` seconds are timed once.

Usage::

    python benchmarks/bench_engine.py [--runs 5] [--threads N] [--quick] [--presets]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import scipy.ndimage as ndi

from convcli.engine import correlate, default_threads, make_plan

try:
    import cv2
except ImportError:  # optional
    cv2 = None

H, W, C = 2160, 3840, 3
SEED = 20240601


def gaussian_1d(k: int) -> np.ndarray:
    t = np.arange(k) - (k - 1) / 2
    g = np.exp(-0.5 * (t / max(k / 5, 0.6)) ** 2)
    return g / g.sum()


def interleaved_ms(
    fns: dict[str, Callable[[], Any]], runs: int, slow: float
) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """Times (ms) of every function, the functions taking turns within each run.

    Each function is called once first (page faults, thread pools, FFT plans);
    one slower than ``slow`` seconds keeps that single time.  Taking turns
    means a slow spell of this shared machine hits every contender alike,
    so per-run ratios are fair comparisons.
    """
    times: dict[str, list[float]] = {}
    results: dict[str, Any] = {}
    looped = []
    for name, fn in fns.items():
        t0 = time.perf_counter()
        results[name] = fn()
        first = time.perf_counter() - t0
        times[name] = [first * 1000]
        if first <= slow:
            looped.append(name)
            times[name] = []
    for _ in range(runs):
        for name in looped:
            t0 = time.perf_counter()
            fns[name]()
            times[name].append((time.perf_counter() - t0) * 1000)
    return times, results


def median_ratio(a: list[float] | None, b: list[float] | None) -> float | None:
    """Median over runs of ``a[i] / b[i]`` (a single time pairs with every run)."""
    if not a or not b:
        return None
    n = max(len(a), len(b))
    return statistics.median(a[min(i, len(a) - 1)] / b[min(i, len(b) - 1)] for i in range(n))


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    cv = cv2.__version__ if cv2 is not None else "not installed"
    import scipy

    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()},"
        f" numpy {np.__version__}, scipy {scipy.__version__}, OpenCV {cv},"
        f" load average at start {load:.2f}"
    )


def fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f}"


def ratio(r: float | None) -> str:
    return "-" if r is None else f"{r:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="sizes 3, 15, 31 and 3 runs")
    parser.add_argument("--sizes", default=None, help="kernel sizes, comma-separated")
    parser.add_argument("--slow", type=float, default=8.0, help="time once above this (s)")
    parser.add_argument("--no-scipy", action="store_true", help="skip scipy (slow at 31+)")
    parser.add_argument(
        "--presets", action="store_true", help="also every built-in 3x3 and 5x5 preset (float32)"
    )
    args = parser.parse_args()
    sizes = [3, 5, 9, 15, 31, 63] if not args.quick else [3, 15, 31]
    if args.sizes:
        sizes = [int(s) for s in args.sizes.split(",")]
    runs = 3 if args.quick and args.runs == 5 else args.runs
    threads = args.threads or default_threads()
    if cv2 is not None:
        cv2.setNumThreads(threads)

    rng = np.random.default_rng(SEED)
    x32 = rng.uniform(0, 1, size=(H, W, C)).astype(np.float32)
    x8 = rng.integers(0, 256, size=(H, W, C), dtype=np.uint8)

    print(f"Machine: {machine()}")
    print(
        f"Image {H}x{W}x{C}, border reflect, {threads} thread(s), median of {runs} runs (ms),"
        " the contenders taking turns in each run; ratios are medians of the per-run ratios;"
        f" calls over {args.slow:.0f} s timed once"
    )
    print()
    head = (
        "| input | kernel | convcli method | convcli | scipy.ndimage | cv2.filter2D |"
        " cv2.sepFilter2D | scipy / convcli | convcli / filter2D | convcli / sepFilter2D |"
        " max err vs scipy |"
    )
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    cases, presets = build_cases(sizes, x32, x8, with_presets=args.presets)
    for dtype_name, x, k, kind in cases:
        print(run_case(dtype_name, x, k, kind, presets, rng, threads, runs, args), flush=True)


def build_cases(
    sizes: list[int], x32: np.ndarray, x8: np.ndarray, *, with_presets: bool
) -> tuple[list[tuple[str, np.ndarray, int, str]], dict[str, np.ndarray]]:
    """The table's rows: (input type, image, kernel size, kernel kind) and the preset weights."""
    cases: list[tuple[str, np.ndarray, int, str]] = []
    for k in sizes:
        for kind in ("random", "gaussian"):
            cases.append(("float32", x32, k, kind))
    for k in [s for s in sizes if s in (3, 15)] or sizes[:1]:
        for kind in ("random", "gaussian"):
            cases.append(("uint8", x8, k, kind))

    presets: dict[str, np.ndarray] = {}
    if with_presets:
        from convcli.kernelspec import list_kernels, load_kernel

        for info in list_kernels():
            weights = load_kernel(info.name).effective_weights
            if weights.shape in ((3, 3), (5, 5)):
                presets[info.name] = weights
                cases.append(("float32", x32, weights.shape[0], info.name))

    return cases, presets


def run_case(
    dtype_name: str,
    x: np.ndarray,
    k: int,
    kind: str,
    presets: dict[str, np.ndarray],
    rng: np.random.Generator,
    threads: int,
    runs: int,
    args: argparse.Namespace,
) -> str:
    """Time one row (the contenders taking turns) and format it."""
    g = gaussian_1d(k)
    if kind in presets:
        w = presets[kind]
    else:
        w = np.outer(g, g) if kind == "gaussian" else rng.normal(size=(k, k)) / k
    plan = make_plan(x.shape, w, threads=threads)
    fns: dict[str, Callable[[], Any]] = {"convcli": partial(correlate, x, w, threads=threads)}
    if not args.no_scipy:
        w3 = w.astype(np.float32)[:, :, None]
        fns["scipy"] = partial(ndi.correlate, x, w3, output=np.float32, mode="reflect")
    if cv2 is not None:
        fns["filter2D"] = partial(
            cv2.filter2D, x, cv2.CV_32F, w.astype(np.float32), borderType=cv2.BORDER_REFLECT
        )
        if kind == "gaussian":
            g32 = g.astype(np.float32)
            fns["sepFilter2D"] = partial(
                cv2.sepFilter2D, x, cv2.CV_32F, g32, g32, borderType=cv2.BORDER_REFLECT
            )
    times, results = interleaved_ms(fns, runs, args.slow)
    err = None
    if "scipy" in results:
        scale = float(np.abs(w).sum() * np.abs(x).max())
        err = float(np.abs(results["convcli"] - results["scipy"]).max()) / scale
    med = {name: statistics.median(t) for name, t in times.items()}
    t_cc, t_sp = med["convcli"], med.get("scipy")
    t_f2d, t_sep = med.get("filter2D"), med.get("sepFilter2D")
    r_sp = median_ratio(times.get("scipy"), times["convcli"])
    r_f2d = median_ratio(times["convcli"], times.get("filter2D"))
    r_sep = median_ratio(times["convcli"], times.get("sepFilter2D"))
    method = plan.method + (f" r{plan.rank}" if plan.method == "separable" else "")
    return (
        f"| {dtype_name} | {k}x{k} {kind} | {method} | {fmt(t_cc)} | {fmt(t_sp)} |"
        f" {fmt(t_f2d)} | {fmt(t_sep)} | {ratio(r_sp)} | {ratio(r_f2d)} |"
        f" {ratio(r_sep)} | {'-' if err is None else f'{err:.1e}'} |"
    )


if __name__ == "__main__":
    main()
