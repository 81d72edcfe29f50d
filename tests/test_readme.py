"""Every command the README and the ``--help`` examples show runs, and the figures agree.

The commands run in a temporary folder holding the samples and the files the examples
name (``photo.png``, ``photos/*.jpg``, ...): those with shell syntax (redirections,
quotes with ``;``) through bash with a ``convcli`` on PATH that runs this checkout, the
others in this process through :func:`convcli.cli.run`, split as the shell would split
them.  A ```` ``` ```` block right after a ```` ```bash ```` block is what its last
command prints (at 80 columns): its words and numbers must be what the command prints
now (numbers below 1e-6, the rounding-level errors of a gradient check, only have to
stay below 1e-6).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")
SAMPLES = REPO / "samples"
NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$", re.I)
BLOCK = re.compile(r"```(\w*)\n(.*?)```", re.S)


def readme_blocks() -> list[tuple[list[str], str | None]]:
    """Each bash block's convcli commands, with the output block that follows it (or None)."""
    blocks = list(BLOCK.finditer(README))
    found = []
    for i, m in enumerate(blocks):
        if m.group(1) != "bash":
            continue
        commands = []
        for line in m.group(2).splitlines():
            line = line.split("&& ")[-1].strip()  # `python3 -m venv ... && convcli filter ...`
            if line.startswith("convcli "):
                commands.append(line)
        after = blocks[i + 1] if i + 1 < len(blocks) else None
        output = None
        if (
            after is not None
            and after.group(1) == ""
            and not README[m.end() : after.start()].strip()
        ):
            output = after.group(2)
        if commands:
            found.append((commands, output))
    return found


def help_examples() -> list[str]:
    """The example lines of every command's --help, in the order help shows them."""
    import convcli.cli

    def walk(cmd):  # type: ignore[no-untyped-def]
        yield cmd
        for sub in getattr(cmd, "commands", {}).values():
            yield from walk(sub)

    lines: list[str] = []
    for cmd in walk(convcli.cli.get_command(convcli.cli.app)):
        text = f"{cmd.help or ''}\n{cmd.epilog or ''}"
        lines += [ln.strip() for ln in text.splitlines() if ln.startswith("  convcli ")]
    return lines


def make_folder(root: Path) -> Path:
    """A folder with the samples and every input file the examples name."""
    from PIL import Image

    shutil.copytree(SAMPLES, root / "samples", ignore=shutil.ignore_patterns("*.py", "gallery"))
    with Image.open(SAMPLES / "card.png") as im:
        # the help examples run on a corner of the card: the same commands, a quarter the work
        rgb = im.convert("RGB").crop((0, 0, 128, 96))
        for name in ("card.png", "photo.png", "big.png", "a.png", "t.png", "blurred.png"):
            rgb.save(root / name)
        rgb.save(root / "photo.jpg")
        rgb.save(root / "scan.tif")
        (root / "photos").mkdir()
        (root / "frames").mkdir()
        for i in range(2):
            rgb.save(root / "photos" / f"p{i}.jpg")
            rgb.save(root / "frames" / f"f{i}.png")
        # the Scale section's huge image, as a small tiled TIFF (the extra is a test dependency)
        import tifffile

        tifffile.imwrite(root / "slide.tif", np.asarray(rgb), tile=(32, 32))
    bin_dir = root / "bin"
    bin_dir.mkdir()
    script = bin_dir / "convcli"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m convcli "$@"\n', encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return root


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the README's commands run (the help examples get their own, as both write files)."""
    return make_folder(tmp_path_factory.mktemp("readme"))


SHELL_SYNTAX = set("<>|&;$`")


def run_example(command: str, folder: Path) -> subprocess.CompletedProcess[str]:
    """Run one example as the shell would, in ``folder``, with consoles 80 columns wide."""
    if SHELL_SYNTAX & set(command):
        return bash(command, folder)
    import contextlib
    import io
    import shlex

    from convcli.cli import output, run

    argv = shlex.split(command, comments=True)
    assert argv[0] == "convcli"
    out, err = io.StringIO(), io.StringIO()
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    os.environ.pop("CONVCLI_KERNEL_PATH", None)
    os.environ["COLUMNS"] = "80"
    output.out_console.cache_clear()
    output.err_console.cache_clear()
    try:
        os.chdir(folder)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = run(argv[1:])
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        output.out_console.cache_clear()
        output.err_console.cache_clear()
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


def bash(command: str, folder: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("CONVCLI_KERNEL_PATH", None)
    env.update(
        PATH=f"{folder / 'bin'}{os.pathsep}{env['PATH']}",
        PYTHONPATH=str(REPO),
        COLUMNS="80",
    )
    return subprocess.run(
        ["bash", "-c", command], cwd=folder, env=env, capture_output=True, text=True, check=False
    )


def same_figures(shown: str, printed: str) -> list[str]:
    """Where the words and numbers of ``shown`` (README) and ``printed`` differ."""
    a, b = shown.split(), printed.split()
    if len(a) != len(b):
        return [f"{len(a)} words shown, {len(b)} printed"]
    diffs = []
    for x, y in zip(a, b, strict=True):
        if NUMBER.match(x) and NUMBER.match(y):
            fx, fy = float(x), float(y)
            if not (fx == fy or (abs(fx) < 1e-6 and abs(fy) < 1e-6)):
                diffs.append(f"{x} shown, {y} printed")
        elif x != y:
            diffs.append(f"{x!r} shown, {y!r} printed")
    return diffs


def test_the_readme_has_commands_and_outputs() -> None:
    blocks = readme_blocks()
    assert sum(len(c) for c, _ in blocks) >= 15
    assert sum(out is not None for _, out in blocks) >= 2
    assert len(help_examples()) >= 25


@pytest.fixture(scope="module")
def readme_run(folder: Path) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every README command, run once in order: command -> its process."""
    return {c: run_example(c, folder) for commands, _ in readme_blocks() for c in commands}


def test_every_readme_command_runs(readme_run: dict[str, subprocess.CompletedProcess[str]]) -> None:
    failed = [
        f"{c}: exit {p.returncode}: {p.stderr[-300:]}"
        for c, p in readme_run.items()
        if p.returncode
    ]
    assert failed == []


def test_readme_outputs_are_what_the_commands_print(
    readme_run: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    differ = []
    for commands, output in readme_blocks():
        if output is not None:
            diffs = same_figures(output, readme_run[commands[-1]].stdout)
            if diffs:
                differ.append(f"{commands[-1]}: {diffs[:4]}")
    assert differ == []


def needs_a_cluster(command: str) -> bool:
    """An example that names a running scheduler's address (the tests start their own)."""
    return "--scheduler tcp://" in command or "--scheduler-file" in command


def test_every_help_example_runs(tmp_path: Path) -> None:
    folder = make_folder(tmp_path)
    failed = []
    for command in dict.fromkeys(help_examples()):  # the root's examples repeat some
        if needs_a_cluster(command):
            continue
        proc = run_example(command, folder)
        if proc.returncode != 0:
            failed.append(f"{command}: exit {proc.returncode}: {proc.stderr[-300:]}")
    assert failed == []


def gaussian_11x11() -> np.ndarray:
    """The 11x11 Gaussian of sigma 1.5, by its formula."""
    x = np.arange(-5, 6, dtype=np.float64)
    g = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * 1.5**2))
    return g / g.sum()


def shown_figure(pattern: str) -> float:
    m = re.search(pattern, README)
    assert m is not None, pattern
    return float(m.group(1))


def test_the_fit_figures_in_the_readme(
    readme_run: dict[str, subprocess.CompletedProcess[str]], folder: Path
) -> None:
    """The fit section's prose: how close lstsq gets to the Gaussian, and its mse."""
    from convcli import load_kernel

    fit = next(
        p for c, p in readme_run.items() if c.startswith("convcli fit ") and "-o learned" in c
    )
    mse = re.search(r"mse (\S+)", fit.stdout)
    assert mse is not None, fit.stdout
    err = float(
        np.abs(load_kernel(str(folder / "learned.toml")).effective_weights - gaussian_11x11()).max()
    )
    # the README gives two significant digits
    within = shown_figure(r"to within (\S+) per weight")
    shown_mse = shown_figure(r"per weight \(mse ([^;]+);")
    assert f"{err:.1e}" == f"{within:.1e}"
    assert f"{float(mse.group(1)):.1e}" == f"{shown_mse:.1e}"


@pytest.mark.slow
def test_the_8_bit_fit_figure_in_the_readme(folder: Path) -> None:
    import json

    for command in (
        "convcli filter samples/card.png -k gaussian:sigma=1.5 -o fit_t.png -q",
        "convcli fit samples/card.png fit_t.png --size 11 --json > fit_png.json",
    ):
        assert bash(command, folder).returncode == 0, command
    mse = json.loads((folder / "fit_png.json").read_text())["loss"]
    shown = shown_figure(r"rounding leaves an mse of\s+(\S+)\.")
    assert f"{mse:.1e}" == f"{shown:.1e}"


def test_the_python_example_shape_comment() -> None:
    import convcli

    m = re.search(r"convcli\.output_shape\((.*)\)\s+# (\(.*\))", README)
    assert m is not None
    shown = tuple(int(v) for v in re.findall(r"\d+", m.group(2)))
    assert convcli.output_shape((224, 224, 3), (64, 3, 7, 7), padding=3, stride=2) == shown
    assert "(224, 224, 3), (64, 3, 7, 7), padding=3, stride=2" in m.group(1)
