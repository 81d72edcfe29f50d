"""The engine package's shared pieces: the thread pool helpers, the method tables, sum steps."""

from __future__ import annotations

import threading
import time
import typing

import numpy as np
import pytest

from convcli.engine import METHODS, iter_jobs, make_plan, run_jobs
from convcli.engine.api import RUNNERS
from convcli.engine.candidates import CANDIDATES
from convcli.engine.sumsteps import StepKind, SumStep, best_sum_steps, weighted_sum_steps


@pytest.mark.parametrize("threads", [1, 2, 5])
def test_run_jobs_returns_every_result_in_job_order(threads):
    def slow_square(j: int) -> int:
        time.sleep(0.002 * (j % 3))  # finish out of order
        return j * j

    assert run_jobs(slow_square, list(range(12)), threads) == [j * j for j in range(12)]
    assert run_jobs(slow_square, [], threads) == []


def test_run_jobs_uses_at_most_the_threads_asked_for_and_none_for_one():
    seen: set[int] = set()

    def record(_j: int) -> None:
        seen.add(threading.get_ident())
        time.sleep(0.005)

    run_jobs(record, list(range(8)), 1)
    assert seen == {threading.get_ident()}  # no pool: the calling thread
    seen.clear()
    run_jobs(record, list(range(8)), 3)
    assert 1 <= len(seen) <= 3
    assert threading.get_ident() not in seen


def test_run_jobs_passes_a_job_error_on():
    def fail_on_three(j: int) -> int:
        if j == 3:
            raise ValueError("job 3")
        return j

    with pytest.raises(ValueError, match="job 3"):
        run_jobs(fail_on_three, list(range(6)), 2)


def _blas_threads() -> list[int]:
    from threadpoolctl import threadpool_info

    return [int(i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas"]


def test_blas_runs_single_threaded_inside_the_pool_and_is_restored_after():
    from threadpoolctl import threadpool_limits

    with threadpool_limits(3, user_api="blas"):  # a known setting to restore
        before = _blas_threads()
        assert before and all(n == 3 for n in before)
        inside = run_jobs(lambda _j: _blas_threads(), list(range(4)), 2)
        assert all(n == 1 for seen in inside for n in seen)
        # one job with two threads: BLAS may use both, never more than asked
        alone = run_jobs(lambda _j: _blas_threads(), [0], 2)
        assert alone == [[2] * len(before)]
        nested = list(
            iter_jobs(lambda _j: run_jobs(lambda _k: _blas_threads(), [0, 1], 2), [0, 1], 2)
        )
        assert all(n == 1 for outer in nested for seen in outer for n in seen)
        assert _blas_threads() == before
    with threadpool_limits(1, user_api="blas"):  # never raised above the caller's own cap
        assert run_jobs(lambda _j: _blas_threads(), [0], 4) == [[1] * len(before)]


@pytest.mark.parametrize(("threads", "ahead"), [(2, None), (2, 1), (3, 4), (1, None)])
def test_iter_jobs_yields_in_order_with_a_bounded_number_ahead(threads, ahead):
    started: list[int] = []
    lock = threading.Lock()

    def job(j: int) -> int:
        with lock:
            started.append(j)
        time.sleep(0.001 * (j % 2))
        return -j

    window = 1 if threads <= 1 else (ahead or threads)
    results = []
    for i, value in enumerate(iter_jobs(job, list(range(10)), threads, ahead=ahead)):
        with lock:
            # jobs 0 .. i + window at most were submitted when result i arrives
            assert max(started) <= i + window
        results.append(value)
    assert results == [-j for j in range(10)]
    assert sorted(started) == list(range(10))


def test_every_method_has_a_runner_and_a_candidate():
    assert set(RUNNERS) == set(METHODS)
    assert sorted(c.method for c in CANDIDATES) == sorted(METHODS)


@pytest.mark.parametrize("method", METHODS)
def test_a_forced_method_runs_through_its_table_entry(method, monkeypatch):
    calls: list[str] = []
    real = RUNNERS[method]

    def spy(*args: typing.Any) -> typing.Any:
        calls.append(method)
        return real(*args)

    monkeypatch.setitem(RUNNERS, method, spy)
    from convcli.engine import correlate

    x = np.random.default_rng(0).uniform(size=(12, 13, 2))
    correlate(x, np.full((3, 3), 0.5), method=method, dtype=np.float64)
    assert calls == [method]


def test_sum_steps_are_typed_values_of_known_kinds():
    kinds = set(typing.get_args(StepKind))
    for weights in ([-1.0, 0.0, 1.0], [0.25, 0.5, 0.25], [2.0, 2.0, -1.0, -1.0, 3.0], [-1.0] * 3):
        for steps in (weighted_sum_steps(weights), best_sum_steps(weights)):
            assert steps
            assert all(isinstance(s, SumStep) and s.kind in kinds for s in steps)
    assert weighted_sum_steps([-1.0, -1.0, -1.0])[-1] == SumStep("negate", -1.0, ())


def test_plan_keeps_its_explanation_and_sum_steps():
    plan = make_plan((480, 640, 3), np.outer([1.0, 2.0, 1.0], [1.0, 2.0, 1.0]), method="separable")
    assert all(isinstance(s, SumStep) for s in plan.sum_steps)
    assert str(plan).startswith("Method: separable, as the 3x3 kernel has rank 1")
    assert str(plan).endswith("Method forced ('separable').")
