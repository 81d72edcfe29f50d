"""Two source trees of convcli side by side: engine speed and start-up, taking turns.

For checking that a change which should not affect speed (a restructure, say)
does not: each round runs every measurement once for tree A, then once for
tree B (then B first in the next round), each in a fresh process with
``PYTHONPATH`` set to that tree, so a slow spell of a shared machine hits both
alike.  Prints the medians of ``--rounds`` rounds and the median of the
per-round ratios B/A.

Engine rows time one :func:`convcli.correlate` call (planned method, after one
warm-up call in the same process) on a 2160x3840x3 float32 image with the
reflect border; start-up rows time whole ``python -m convcli ...`` commands.

Usage::

    python benchmarks/bench_ab.py TREE_A TREE_B [--rounds 7] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

CHILD = r"""
import json, sys, time
import numpy as np
import convcli
r = np.random.default_rng(0)
x = r.random((2160, 3840, 3), dtype=np.float32)
cases = {
    "3x3 random": (r.standard_normal((3, 3)), {}),
    "sharpen": (np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], float), {}),
    "9x9 gaussian": (np.outer(*[np.exp(-((np.arange(9) - 4) ** 2) / 8.0)] * 2), {}),
    "15x15 random": (r.standard_normal((15, 15)), {}),
    "31x31 box": (np.ones((31, 31)) / 961, {}),
    "3x3 stride 2": (r.standard_normal((3, 3)), {"stride": 2}),
    "3x3x3 -> 1 (3-D)": (r.standard_normal((3, 3, 3)), {}),
}
threads = int(sys.argv[1]) if sys.argv[1] != "None" else None
out = {}
for name, (w, kw) in cases.items():
    convcli.correlate(x, w, threads=threads, **kw)
    t = time.perf_counter()
    convcli.correlate(x, w, threads=threads, **kw)
    out[name] = (time.perf_counter() - t) * 1000
print(json.dumps(out))
"""

STARTUP = {
    "convcli --help": ["--help"],
    "convcli kernels list": ["kernels", "list"],
    "convcli kernels list --json": ["kernels", "list", "--json"],
}


def _env(tree: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": tree}
    env.pop("CONVCLI_KERNEL_PATH", None)
    return env


def _engine(tree: str, threads: int | None) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(threads)],
        env=_env(tree),
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(proc.stdout))


def _startup(tree: str) -> dict[str, float]:
    out = {}
    for name, args in STARTUP.items():
        t = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "convcli", *args],
            env=_env(tree),
            stdout=subprocess.DEVNULL,
            check=True,
        )
        out[name] = (time.perf_counter() - t) * 1000
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tree_a")
    parser.add_argument("tree_b")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    trees = [os.path.abspath(args.tree_a), os.path.abspath(args.tree_b)]
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load {os.getloadavg()[0]:.2f}"
    )
    print(f"A = {trees[0]}\nB = {trees[1]}\nrounds = {args.rounds}, threads = {args.threads}")
    for tree in trees:  # warm-up: bytecode written, caches filled
        _startup(tree)
    samples: list[dict[str, list[float]]] = [{}, {}]
    for rnd in range(args.rounds):
        order = (0, 1) if rnd % 2 == 0 else (1, 0)
        for i in order:
            row = {**_startup(trees[i]), **_engine(trees[i], args.threads)}
            for name, ms in row.items():
                samples[i].setdefault(name, []).append(ms)
    print(f"\n{'row':28} {'A ms':>9} {'B ms':>9} {'B/A':>6}")
    for name in samples[0]:
        a, b = samples[0][name], samples[1][name]
        ratio = statistics.median(y / x for x, y in zip(a, b, strict=True))
        print(f"{name:28} {statistics.median(a):9.1f} {statistics.median(b):9.1f} {ratio:6.2f}")


if __name__ == "__main__":
    main()
