"""End-to-end timing: ``convcli filter`` on a 3840x2160 RGB PNG beside ImageMagick and vips.

Usage::

    python benchmarks/bench_filter_e2e.py [--runs 5] [--kernels sharpen,gaussian:size=15,sigma=3]
        [-k SPEC ...] [--skip-scipy]

Generates a deterministic 3840x2160 RGB PNG (smooth gradients plus noise, so
PNG compression does realistic work), then, for each kernel (default the 3x3
``sharpen`` and the 15x15 ``gaussian:size=15,sigma=3``), times in the same run:

* ``convcli filter big.png -k KERNEL -o out.png -q`` as a subprocess (whole
  CLI: start-up, decode, filter, encode, atomic write);
* ``vips conv big.png out.png K.mat --precision float`` when ``vips`` is on
  PATH, with the kernel's exact weights in a libvips matrix file (header
  ``W H 1 OFFSET``); for a kernel of integer weights also ``--precision
  integer`` (libvips' fixed-point vector path, exact for such kernels);
* ImageMagick ``-morphology Convolve 'WxH: w,w,...'`` when ImageMagick is
  found (``magick``, else ``/usr/bin/convert``, else ``convert`` on PATH; a
  ``convert`` whose ``-version`` does not name ImageMagick is skipped);
* the same work in-process with Pillow + ``scipy.ndimage.correlate`` (decode,
  filter each channel in float32 with reflect border, round, clip, encode);
* the engine alone (``convcli.correlate``) and ``scipy.ndimage.correlate``
  alone on the decoded float32 array.

All tools get the same numbers: ``convcli.load_kernel(spec).effective_weights``
(and its ``offset``).  libvips' ``conv`` correlates (applies the matrix as
written, like convcli); ImageMagick's ``Convolve`` reflects the kernel, so it
gets the weights rotated by 180 degrees, which also gives a correlation.
ImageMagick does not normalize a user-given kernel; an offset is passed as
``-bias P%`` of the quantum range.  External tools are used only for 2-D
kernels with odd sides and the centre anchor (their border and anchor
conventions differ otherwise).

Each external command (``convcli filter`` included) runs in a child forked by
a bare ``python -I -S`` launcher that reaps it with ``os.wait4``, giving its
wall time and its peak resident set size (``ru_maxrss``); see
:data:`LAUNCHER` for why it is not reaped straight from this script.

The Markdown table lists, per kernel and tool, the median wall time of
``--runs`` runs, its ratio to ``convcli filter`` in the same run, the median /
max peak RSS in MB (subprocesses only) and the output file size.  Outputs are
decoded with Pillow and compared with convcli's on the interior (a border of
``k // 2`` pixels is ignored, since border handling differs); libvips and
ImageMagick truncate float results to 8 bits where convcli rounds to nearest,
so differences of 1 are expected for non-integer weights.  The issue's
targets are checked at the end: faster than ImageMagick at 3x3 and 15x15,
within 1.2x of ``vips conv`` and at most 150 MB peak RSS at 3x3.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import scipy
import scipy.ndimage as ndi
from PIL import Image

import convcli
from convcli.kernelspec import Kernel

DEFAULT_KERNELS = "sharpen,gaussian:size=15,sigma=3"
#: Issue targets: convcli / ImageMagick below this (3x3 and 15x15) ...
IM_TARGET = 1.0
#: ... convcli / vips conv at most this (3x3) ...
VIPS_TARGET = 1.2
#: ... and convcli's peak RSS at most this many MB (3x3).
RSS_TARGET_MB = 150.0

CLI_TOOL = "convcli filter"
VIPS_TOOL = "vips conv --precision float"
IM_TOOL = "ImageMagick -morphology Convolve"

# Runs argv[1:] in a forked child and prints "exit-code seconds ru_maxrss-KiB".
# Linux carries a process's peak RSS across exec (and subprocess shares the
# parent's memory map until exec), so a child reaped straight from this script
# reports at least this script's own peak (~600 MB once the image exists).  The
# launcher is a bare interpreter (python -I -S, about 5 MB) started afresh for
# each run: the command forked from it starts near that floor, and the time
# excludes the launcher's start-up.
LAUNCHER = """\
import os, sys, time
t = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
        os.execvp(sys.argv[1], sys.argv[1:])
    except OSError as e:
        os.write(2, f"{sys.argv[1]}: {e}\\n".encode())
    os._exit(127)
_, status, usage = os.wait4(pid, 0)
t = time.perf_counter() - t
print(os.waitstatus_to_exitcode(status), repr(t), usage.ru_maxrss)
"""

# A comma-separated piece that carries on the generator parameters of the
# previous spec ("sigma=3" or "15" after "gaussian:size=15") rather than
# starting a new kernel.
_PARAM_PIECE_RE = re.compile(
    r"\s*(?:[A-Za-z_]\w*\s*=.*|[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*)\Z"
)


@dataclass
class Row:
    """One line of the results table."""

    kernel: str
    tool: str
    seconds: float
    peak_mb: tuple[float, float] | None = None  # (median, max) over the runs
    output: Path | None = None


def make_image(path: Path) -> None:
    """Write the deterministic 3840x2160 RGB test PNG to ``path``."""
    rng = np.random.default_rng(2026)
    h, w = 2160, 3840
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = 127 + 100 * np.sin(xx / 211) * np.cos(yy / 157)
    g = 127 + 100 * np.sin((xx + yy) / 301)
    b = 255 * xx / w
    img = np.stack([r, g, b], -1) + rng.normal(0, 6, size=(h, w, 3))
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path)


def median_time(fn: Callable[[], object], runs: int) -> float:
    """Median wall time of ``runs`` calls of ``fn``, in seconds."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def run_child(cmd: list[str]) -> tuple[float, float]:
    """Run ``cmd`` through :data:`LAUNCHER`; return its wall time in s and its peak RSS in MB.

    Raises ``RuntimeError`` with the child's stderr if it fails.
    """
    # An installed convcli has its bytecode compiled (pip does it); with
    # PYTHONDONTWRITEBYTECODE set (as on the development machine) an editable
    # install would recompile its modules on every run (about 0.1 s).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryFile() as err:
        proc = subprocess.run(
            [sys.executable, "-I", "-S", "-c", LAUNCHER, *cmd],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            check=False,
        )
        fields = proc.stdout.split()
        if proc.returncode != 0 or len(fields) != 3 or fields[0] != b"0":
            err.seek(0)
            text = err.read().decode(errors="replace").strip()
            code = fields[0].decode() if len(fields) == 3 else f"launcher {proc.returncode}"
            raise RuntimeError(f"{cmd[0]} exited with {code}: {text[-500:]}")
    return float(fields[1]), int(fields[2]) / 1024  # ru_maxrss is in KiB on Linux


def time_child(cmd: list[str], runs: int) -> tuple[float, tuple[float, float]]:
    """Median wall time of ``runs`` runs of ``cmd`` and (median, max) peak RSS in MB."""
    results = [run_child(cmd) for _ in range(runs)]
    peaks = [mb for _, mb in results]
    return statistics.median(s for s, _ in results), (statistics.median(peaks), max(peaks))


def first_line(cmd: list[str]) -> str | None:
    """First line of ``cmd``'s stdout, or ``None`` if it cannot run or fails."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = proc.stdout.strip().splitlines()
    return lines[0].strip() if proc.returncode == 0 and lines else None


def find_vips() -> tuple[str | None, str]:
    """The ``vips`` executable (or ``None``) and its version or why it is skipped."""
    exe = shutil.which("vips")
    if exe is None:
        return None, "not on PATH"
    version = first_line([exe, "--version"])
    return (exe, version) if version else (None, f"{exe} --version failed")


def find_imagemagick() -> tuple[str | None, str]:
    """The ImageMagick executable (or ``None``) and its version line or why it is skipped.

    Tries ``magick``, then ``/usr/bin/convert``, then ``convert`` on PATH; a
    program whose ``-version`` does not name ImageMagick (GraphicsMagick, a
    stand-in script) is not used.
    """
    candidates = [shutil.which("magick"), "/usr/bin/convert", shutil.which("convert")]
    tried = []
    for exe in candidates:
        if exe is None or exe in tried or not os.path.exists(exe):
            continue
        tried.append(exe)
        version = first_line([exe, "-version"])
        if version and "ImageMagick" in version:
            return exe, version.removeprefix("Version: ")
    return None, "not found" if not tried else f"no ImageMagick among {', '.join(tried)}"


def cpu_model() -> str:
    """The CPU model from /proc/cpuinfo, else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def split_kernels(text: str) -> list[str]:
    """Split a comma list of kernel specs, keeping generator parameters together.

    ``"sharpen,gaussian:size=15,sigma=3"`` gives ``["sharpen",
    "gaussian:size=15,sigma=3"]``: a piece that is ``key=value`` or a number
    continues the previous spec when that one has ``:`` parameters.
    """
    specs: list[str] = []
    for piece in text.split(","):
        if specs and ":" in specs[-1] and _PARAM_PIECE_RE.match(piece):
            specs[-1] += "," + piece.strip()
        elif piece.strip():
            specs.append(piece.strip())
    return specs


def number(w: float) -> str:
    """``w`` in positional notation, shortest round-trip digits (no exponent for IM's parser)."""
    return np.format_float_positional(w, unique=True, trim="-")


def write_vips_matrix(path: Path, weights: npt.NDArray[np.float64], offset: float) -> None:
    """Write a libvips matrix file: header ``W H scale offset``, then one row per line."""
    kh, kw = weights.shape
    lines = [f"{kw} {kh} 1 {number(offset)}"]
    lines += [" ".join(number(w) for w in row) for row in weights]
    path.write_text("\n".join(lines) + "\n")


def imagemagick_kernel(weights: npt.NDArray[np.float64]) -> str:
    """ImageMagick ``WxH: ...`` text for ``-morphology Convolve`` that correlates with ``weights``.

    ImageMagick's Convolve reflects the kernel (its Correlate does not), so the
    weights are given rotated by 180 degrees.
    """
    kh, kw = weights.shape
    flipped = weights[::-1, ::-1]
    return f"{kw}x{kh}: " + ",".join(number(w) for w in flipped.ravel())


def read_rgb(path: Path) -> npt.NDArray[np.int16]:
    """Decode an image with Pillow as 8-bit RGB."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.int16)


def difference(a: npt.NDArray[np.int16], b: npt.NDArray[np.int16], by: int, bx: int) -> str:
    """Describe ``a - b``, ignoring ``by`` rows and ``bx`` columns at each edge.

    Gives the max absolute difference and how many samples are lower and
    higher in ``a`` (truncation shows as lower only).
    """
    if a.shape != b.shape:
        return f"shapes differ: {a.shape} vs {b.shape}"
    h, w = a.shape[:2]
    d = a[by : h - by, bx : w - bx] - b[by : h - by, bx : w - bx]
    parts = [f"max |diff| {int(np.abs(d).max())}"]
    for word, count in (("lower", np.count_nonzero(d < 0)), ("higher", np.count_nonzero(d > 0))):
        if count:
            parts.append(f"{count} samples {word} ({100 * count / d.size:.3g}%)")
    return ", ".join(parts)


def megabytes(path: Path | None) -> str:
    """Size of ``path`` in MB (1e6 bytes), or a dash."""
    return f"{path.stat().st_size / 1e6:.2f}" if path is not None and path.exists() else "-"


def kernel_label(spec: str, kernel: Kernel) -> str:
    """``spec`` and the kernel size, width x height: ``"sharpen (3x3)"``."""
    return f"{spec} ({'x'.join(str(s) for s in kernel.shape[::-1])})"


def external_commands(
    kernel: Kernel, src: Path, stem: Path, vips: str | None, magick: str | None
) -> list[tuple[str, list[str], Path]] | None:
    """``(tool, command, output)`` for vips and ImageMagick on ``src``, as available.

    Files are written next to ``stem`` (``stem.mat``, ``stem_vips.png``, ...).
    Returns ``None`` for a kernel they cannot be given the same way as convcli:
    not 2-D, an even side, or an anchor off the centre.
    """
    weights, offset = kernel.effective_weights, kernel.offset
    if weights.ndim != 2 or any(s % 2 == 0 for s in weights.shape):
        return None
    if kernel.effective_anchor != (weights.shape[0] // 2, weights.shape[1] // 2):
        return None
    commands = []
    if vips is not None:
        mat = stem.with_suffix(".mat")
        write_vips_matrix(mat, weights, offset)
        precisions = ["float"]
        if np.array_equal(weights, np.rint(weights)) and offset == round(offset):
            precisions.append("integer")  # exact for integer weights: the fixed-point path
        for precision in precisions:
            out = stem.with_name(f"{stem.name}_vips_{precision}.png")
            cmd = [vips, "conv", str(src), str(out), str(mat), "--precision", precision]
            commands.append((f"vips conv --precision {precision}", cmd, out))
    if magick is not None:
        out = stem.with_name(f"{stem.name}_im.png")
        # -bias is in quantum units; a percentage is independent of the quantum depth.
        bias = ["-bias", f"{number(100 * offset / 255)}%"] if offset else []
        cmd = [magick, str(src), *bias, "-morphology", "Convolve", imagemagick_kernel(weights)]
        commands.append((IM_TOOL, [*cmd, str(out)], out))
    return commands


def print_targets(kernels: list[tuple[str, Kernel]], rows: list[Row]) -> None:
    """Print the issue's targets for the kernels they concern (3x3, 15x15)."""
    print("issue targets:")
    for spec, kernel in kernels:
        label = kernel_label(spec, kernel)
        by_tool = {r.tool: r for r in rows if r.kernel == label}
        mine = by_tool[CLI_TOOL]
        im, vips = by_tool.get(IM_TOOL), by_tool.get(VIPS_TOOL)
        if kernel.shape in ((3, 3), (15, 15)) and im is not None:
            ratio = mine.seconds / im.seconds
            met = "met" if ratio < IM_TARGET else "NOT met"
            print(f"  {label}: convcli / ImageMagick = {ratio:.2f} (want < {IM_TARGET:g}): {met}")
        if kernel.shape == (3, 3) and vips is not None:
            ratio = mine.seconds / vips.seconds
            met = "met" if ratio <= VIPS_TARGET else "NOT met"
            print(f"  {label}: convcli / vips conv = {ratio:.2f} (want <= {VIPS_TARGET:g}): {met}")
        if kernel.shape == (3, 3) and mine.peak_mb is not None:
            worst = mine.peak_mb[1]
            met = "met" if worst <= RSS_TARGET_MB else "NOT met"
            print(
                f"  {label}: convcli peak RSS {worst:.0f} MB (max of the runs; "
                f"want <= {RSS_TARGET_MB:g}): {met}"
            )


def in_process(
    src: Path,
    x: npt.NDArray[np.float32],
    weights: npt.NDArray[np.float64],
    offset: float,
    out: Path,
) -> tuple[Callable[[], None], Callable[[], None], Callable[[], None]]:
    """The in-process workloads for one 2-D kernel.

    Returns Pillow + scipy end to end (decode ``src``, correlate each channel in
    float32 with reflect border, add ``offset``, round, clip, encode to
    ``out``), the convcli engine alone on ``x`` and scipy alone on ``x``.
    """
    w32 = weights.astype(np.float32)

    def run_scipy() -> None:
        img = np.asarray(Image.open(src), dtype=np.float32)
        y = np.empty_like(img)
        for c in range(3):
            ndi.correlate(img[..., c], w32, output=y[..., c], mode="reflect")
        y += offset
        Image.fromarray(np.clip(np.rint(y), 0, 255).astype(np.uint8)).save(out)

    def engine() -> None:
        convcli.correlate(x, w32)

    def scipy_engine() -> None:
        y = np.empty_like(x)
        for c in range(3):
            ndi.correlate(x[..., c], w32, output=y[..., c], mode="reflect")

    return run_scipy, engine, scipy_engine


def main() -> None:
    """Parse the options, run every tool on every kernel and print the report."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--runs", type=int, default=5, help="timed runs per row (median)")
    ap.add_argument(
        "--kernels",
        default=DEFAULT_KERNELS,
        help=f"comma list of kernel specs (default {DEFAULT_KERNELS!r})",
    )
    ap.add_argument(
        "-k",
        "--kernel",
        action="append",
        help="a kernel spec, repeatable; replaces --kernels (for inline matrices with commas)",
    )
    ap.add_argument(
        "--skip-scipy", action="store_true", help="skip the in-process Pillow/scipy/engine rows"
    )
    args = ap.parse_args()
    if args.runs < 1:
        ap.error("--runs must be at least 1")

    specs = args.kernel or split_kernels(args.kernels)
    kernels = [(spec, convcli.load_kernel(spec)) for spec in specs]
    exe = shutil.which("convcli")
    cli = [exe] if exe else [sys.executable, "-m", "convcli"]
    vips, vips_version = find_vips()
    magick, magick_version = find_imagemagick()

    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    load = f", load average {os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else ""
    print(
        f"machine: {platform.platform()}, {cpu_model()}, {cores} cores"
        + (f" ({usable} usable)" if usable != cores else "")
        + f", Python {platform.python_version()}{load}"
    )
    print(
        f"convcli {convcli.__version__}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"Pillow {Image.__version__}"
    )
    print(f"vips: {vips_version}")
    print(f"ImageMagick: {magick_version}")
    print(f"image 3840x2160 RGB 8-bit PNG; median of {args.runs} runs")

    rows: list[Row] = []
    agreement: list[str] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        src = tmpdir / "big.png"
        make_image(src)
        print(f"input: {megabytes(src)} MB")
        x = None if args.skip_scipy else np.asarray(Image.open(src), dtype=np.float32)

        for n, (spec, kernel) in enumerate(kernels):
            weights = kernel.effective_weights
            offset = kernel.offset
            label = kernel_label(spec, kernel)
            print(f"kernel {label}, sum {weights.sum():.6g}, offset {offset:g} ...", flush=True)

            out_cli = tmpdir / f"k{n}_convcli.png"
            cli_cmd = [*cli, "filter", str(src), "-k", spec, "-o", str(out_cli), "-q"]
            seconds, peak = time_child(cli_cmd, args.runs)
            rows.append(Row(label, CLI_TOOL, seconds, peak, out_cli))
            reference = read_rgb(out_cli)

            by, bx = weights.shape[-2] // 2, weights.shape[-1] // 2
            commands = external_commands(kernel, src, tmpdir / f"k{n}", vips, magick)
            if commands is None:
                commands = []
                notes.append(
                    f"{label}: vips and ImageMagick skipped (not a centred odd 2-D kernel)"
                )
            for tool, cmd, out in commands:
                try:
                    seconds, peak = time_child(cmd, args.runs)
                except RuntimeError as e:
                    notes.append(f"{label}: {tool} failed: {e}")
                    continue
                rows.append(Row(label, tool, seconds, peak, out))
                agreement.append(
                    f"{label}: {tool} vs convcli (interior, {by}/{bx} px border ignored): "
                    + difference(read_rgb(out), reference, by, bx)
                )

            if x is None:
                continue
            if weights.ndim != 2:
                notes.append(f"{label}: in-process rows skipped (not a 2-D kernel)")
                continue
            out_scipy = tmpdir / f"k{n}_scipy.png"
            run_scipy, engine, scipy_engine = in_process(src, x, weights, offset, out_scipy)
            rows.append(
                Row(
                    label,
                    "Pillow + scipy.ndimage (in-process)",
                    median_time(run_scipy, args.runs),
                    output=out_scipy,
                )
            )
            agreement.append(
                f"{label}: Pillow + scipy vs convcli (whole image, same reflect border): "
                + difference(read_rgb(out_scipy), reference, 0, 0)
            )
            rows.append(
                Row(label, "convcli.correlate (engine only)", median_time(engine, args.runs))
            )
            rows.append(
                Row(
                    label,
                    "scipy.ndimage.correlate (engine only)",
                    median_time(scipy_engine, args.runs),
                )
            )

        print()
        print("| kernel | tool | median s | ratio to convcli | peak MB | output MB |")
        print("|---|---|---:|---:|---:|---:|")
        base = {r.kernel: r.seconds for r in rows if r.tool == CLI_TOOL}
        for r in rows:
            peak = f"{r.peak_mb[0]:.0f} / {r.peak_mb[1]:.0f}" if r.peak_mb else "-"
            print(
                f"| {r.kernel} | {r.tool} | {r.seconds:.3f} | {r.seconds / base[r.kernel]:.2f} "
                f"| {peak} | {megabytes(r.output)} |"
            )
    print()
    print(
        "ratio = tool / convcli filter (above 1: slower than convcli); "
        "peak MB = median / max ru_maxrss of the child over the runs"
    )
    print()
    print("output agreement (Pillow-decoded 8-bit RGB):")
    for line in agreement:
        print(f"  {line}")
    for line in notes:
        print(f"  note: {line}")

    print()
    print_targets(kernels, rows)


if __name__ == "__main__":
    main()
