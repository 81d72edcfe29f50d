"""Snapshot what convcli prints for a fixed set of commands, to compare two trees.

Used when restructuring code that must not change behaviour: run it on the
tree before and after, then ``diff -r`` the two output folders.  Each command
runs as ``python -m convcli`` with ``PYTHONPATH`` set to the tree, inside a
scratch folder holding copies of the samples; the snapshot keeps the exit code,
stdout, stderr and a SHA-256 of every file written.  Timings are replaced by
``<t>`` so that only behaviour differs.

Usage::

    python scripts/cli_snapshot.py TREE OUTDIR
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HELP = [
    [],
    ["--help"],
    ["--version"],
    ["filter", "--help"],
    ["kernels", "--help"],
    ["kernels", "list", "--help"],
    ["kernels", "show", "--help"],
    ["shape", "--help"],
    ["grad", "--help"],
    ["fit", "--help"],
]

PREP = [
    ["filter", "gray.png", "-k", "box:3", "-o", "gray-box.npy", "-q"],
]

RUNS = [
    ["kernels"],
    ["kernels", "list"],
    ["kernels", "list", "--json"],
    ["kernels", "list", "--category", "edge"],
    ["kernels", "list", "--category", "nope"],
    ["kernels", "show", "sobel-x"],
    ["kernels", "show", "sobel-x", "--json"],
    ["kernels", "show", "gaussian:sigma=1", "--json"],
    ["kernels", "show", "box:3", "--normalize", "--scale", "2", "--json"],
    ["kernels", "show", "3x3: 0,-1,0,-1,5,-1,0,-1,0", "--convolve"],
    ["kernels", "show", "emboss", "--convolve", "--json"],
    ["kernels", "show", "sepia", "--json"],
    ["kernels", "show", "nope"],
    ["kernels", "show", "1,2;3"],
    ["shape", "card.png", "-k", "sobel-x"],
    ["shape", "card.png", "-k", "sobel-x", "--json"],
    ["shape", "224x224x3", "--layer", "k=7,s=2,p=3,c=64", "--layer", "k=3,s=2,p=1"],
    ["shape", "224x224x3", "--layer", "k=7,s=2,p=3,c=64", "--layer", "k=3,s=2,p=1", "--json"],
    ["shape", "100x100", "-k", "7x3", "--stride", "2", "--dilation", "2", "--json"],
    ["shape", "10x10", "-k", "20", "--padding", "valid"],
    ["shape", "10x10", "-k", "20", "--padding", "valid", "--json"],
    ["shape", "10x10", "--layer", "q=3"],
    ["filter", "card.png", "-k", "sharpen", "-o", "sharp.png"],
    ["filter", "card.png", "-k", "sharpen", "-o", "sharp2.png", "--json"],
    ["filter", "card.png", "-k", "gaussian:sigma=2", "-k", "sobel-x", "--abs", "-o", "e.png"],
    ["filter", "card.png", "-k", "sobel-x", "--stride", "2", "--padding", "valid", "-o", "s.npy"],
    ["filter", "card.png", "-k", "box:5", "--border", "constant", "--cval", "7", "-o", "c.tif"],
    ["filter", "logo-rgba.png", "-k", "box:3", "-o", "a.png", "--alpha", "premultiply"],
    ["filter", "card.png", "gray.png", "logo-rgba.png", "-k", "box:3", "-d", "out", "--json"],
    [
        "filter",
        "card.png",
        "gray.png",
        "-k",
        "emboss",
        "-d",
        "out2",
        "--suffix",
        "-e",
        "--format",
        "jpg",
        "--quality",
        "80",
    ],
    ["filter", "card.png", "gray.png", "-k", "sharpen", "-d", "out3", "--jobs", "2", "--json"],
    ["filter", "card.png", "missing.png", "-k", "sharpen", "-d", "out4", "--json"],
    ["filter", "card.png", "-k", "sharpen", "--explain", "-o", "x.png"],
    [
        "filter",
        "card.png",
        "-k",
        "gaussian:sigma=3",
        "--precision",
        "float64",
        "--rescale",
        "-o",
        "r.png",
    ],
    ["filter", "card.png", "-k", "sharpen", "--repeat", "2", "--offset", "3", "-o", "rep.bmp"],
    ["filter", "missing.png", "-k", "sharpen", "-o", "x.png"],
    ["filter", "card.png", "-k", "nope", "-o", "x.png"],
    ["filter", "card.png", "-k", "nope", "-o", "x.png", "--json"],
    ["filter", "card.png", "-k", "1,2;3", "-o", "x.png"],
    ["filter", "card.png", "-k", "sharpen", "--stride", "0", "-o", "x.png"],
    ["filter", "card.png", "-k", "sharpen", "--border", "refelct", "-o", "x.png"],
    ["filter", "card.png", "-k", "sharpen", "--padding", "bogus", "-o", "x.png"],
    ["filter", "card.png", "-k", "sharpen", "--alpha", "bogus", "-o", "x.png"],
    ["filter", "card.png", "-k", "sharpen", "--precision", "float16", "-o", "x.png"],
    ["filter", "card.png", "-k", "sharpen", "-o", "x.xyz"],
    ["filter", "card.png", "gray.png", "-k", "sharpen", "-o", "x.png"],
    ["filter", "card.png", "-k", "sharpen"],
    ["filter", "card.png", "-k", "sharpen", "-o", "x.png", "--bogus"],
    ["filter", "card.png", "-k", "3x1: 1,2,3", "--max-pixels", "10", "-o", "x.png"],
    ["filter", "card.png", "-k", "(3,2,3,3).npy", "-o", "x.png"],
    ["filter", "card.png", "-k", "sharpen", "-o", "-"],
    ["filter", "card.png", "-k", "sharpen", "-o", "-", "--format", "png"],
    ["grad", "card.png", "-k", "sobel-x", "--loss", "sum", "--json"],
    ["grad", "card.png", "-k", "sobel-x", "--loss", "sum"],
    ["grad", "gray.png", "-k", "gaussian:sigma=1", "--target", "gray-box.npy", "--json"],
    [
        "grad",
        "gray.png",
        "-k",
        "3x3: 1,0,0,0,1,0,0,0,1",
        "--target",
        "gray-box.npy",
        "--loss",
        "l1",
        "--check",
        "--json",
    ],
    [
        "grad",
        "gray.png",
        "-k",
        "box:3",
        "--target",
        "gray-box.npy",
        "--save-kernel-grad",
        "gk.json",
        "--save-input-grad",
        "gx.png",
        "--stride",
        "2",
        "--padding",
        "valid",
    ],
    [
        "grad",
        "gray.png",
        "-k",
        "box:3",
        "--target",
        "gray-box.npy",
        "--save-kernel-grad",
        "gk.npy",
        "--save-input-grad",
        "gx.npy",
        "--border",
        "wrap",
    ],
    ["grad", "gray.png", "-k", "box:3", "--loss", "bogus"],
    ["grad", "gray.png", "-k", "box:3", "--loss", "mse"],
    ["grad", "gray.png", "-k", "box:3", "--save-kernel-grad", "gk.txt", "--loss", "sum"],
    ["fit", "gray.png", "gray-box.npy", "--size", "3", "--json"],
    ["fit", "gray.png", "gray-box.npy", "--size", "3", "-o", "learned.toml"],
    ["fit", "gray.png", "gray-box.npy", "--size", "3", "--method", "gd", "--steps", "5", "--json"],
    ["fit", "gray.png", "gray-box.npy", "--size", "3x2", "--json"],
    ["fit", "gray.png", "gray-box.npy", "--size", "0"],
    ["fit", "gray.png", "card.png", "--size", "3"],
    ["--bogus"],
    ["nosuchcommand"],
]

_TIME = re.compile(r"\d+\.\d+ ?s\b|\"seconds\": [0-9.e-]+")


def _clean(text: str, scratch: str) -> str:
    return _TIME.sub("<t>", text.replace(scratch, "<scratch>"))


def _files(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()[:16]
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def main() -> None:
    tree, outdir = Path(sys.argv[1]).resolve(), Path(sys.argv[2])
    outdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(tree), "COLUMNS": "100", "NO_COLOR": "1"}
    env.pop("CONVCLI_KERNEL_PATH", None)
    with tempfile.TemporaryDirectory() as scratch:
        for name in ("card.png", "gray.png", "logo-rgba.png", "blobs.png"):
            shutil.copy(tree / "samples" / name, scratch)
        import numpy as np

        np.save(Path(scratch) / "(3,2,3,3).npy", np.ones((3, 2, 3, 3)))
        for args in PREP:
            subprocess.run(
                [sys.executable, "-m", "convcli", *args], cwd=scratch, env=env, check=True
            )
        before = _files(Path(scratch))
        for i, args in enumerate(HELP + RUNS):
            proc = subprocess.run(
                [sys.executable, "-m", "convcli", *args],
                cwd=scratch,
                env=env,
                capture_output=True,
                stdin=subprocess.DEVNULL,
            )
            now = _files(Path(scratch))
            written = {k: v for k, v in now.items() if before.get(k) != v}
            before = now
            stdout = proc.stdout.decode("utf-8", "replace")
            if args[-2:] == ["--format", "png"]:
                digest = hashlib.sha256(proc.stdout).hexdigest()[:16]
                stdout = f"<{len(proc.stdout)} bytes, sha {digest}>"
            stderr = proc.stderr.decode("utf-8", "replace")
            if "--jobs" in args:  # workers finish in any order
                stderr = "\n".join(sorted(stderr.splitlines()))
            record = {
                "args": args,
                "exit": proc.returncode,
                "stdout": _clean(stdout, scratch),
                "stderr": _clean(stderr, scratch),
                "written": written,
            }
            (outdir / f"{i:03d}.json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"{len(HELP) + len(RUNS)} commands -> {outdir}")


if __name__ == "__main__":
    main()
