"""The gradients package: its public names, what it imports, and its tuning knobs."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

import convcli.config
import convcli.grad
import convcli.grad.backward
import convcli.grad.fit
from convcli.grad import fit_kernel, input_grad

REPO = Path(__file__).resolve().parent.parent

PUBLIC = {
    "CHECK_RTOL",
    "FIT_METHODS",
    "LOSSES",
    "FitResult",
    "GradCheck",
    "GradResult",
    "check_gradients",
    "check_gradients_with",
    "fit_kernel",
    "fit_kernel_with",
    "input_grad",
    "kernel_grad",
    "load_unit_colours",
    "load_unit_image",
    "loss_and_grad",
    "loss_and_grad_with",
    "loss_value_and_grad",
    "save_input_grad",
    "save_kernel_grad",
    "unit_value",
}

GEOMETRY_DEFAULTS = {
    "padding": "same",
    "border": "reflect",
    "cval": 0.0,
    "stride": 1,
    "dilation": 1,
}


def test_the_package_exports_its_public_names():
    assert set(convcli.grad.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(convcli.grad, name) is not None


def test_public_functions_keep_their_keyword_options():
    for name in ("kernel_grad", "input_grad", "loss_and_grad", "check_gradients"):
        params = inspect.signature(getattr(convcli.grad, name)).parameters
        for key, default in {**GEOMETRY_DEFAULTS, "flip": False, "anchor": None}.items():
            assert params[key].kind is inspect.Parameter.KEYWORD_ONLY, (name, key)
            assert params[key].default == default, (name, key)
        assert params["threads"].default is None
    params = inspect.signature(fit_kernel).parameters
    for key, default in GEOMETRY_DEFAULTS.items():
        assert params[key].default == default, key


def test_importing_the_package_loads_no_pillow_typer_or_rich():
    code = (
        "import sys, convcli.grad; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('PIL', 'typer', 'rich')))"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == "[]"


def test_the_strip_size_is_read_from_config_at_call_time(monkeypatch, rng):
    jobs_seen: list[int] = []
    real = convcli.grad.backward.run_jobs

    def spy(fn, jobs, n):
        jobs_seen.append(len(jobs))
        return real(fn, jobs, n)

    monkeypatch.setattr(convcli.grad.backward, "run_jobs", spy)
    # the strips are those of the strided input gradient (scatter-adds)
    x, w, g = rng.uniform(size=(20, 6, 2)), rng.normal(size=(3, 3)), rng.normal(size=(10, 3, 2))
    want = input_grad(x, w, g, stride=2)
    assert jobs_seen == [1]
    monkeypatch.setattr(convcli.config, "GRAD_STRIP_BYTES", 8)
    got = input_grad(x, w, g, stride=2)
    assert sum(jobs_seen[1:]) == 10  # one output row per strip (in waves that never overlap)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_the_fit_tile_size_is_read_from_config_at_call_time(monkeypatch, rng):
    rows_seen: list[int] = []
    real = convcli.grad.fit._normal_equations

    def spy(prob, t3, tile_rows):
        rows_seen.append(tile_rows)
        return real(prob, t3, tile_rows)

    monkeypatch.setattr(convcli.grad.fit, "_normal_equations", spy)
    x, t = rng.uniform(size=(8, 9)), rng.uniform(size=(8, 9))
    want = fit_kernel(x, t, 3).kernel
    monkeypatch.setattr(convcli.config, "FIT_TILE_BYTES", 1)
    got = fit_kernel(x, t, 3).kernel
    assert rows_seen[0] >= 8  # the whole output in one tile by default
    assert rows_seen[1] == 1
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
