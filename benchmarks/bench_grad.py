"""Backward pass versus forward pass, side by side in one run.

For 3x3, 5x5, 9x9, 15x15 and 31x31 random and gaussian kernels, float32 and
float64, times ``correlate`` (the forward), ``kernel_grad`` and
``input_grad`` on one RGB image (median of ``--runs``, the three taking turns
in every round), and PyTorch CPU autograd (``conv2d`` forward + ``backward``,
depthwise, same image) when torch is installed (it is never a dependency).
``--busy`` repeats the whole table with one CPU-bound process beside it.

Targets (issue 13): each gradient <= 2x the forward at 3x3 and 5x5, <= 3x at
9x9 and above; faster than torch's backward; beside a busy process no call
slower than 2.5x its idle time.

Usage::

    python benchmarks/bench_grad.py [--size 1080x1920] [--runs 5] [--kernels 3,5,9,15,31]
                                    [--dtypes float32,float64] [--threads N] [--busy]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np

from convcli.engine import correlate, default_threads
from convcli.grad import input_grad, kernel_grad

SEED = 20240601


def kernel(kind: str, k: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "random":
        return rng.normal(size=(k, k))
    v = np.exp(-0.5 * ((np.arange(k) - k // 2) / max(k / 6, 0.5)) ** 2)
    w = np.outer(v, v)
    return w / w.sum()


def torch_step(x: np.ndarray, w: np.ndarray, g: np.ndarray) -> Callable[[], object] | None:
    """Torch forward + backward of the same depthwise correlation, or None without torch."""
    try:
        import torch
    except ImportError:
        return None
    c = x.shape[2]
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))[None])
    wt = torch.from_numpy(
        np.ascontiguousarray(np.broadcast_to(w, (c, 1, *w.shape))).astype(x.dtype)
    )
    gt = torch.from_numpy(np.ascontiguousarray(g.transpose(2, 0, 1))[None])
    pad = w.shape[0] // 2

    def step() -> object:
        xx = xt.clone().requires_grad_(True)
        ww = wt.clone().requires_grad_(True)
        xp = torch.nn.functional.pad(xx, (pad, pad, pad, pad), mode="reflect")
        y = torch.nn.functional.conv2d(xp, ww, groups=c)
        y.backward(gt)
        return ww.grad

    return step


def ours(
    x: np.ndarray, w: np.ndarray, g: np.ndarray, dt: np.dtype, threads: int | None
) -> dict[str, Callable[[], object]]:
    """convcli's forward and both gradients of one case."""
    return {
        "forward": lambda: correlate(x, w, dtype=dt, threads=threads),
        "kernel_grad": lambda: kernel_grad(x, w, g, dtype=dt, threads=threads),
        "input_grad": lambda: input_grad(x, w, g, dtype=dt, threads=threads),
    }


def time_turns(fns: dict[str, Callable[[], object]], runs: int) -> dict[str, float]:
    """Median milliseconds of each function, the functions taking turns in every round."""
    for fn in fns.values():
        fn()  # warm-up
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: 1e3 * statistics.median(ts) for name, ts in times.items()}


def table(args: argparse.Namespace) -> dict[tuple[str, str, int], dict[str, float]]:
    h, w = (int(v) for v in args.size.lower().split("x"))
    rng = np.random.default_rng(SEED)
    results = {}
    print(
        f"{'dtype':8} {'kernel':12} {'forward':>9} {'kernel_grad':>16} {'input_grad':>16}"
        f" {'torch fwd+bwd':>14}"
    )
    for dtn in args.dtypes.split(","):
        dt = np.dtype(dtn)
        x = rng.uniform(size=(h, w, 3)).astype(dt)
        g = rng.normal(size=(h, w, 3)).astype(dt)
        for k in (int(s) for s in args.kernels.split(",")):
            for kind in ("random", "gaussian"):
                wk = kernel(kind, k, rng)
                fns = ours(x, wk, g, dt, args.threads)
                step = torch_step(x, wk, g)
                if step is not None:
                    fns["torch"] = step
                ms = time_turns(fns, args.runs)
                results[(dtn, kind, k)] = ms
                f = ms["forward"]
                tt = f"{ms['torch']:14.0f}" if "torch" in ms else f"{'-':>14}"
                print(
                    f"{dtn:8} {kind + ' ' + str(k):12} {f:9.1f}"
                    f" {ms['kernel_grad']:9.1f} ({ms['kernel_grad'] / f:4.1f}x)"
                    f" {ms['input_grad']:9.1f} ({ms['input_grad'] / f:4.1f}x) {tt}",
                    flush=True,
                )
    return results


def _spin(stop: float) -> None:
    while time.time() < stop:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1080x1920", help="image HxW")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--kernels", default="3,5,9,15,31")
    parser.add_argument("--dtypes", default="float32,float64")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--busy", action="store_true", help="also run beside a busy process")
    args = parser.parse_args()
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores,"
        f" threads {args.threads or default_threads()}, image {args.size}x3, median of {args.runs}"
    )
    idle = table(args)
    if not args.busy:
        return
    print("\nbeside one CPU-bound process:")
    busy = multiprocessing.Process(target=_spin, args=(time.time() + 3600,), daemon=True)
    busy.start()
    try:
        loaded = table(args)
    finally:
        busy.terminate()
        busy.join()
    worst = max(
        (loaded[key][name] / idle[key][name], key, name)
        for key in idle
        for name in idle[key]
        if name != "torch"
    )
    print(f"worst slowdown beside the busy process: {worst[0]:.2f}x ({worst[1]}, {worst[2]})")


if __name__ == "__main__":
    main()
