"""What test modules share that is not a fixture (fixtures are in conftest.py).

Test modules import only from here and from :mod:`tests.helpers` (the
independent references), never from each other or from conftest.
"""

from __future__ import annotations

import pytest

BORDERS = ("reflect", "mirror", "nearest", "wrap", "constant")


def cli(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    """Run the command line in this process; return ``(exit code, stdout, stderr)``.

    It goes through :func:`convcli.cli.run`, as the console script does, so
    errors become the ``Error:`` line and exit code.  The ``run_cli`` fixture
    is this with Rich's width pinned.
    """
    from convcli.cli import run

    code = run([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_clean_error(code: int, err: str, expected_code: int, *tokens: str) -> None:
    """One ``Error:`` line on stderr (no traceback) holding every token, and the exit code."""
    assert code == expected_code, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in err
    for t in tokens:
        assert t in lines[0]
