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

from tests.support import cli

settings.register_profile(
    "default", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("thorough", max_examples=500, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture
def run_cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., tuple[int, str, str]]:
    """``run_cli(*args) -> (code, stdout, stderr)``: :func:`tests.support.cli`, Rich 200 wide."""
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
