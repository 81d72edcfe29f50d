"""Start-up cost of the command line: which modules a command imports.

Timings are measured by hand (medians of several runs), never asserted; these
tests pin what keeps them low: ``kernels list`` reads the presets without
importing NumPy or ``convcli.kernelspec``, and prints what the full kernels give.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from convcli.config import KERNEL_PATH_ENV
from convcli.kernelspec import list_kernels

REPO = Path(__file__).resolve().parent.parent

# Modules `kernels list` must not load: NumPy (~100-170 ms) and what pulls it in.
HEAVY = ("numpy", "PIL", "convcli.kernelspec", "convcli.engine", "convcli.filters")


def run_cli(
    args: list[str], cwd: Path, env_extra: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run ``python -X importtime -m convcli *args``; return the process and modules imported."""
    env = {k: v for k, v in os.environ.items() if k != KERNEL_PATH_ENV}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["COLUMNS"] = "200"
    env.update(env_extra or {})
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "convcli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        check=False,
    )
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    return proc, modules


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def user_folder(folder: Path) -> Path:
    (folder / "mine.toml").write_text(
        'category = "edge"\ndescription = "user preset"\nscale = 0.5\n'
        "weights = [[[1, 2], [3, 4]], [[0.1, 0.2], [0.3, 0.4]]]\n",
        encoding="utf-8",
    )
    (folder / "gaussian.toml").write_text("weights = [[0.25, 0.5, 0.25]]\n", encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    "args",
    [
        ["kernels", "list", "--json"],
        ["kernels", "list"],
        ["kernels", "list", "--category", "edge", "--json"],
        ["kernels"],
        ["--help"],
    ],
    ids=["list-json", "list-table", "list-category", "kernels", "help"],
)
def test_listing_presets_does_not_import_numpy(tmp_path: Path, args: list[str]) -> None:
    proc, modules = run_cli(args, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "convcli.cli" in modules  # the import log was read
    assert heavy(modules) == []
    if "--json" in args:
        assert json.loads(proc.stdout)["kernels"]


def test_listing_user_presets_does_not_import_numpy(tmp_path: Path) -> None:
    folder = user_folder(tmp_path)
    proc, modules = run_cli(["kernels", "list", "--json"], tmp_path, {KERNEL_PATH_ENV: str(folder)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert heavy(modules) == []
    names = {k["name"]: k for k in json.loads(proc.stdout)["kernels"]}
    assert names["mine"]["shape"] == [2, 2, 2]
    assert names["gaussian"]["source"] == f"user:{folder}"


def test_import_check_sees_numpy_when_a_kernel_is_built(tmp_path: Path) -> None:
    # `kernels show` builds the weights, so NumPy must show up: the check above can fail.
    proc, modules = run_cli(["kernels", "show", "sobel-x", "--json"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "numpy" in heavy(modules)
    assert "convcli.kernelspec" in modules


def test_list_json_is_what_the_full_kernels_give(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = user_folder(tmp_path)
    proc, _ = run_cli(["kernels", "list", "--json"], tmp_path, {KERNEL_PATH_ENV: str(folder)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    monkeypatch.setenv(KERNEL_PATH_ENV, str(folder))
    # the entries as `kernels list` built them from Kernel objects before it skipped NumPy
    want = [
        {
            "name": k.name,
            "category": k.category,
            "shape": list(k.shape),
            "sum": float(k.effective_weights.sum()),
            "source": k.source,
            "description": k.description,
        }
        for k in list_kernels()
    ]
    assert json.loads(proc.stdout) == {"kernels": want}


PROBE = """
import importlib, pkgutil, sys
import convcli.presets as presets
for info in pkgutil.iter_modules(presets.__path__):
    importlib.import_module("convcli.presets." + info.name)
presets.list_presets()
{extra}
print(sorted(m for m in sys.modules if m.split(".")[0] in ("numpy", "PIL", "typer", "rich")))
"""


@pytest.mark.parametrize(
    ("extra", "numpy_expected"),
    [("", False), ("import convcli.kernelspec", True)],
    ids=["presets", "kernelspec-control"],
)
def test_presets_package_imports_no_numpy(extra: str, numpy_expected: bool) -> None:
    env = {k: v for k, v in os.environ.items() if k != KERNEL_PATH_ENV}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(extra=extra)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    loaded = json.loads(proc.stdout.replace("'", '"'))
    assert ("numpy" in loaded) is numpy_expected
    assert not [m for m in loaded if m.split(".")[0] in ("PIL", "typer", "rich")]


# The Dask extra (SPEC section 10) is loaded only by the options that need it.
DASK = ("dask", "distributed", "zarr", "tifffile", "convcli.dask")


def dask_modules(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == d or m.startswith(d + ".") for d in DASK))


@pytest.mark.parametrize(
    "args",
    [["--help"], ["kernels", "list"], ["filter", "in.png", "-k", "sharpen", "-o", "out.png"]],
    ids=["help", "kernels-list", "plain-filter"],
)
def test_commands_without_scale_options_do_not_import_dask(tmp_path: Path, args: list[str]) -> None:
    from PIL import Image

    Image.new("RGB", (8, 6), (10, 20, 30)).save(tmp_path / "in.png")
    proc, modules = run_cli(args, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "convcli.cli" in modules
    assert dask_modules(modules) == []


def test_import_convcli_does_not_import_dask() -> None:
    code = "import sys, convcli; convcli.correlate; print(sorted(m for m in sys.modules))"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    loaded = set(json.loads(proc.stdout.replace("'", '"')))
    assert "numpy" in loaded  # the probe worked: correlate was loaded
    assert dask_modules(loaded) == []


def test_the_scheduler_option_does_import_dask(tmp_path: Path) -> None:
    # the control: the check above can see dask when it is loaded
    from PIL import Image

    Image.new("RGB", (8, 6)).save(tmp_path / "in.png")
    args = ["filter", "in.png", "-k", "box", "-o", "o.png", "--scheduler", "tcp://127.0.0.1:1"]
    proc, modules = run_cli([*args, "--connect-timeout", "0.5"], tmp_path)
    assert proc.returncode == 1
    assert "distributed" in dask_modules(modules)
