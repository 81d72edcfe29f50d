"""Backward pass versus forward pass on a 4K RGB image.

Times ``correlate`` (the forward) against ``kernel_grad`` and ``input_grad``
on a 2160x3840x3 float32 image with 3x3 and 15x15 kernels, median of several
runs each, and prints the ratios.  Target: the backward takes at most 2x the
forward for 3x3 and 3x for 15x15.

The backward runs in float32 by default, like the forward (``--dtype float64``
for the precision the CLI uses).

Usage::

    python benchmarks/bench_grad.py [--runs 5] [--dtype float32] [--threads N] [--full]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from functools import partial

import numpy as np

from convcli.engine import correlate, default_threads
from convcli.grad import input_grad, kernel_grad

H, W, C = 2160, 3840, 3
SEED = 20240601


def median_seconds(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm-up: page faults, thread pool, caches
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--sizes", default="3,15", help="kernel sizes, comma-separated")
    parser.add_argument(
        "--full", action="store_true", help="also time a channel-mixing (3, 3, K, K) kernel"
    )
    args = parser.parse_args()

    rng = np.random.default_rng(SEED)
    x = rng.uniform(0, 1, size=(H, W, C)).astype(np.float32)
    dt = np.dtype(args.dtype)
    threads = args.threads or default_threads()

    print(f"machine: {platform.platform()}; {platform.processor() or platform.machine()}")
    print(
        f"cpus: {os.cpu_count()} (threads used: {threads}); python {platform.python_version()};"
        f" numpy {np.__version__}"
    )
    print(f"image {H}x{W}x{C} float32; backward dtype {dt}; median of {args.runs} runs")
    print()
    header = f"{'kernel':<16}{'forward s':>11}{'kernel_grad s':>15}{'ratio':>7}"
    header += f"{'input_grad s':>14}{'ratio':>7}{'target':>8}"
    print(header)
    print("-" * len(header))

    shapes: list[tuple[int, ...]] = []
    for k in (int(v) for v in args.sizes.split(",")):
        shapes.append((k, k))
        if args.full:
            shapes.append((C, C, k, k))
    for shape in shapes:
        w = rng.normal(size=shape)
        g = rng.normal(size=(H, W, C)).astype(dt)
        opts = {"dtype": dt, "threads": threads}
        fwd = median_seconds(partial(correlate, x, w, **opts), args.runs)
        kg = median_seconds(partial(kernel_grad, x, w, g, **opts), args.runs)
        ig = median_seconds(partial(input_grad, x, w, g, **opts), args.runs)
        target = 2.0 if shape[-1] <= 3 else 3.0
        name = "x".join(str(v) for v in shape)
        print(
            f"{name:<16}{fwd:>11.3f}{kg:>15.3f}{kg / fwd:>7.2f}{ig:>14.3f}{ig / fwd:>7.2f}"
            f"{'<=' + format(target, '.0f') + 'x':>8}"
        )


if __name__ == "__main__":
    main()
