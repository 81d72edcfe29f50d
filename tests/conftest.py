"""Shared fixtures and Hypothesis settings."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "default", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("thorough", max_examples=500, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

BORDERS = ("reflect", "mirror", "nearest", "wrap", "constant")
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


def cli(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    """Run the command line in this process; return ``(exit code, stdout, stderr)``.

    It goes through :func:`convcli.cli.run`, as the console script does, so
    errors become the ``Error:`` line and exit code.  Prefer the ``run_cli``
    fixture, which also pins the width.
    """
    from convcli.cli import run

    code = run([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def run_cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., tuple[int, str, str]]:
    """``run_cli(*args) -> (exit code, stdout, stderr)``: :func:`cli` with Rich 200 columns wide."""
    monkeypatch.setenv("COLUMNS", "200")
    return functools.partial(cli, capsys)


def convcli_command() -> list[str]:
    """The installed ``convcli`` console script, else ``python -m convcli``."""
    exe = shutil.which("convcli")
    return [exe] if exe else [sys.executable, "-m", "convcli"]


@pytest.fixture
def run_installed() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``run_installed(*args, cwd=..., command=None)``: convcli in a subprocess.

    ``command`` defaults to the installed console script; PYTHONPATH puts this
    checkout first, so its code is the one that runs.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))

    def invoke(
        *args: object, cwd: Path, command: Sequence[str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*(command or convcli_command()), *(str(a) for a in args)],
            capture_output=True,
            text=True,
            cwd=cwd,
            env=env,
            check=False,
        )

    return invoke
