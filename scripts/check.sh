#!/usr/bin/env bash
# Developer check before committing: lint, format check, types, tests (incl. doctests).
set -euo pipefail
cd "$(dirname "$0")/.."
ruff check convcli tests benchmarks samples scripts
ruff format --check convcli tests benchmarks samples scripts
mypy
python -m pytest -q --doctest-modules convcli tests
