"""Shared fixtures and Hypothesis settings."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "default", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("thorough", max_examples=500, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

BORDERS = ("reflect", "mirror", "nearest", "wrap", "constant")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
