"""Scale-out benchmark (SPEC section 10): a huge tiled BigTIFF, and a batch of many files.

Huge image: a SIZE x SIZE x 3 uint8 tiled BigTIFF (generated tile by tile, never
whole in memory) filtered with a 3x3 and a 15x15 kernel into ``.zarr`` and into a
tiled TIFF, on local threads and on ``--scheduler local:2``, each run a
``convcli filter`` subprocess whose process tree is polled for the peak RSS of
every process.  Beside it, the same kernel on a 4096x4096 crop, scaled by area
(the overhead target), and ``pyvips`` (``conv`` with ``access="sequential"``)
when it is installed.

Batch: N small PNGs, ``--scheduler local:2`` beside ``--jobs 2`` (wall time of the
command, cluster start included), and the overhead per file on a warm cluster
(:func:`convcli.dask.filter_files` on a running LocalCluster beside
:func:`convcli.runner.run_all` in this process).

    python benchmarks/bench_scale.py --size 20000 --files 2000 --repeats 3

Timings are medians of ``--repeats`` runs, contenders taking turns.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

KERNELS = {"3x3": "sharpen", "15x15": "gaussian:sigma=2.3"}  # sigma 2.3: a 15x15 kernel


def make_tiff(path: Path, size: int, tile: int = 512) -> None:
    import tifffile

    rng = np.random.default_rng(0)
    noise = rng.integers(0, 64, size=(tile, tile, 3), dtype=np.uint8)

    def tiles():
        for r in range(0, size, tile):
            for c in range(0, size, tile):
                base = np.uint8((r // tile * 7 + c // tile * 13) % 192)
                yield noise + base

    with tifffile.TiffWriter(path, bigtiff=True) as tw:
        tw.write(tiles(), shape=(size, size, 3), dtype=np.uint8, tile=(tile, tile),
                 photometric="rgb")  # fmt: skip


def crop_tiff(src: Path, dst: Path, n: int) -> None:
    import tifffile
    import zarr

    with tifffile.TiffFile(src) as tif:
        part = zarr.open_array(tif.series[0].aszarr(), mode="r")[:n, :n]
    tifffile.imwrite(dst, part, tile=(512, 512), bigtiff=True, photometric="rgb")


def run_measured(args: list[str]) -> tuple[float, float, float]:
    """Run a command: (seconds, peak RSS of the main process, of any other process) in MB."""
    env = dict(os.environ)
    start = time.perf_counter()
    proc = psutil.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peaks: dict[int, int] = {}
    while proc.poll() is None:
        try:
            family = [proc, *proc.children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        for p in family:
            try:
                peaks[p.pid] = max(peaks.get(p.pid, 0), p.memory_info().rss)
            except psutil.NoSuchProcess:
                pass
        time.sleep(0.1)
    seconds = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"failed: {' '.join(args)}\n{proc.stderr.read().decode()[-2000:]}")
    main = peaks.pop(proc.pid, 0)
    return seconds, main / 2**20, max(peaks.values(), default=0) / 2**20


def vips_seconds(src: Path, dst: Path, kernel: str) -> float | None:
    try:
        import pyvips
    except ImportError:
        return None
    start = time.perf_counter()
    image = pyvips.Image.new_from_file(str(src), access="sequential")
    if kernel == "3x3":
        mask = pyvips.Image.new_from_array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]])
        out = image.conv(mask, precision="float")
    else:
        mask = pyvips.Image.gaussmat(2.3, 0.01, separable=True)
        out = image.convsep(mask, precision="float")
    out.cast("uchar").tiffsave(str(dst), tile=True, bigtiff=True)
    return time.perf_counter() - start


def bench_image(work: Path, size: int, repeats: int, chunks: int) -> None:
    big, crop = work / "big.tif", work / "crop.tif"
    t0 = time.perf_counter()
    make_tiff(big, size)
    crop_tiff(big, crop, min(4096, size))
    print(f"made {size}x{size}x3 tiled BigTIFF in {time.perf_counter() - t0:.1f} s")
    convcli = [sys.executable, "-m", "convcli", "filter"]
    print(
        "\n| kernel | output | where | seconds (median) | peak RSS client MB | peak RSS worker MB |"
    )
    print("|---|---|---|---|---|---|")
    for kname, spec in KERNELS.items():
        for ext in ("zarr", "tif"):
            rows: dict[str, list[tuple[float, float, float]]] = {"threads": [], "local:2": []}
            for _ in range(repeats):
                for where in rows:
                    out = work / f"out.{ext}"
                    extra = ["--scheduler", "local:2"] if where != "threads" else []
                    args = [*convcli, str(big), "-k", spec, "-o", str(out), "--chunks",
                            str(chunks), "-q", *extra]  # fmt: skip
                    rows[where].append(run_measured(args))
                    shutil.rmtree(out, ignore_errors=True) if ext == "zarr" else out.unlink()
            for where, runs in rows.items():
                sec = statistics.median(r[0] for r in runs)
                print(f"| {kname} | {ext} | {where} | {sec:.1f} | {max(r[1] for r in runs):.0f} "
                      f"| {max(r[2] for r in runs):.0f} |")  # fmt: skip
        crop_runs = []
        for _ in range(repeats):
            out = work / "crop-out.tif"
            args = [*convcli, str(crop), "-k", spec, "-o", str(out), "--chunks", str(chunks),
                    "-q", "--scheduler", "local:2"]  # fmt: skip
            crop_runs.append(run_measured(args)[0])
        scaled = statistics.median(crop_runs) * (size / min(4096, size)) ** 2
        print(f"| {kname} | tif | 4096 crop on local:2, x area | {scaled:.1f} | | |")
        vips = vips_seconds(big, work / "vips.tif", kname)
        if vips is not None:
            print(f"| {kname} | tif | pyvips (sequential) | {vips:.1f} | | |")


def bench_batch(work: Path, files: int, repeats: int) -> None:
    from PIL import Image

    folder = work / "batch"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(files):
        a = rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
        Image.fromarray(a).save(folder / f"f{i:05d}.png", compress_level=1)
    pattern = str(folder / "*.png")
    convcli = [sys.executable, "-m", "convcli", "filter", pattern, "-k", "sharpen", "-q"]
    runs: dict[str, list[float]] = {"--jobs 2": [], "--scheduler local:2": []}
    for _ in range(repeats):
        for name in runs:
            out = work / "bout"
            runs[name].append(run_measured([*convcli, "-d", str(out), *name.split()])[0])
            shutil.rmtree(out)
    print(f"\n| batch of {files} 64x64 PNGs, sharpen | seconds (median) | ms per file |")
    print("|---|---|---|")
    for name, values in runs.items():
        sec = statistics.median(values)
        print(f"| {name} (whole command) | {sec:.1f} | {1000 * sec / files:.2f} |")
    warm_overhead(work, folder, min(files, 500), repeats)


def warm_overhead(work: Path, folder: Path, n: int, repeats: int) -> None:
    from distributed import Client, LocalCluster

    from convcli.dask import filter_files
    from convcli.filters import FilterOptions
    from convcli.kernelspec import load_kernel
    from convcli.runner import FilterJob, run_all

    job = FilterJob(kernels=[load_kernel("sharpen")], options=FilterOptions(threads=1))
    out = work / "warm"
    out.mkdir()
    tasks = [(str(p), str(out / p.name)) for p in sorted(folder.iterdir())[:n]]
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1",
                     dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR) as cluster,
        Client(cluster) as client,
    ):  # fmt: skip
        list(filter_files(client, job, tasks[:20]))  # warm up the workers
        local, remote = [], []
        for _ in range(repeats):
            t = time.perf_counter()
            list(run_all(job, tasks))
            local.append(time.perf_counter() - t)
            t = time.perf_counter()
            list(filter_files(client, job, tasks))
            remote.append(time.perf_counter() - t)
    per_local = 1000 * statistics.median(local) / n
    per_remote = 1000 * statistics.median(remote) / n
    print(f"| warm LocalCluster(2), {n} files, filter_files | {statistics.median(remote):.2f} "
          f"| {per_remote:.2f} |")  # fmt: skip
    print(f"| this process, run_all (1 process) | {statistics.median(local):.2f} "
          f"| {per_local:.2f} |")  # fmt: skip
    print(
        f"(cluster time per file x 2 workers - local time per file: "
        f"{2 * per_remote - per_local:.2f} ms overhead per file)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=20000)
    parser.add_argument("--chunks", type=int, default=1024)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-image", action="store_true")
    parser.add_argument("--skip-batch", action="store_true")
    opts = parser.parse_args()
    print(f"cores: {os.cpu_count()}; python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        work = Path(tmp)
        if not opts.skip_image:
            bench_image(work, opts.size, opts.repeats, opts.chunks)
        if not opts.skip_batch:
            bench_batch(work, opts.files, opts.repeats)


if __name__ == "__main__":
    main()
