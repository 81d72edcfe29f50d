"""SPEC section 7: with ``--json`` a failing command still writes one JSON document on stdout.

``{"error": {"message": str, "exit_code": int}}`` (plus a batch's partial ``results``), and the
one ``Error:`` line still goes to stderr.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.support import assert_clean_error

CARD = Path(__file__).resolve().parent.parent / "samples" / "card.png"

# (command line, exit code, a token of the message): every command, bad input and bad options
FAILURES = [
    (["filter", "missing.png", "-k", "sharpen", "-o", "out.png"], 2, "missing.png"),
    (["filter", CARD, "-k", "nosuchkernel", "-o", "out.png"], 2, "nosuchkernel"),
    (["filter", CARD, "-k", "sharpen", "-o", "out.png", "--stride", "0"], 2, "stride"),
    (["filter", CARD, "-k", "sharpen", "-o", "out.png", "--bogus"], 2, "--bogus"),
    (["kernels", "show", "nosuchkernel"], 2, "nosuchkernel"),
    (["kernels", "list", "--category", "nope"], 2, "category"),
    (["shape", "10x10", "-k", "nosuchkernel"], 2, "nosuchkernel"),
    (["shape", "3x3", "-k", "5", "--padding", "valid"], 2, ""),
    (["shape", "10x10", "--layer", "k=0"], 2, ""),
    (["grad", "missing.png", "-k", "box", "--loss", "sum"], 2, "missing.png"),
    (["grad", CARD, "-k", "box", "--loss", "mse"], 2, "--target"),
    (["fit", "missing.png", CARD, "--size", "3"], 2, "missing.png"),
    (["fit", CARD, CARD, "--size", "3", "--method", "nope"], 2, "method"),
]


@pytest.mark.parametrize(
    ("args", "code", "token"),
    FAILURES,
    ids=lambda v: " ".join(map(str, v)) if isinstance(v, list) else None,
)
def test_a_failing_command_writes_one_json_error_document(
    run_cli: Callable[..., tuple[int, str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[object],
    code: int,
    token: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    got, out, err = run_cli(*args, "--json")
    assert_clean_error(got, err, code, token)
    doc = json.loads(out)  # exactly one document
    # a file that failed inside filter's run also has its result; everything else only the error
    assert set(doc) == (
        {"error", "results"} if "out.png" in args and token == "missing.png" else {"error"}
    )
    assert doc["error"]["exit_code"] == code
    assert err.strip() == "Error: " + doc["error"]["message"]


def test_without_json_stdout_stays_empty_on_failure(
    run_cli: Callable[..., tuple[int, str, str]],
) -> None:
    code, out, err = run_cli("kernels", "show", "nosuchkernel")
    assert_clean_error(code, err, 2, "nosuchkernel")
    assert out == ""


def test_json_after_double_dash_is_not_an_option(
    run_cli: Callable[..., tuple[int, str, str]],
) -> None:
    code, out, _ = run_cli("kernels", "show", "--", "--json")
    assert code == 2 and out == ""


def test_a_batch_with_a_failing_file_has_its_results_and_the_error(
    run_cli: Callable[..., tuple[int, str, str]], tmp_path: Path
) -> None:
    good = tmp_path / "a.png"
    good.write_bytes(CARD.read_bytes())
    bad = tmp_path / "b.png"
    bad.write_bytes(b"not a png")
    code, out, _ = run_cli("filter", good, bad, "-k", "box", "-d", tmp_path / "out", "--json")
    assert code == 1
    doc = json.loads(out)
    assert [r["ok"] for r in doc["results"]] == [True, False]
    assert doc["error"] == {"message": "1 of 2 inputs failed", "exit_code": 1}


def test_an_interrupted_batch_keeps_the_results_done_so_far(
    run_cli: Callable[..., tuple[int, str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import convcli.cli.filter_cmd as filter_cmd

    real = filter_cmd.run_all

    def interrupted(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        for n, item in enumerate(real(*args, **kwargs)):  # type: ignore[arg-type]
            if n == 1:
                raise KeyboardInterrupt
            yield item

    monkeypatch.setattr(filter_cmd, "run_all", interrupted)
    files = []
    for name in ("a.png", "b.png", "c.png"):
        (tmp_path / name).write_bytes(CARD.read_bytes())
        files.append(tmp_path / name)
    code, out, err = run_cli("filter", *files, "-k", "box", "-d", tmp_path / "o", "--json", "-q")
    assert code == 130 and "interrupted" in err
    doc = json.loads(out)
    assert [Path(r["input"]).name for r in doc["results"]] == ["a.png"]
    assert doc["error"] == {"message": "interrupted", "exit_code": 130}


def test_grad_check_mismatch_puts_the_error_in_its_document(
    run_cli: Callable[..., tuple[int, str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import convcli.grad as grad

    real = grad.check_gradients_with

    def failing(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        import dataclasses

        return dataclasses.replace(real(*args, **kwargs), ok=False)  # type: ignore[arg-type]

    monkeypatch.setattr(grad, "check_gradients_with", failing)
    x = tmp_path / "x.npy"
    np.save(x, np.linspace(0, 1, 64).reshape(8, 8))
    code, out, _ = run_cli("grad", x, "-k", "box", "--loss", "sum", "--check", "--json")
    assert code == 1
    doc = json.loads(out)
    assert doc["check"]["ok"] is False
    assert doc["error"]["exit_code"] == 1 and "disagree" in doc["error"]["message"]
