"""Help that tells: every command's --help, the shared help sections, completion, suggestions.

The help sections are static text (so --help imports nothing); these tests hold them to
the tables they copy: the generator table, the border aliases, config's variables.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from convcli import config
from convcli.borders import BORDER_ALIASES
from convcli.cli import options
from convcli.presets import GENERATOR_SPECS
from tests.support import assert_clean_error

REPO = Path(__file__).resolve().parent.parent
KERNEL_COMMANDS = ("filter", "grad", "shape", "kernels show")
BORDER_COMMANDS = ("filter", "grad", "fit")
ENV = {
    "filter": (config.THREADS_ENV, config.KERNEL_PATH_ENV),
    "grad": (config.THREADS_ENV, config.KERNEL_PATH_ENV),
    "fit": (config.THREADS_ENV,),
    "shape": (config.KERNEL_PATH_ENV,),
    "kernels list": (config.KERNEL_PATH_ENV,),
    "kernels show": (config.KERNEL_PATH_ENV,),
}


def test_generator_lines_are_the_generator_table() -> None:
    lines = options.KERNEL_SYNTAX_HELP.split("Generators and their parameters")[1].splitlines()
    listed = {ln.split()[0]: ln for ln in lines[1:] if ln.strip()}
    assert set(listed) == set(GENERATOR_SPECS)
    for name, spec in GENERATOR_SPECS.items():
        assert spec.parameters_text() in listed[name], name


def test_border_help_and_completion_know_every_alias() -> None:
    words = set(re.findall(r"[a-z_0-9]+", options.BORDER_HELP))
    assert set(BORDER_ALIASES) <= words
    assert sorted(options.BORDER_NAMES) == sorted(BORDER_ALIASES)


def test_environment_help_names_every_variable_of_config() -> None:
    variables = {v for k, v in vars(config).items() if k.endswith("_ENV")}
    assert variables == {config.THREADS_ENV, config.KERNEL_PATH_ENV}
    assert all(v in options.environment_help(*variables) for v in variables)


@pytest.mark.parametrize("command", list(ENV))
def test_every_command_help_tells(
    run_cli: Callable[..., tuple[int, str, str]], command: str
) -> None:
    code, out, _ = run_cli(*command.split(), "--help")
    assert code == 0
    usage = out.splitlines()[0]
    assert usage.startswith(f"Usage: convcli {command}") and "{" not in usage
    assert "Examples:" in out
    for var in ENV[command]:
        assert var in out
    if command in KERNEL_COMMANDS:
        for example in ("sharpen", "gaussian:sigma=2", '"0,-1,0; -1,5,-1; 0,-1,0"', "3x3:", "+X+Y"):
            assert example in out, example
        for name in GENERATOR_SPECS:
            assert re.search(rf"^\s+{name}\s+\S+=", out, re.M), name
    if command in BORDER_COMMANDS:
        for alias in BORDER_ALIASES:
            assert alias in out, alias


def test_every_option_has_help_and_grad_fit_have_quiet() -> None:
    import convcli.cli

    root = convcli.cli.get_command(convcli.cli.app)
    missing = []
    for group, cmds in [("", root.commands), ("kernels ", root.commands["kernels"].commands)]:
        for name, cmd in cmds.items():
            for param in cmd.params:
                if not getattr(param, "help", None):
                    missing.append(f"{group}{name} {param.name}")
    assert missing == []
    for name in ("grad", "fit", "filter"):
        opts = {o for p in root.commands[name].params for o in p.opts}
        assert {"-q", "--quiet"} <= opts, name


@pytest.mark.parametrize("width", [60, 80, 120])
def test_help_fits_the_terminal(width: int, tmp_path: Path) -> None:
    env = dict(os.environ, COLUMNS=str(width), PYTHONPATH=str(REPO))
    for command in ENV:
        proc = subprocess.run(
            [sys.executable, "-m", "convcli", *command.split(), "--help"],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            check=True,
        )
        wide = [ln for ln in proc.stdout.splitlines() if len(ln) > max(width, 80)]
        assert wide == [], (command, wide)  # the help sections are written for 80 columns


def test_kernels_show_lists_a_generators_parameters(
    run_cli: Callable[..., tuple[int, str, str]],
) -> None:
    code, out, _ = run_cli("kernels", "show", "gaussian:sigma=2")
    assert code == 0
    assert "parameters (in order, defaults): sigma=1, size=2*ceil(3*sigma)+1" in out
    code, out, _ = run_cli("kernels", "show", "sharpen")
    assert "parameters" not in out  # a preset file, not a generator


@pytest.mark.parametrize(
    ("typed", "suggested"),
    [("--bogus", None), ("--jsn", "--json"), ("--bordr", "--border"), ("--treads", "--threads")],
)
def test_unknown_options_suggest_only_close_names(
    run_cli: Callable[..., tuple[int, str, str]], typed: str, suggested: str | None
) -> None:
    code, _, err = run_cli("filter", "x.png", "-k", "box", "-o", "y.png", typed)
    assert_clean_error(code, err, 2, f"No such option: {typed}")
    if suggested is None:
        assert "did you mean" not in err and "Possible" not in err
    else:
        assert f"did you mean {suggested}" in err


def complete(words: str, tmp_path: Path) -> list[str]:
    """What bash completion offers after ``words`` (Click's protocol, as the shell runs it)."""
    parts = words.split(" ")
    env = {k: v for k, v in os.environ.items() if k != config.KERNEL_PATH_ENV}
    env.update(
        _CONVCLI_COMPLETE="complete_bash",
        COMP_WORDS=words,
        COMP_CWORD=str(len(parts) - 1),
        PYTHONPATH=str(REPO),
    )
    proc = subprocess.run(
        [sys.executable, "-m", "convcli"], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def test_shell_completion_of_commands_options_and_kernel_names(tmp_path: Path) -> None:
    assert complete("convcli ke", tmp_path) == ["kernels"]
    assert complete("convcli kernels show sob", tmp_path) == ["sobel-x", "sobel-y"]
    assert complete("convcli filter a.png -k gaussian-", tmp_path) == [
        "gaussian-3x3",
        "gaussian-5x5",
    ]
    assert "--border" in complete("convcli grad a.png --bor", tmp_path)
    assert complete("convcli grad a.png --border rep", tmp_path) == ["replicate"]


def test_completion_scripts_are_offered(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-m", "convcli", "--show-completion", "bash"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "_CONVCLI_COMPLETE" in proc.stdout and "complete" in proc.stdout


# -- user presets: one bad file does not hide the others -------------------------------


def test_a_bad_user_preset_is_skipped_with_a_warning(
    run_cli: Callable[..., tuple[int, str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "broken.toml").write_text("weights = [[1, 2]\n", encoding="utf-8")
    (tmp_path / "custom.toml").write_text(
        'category = "custom"\nweights = [[1]]\n', encoding="utf-8"
    )
    (tmp_path / "mine.toml").write_text("weights = [[1, 2]]\n", encoding="utf-8")
    monkeypatch.setenv(config.KERNEL_PATH_ENV, str(tmp_path))
    code, out, err = run_cli("kernels", "list", "--json")
    assert code == 0, err
    doc = json.loads(out)
    names = {k["name"] for k in doc["kernels"]}
    assert "mine" in names and "sharpen" in names
    assert not {"broken", "custom"} & names
    warnings = [ln for ln in err.splitlines() if ln.startswith("warning: skipped a preset:")]
    assert len(warnings) == 2
    assert any("broken.toml" in w and "TOML" in w for w in warnings)
    assert any("custom.toml" in w and "category" in w for w in warnings)
    assert len(doc["warnings"]) == 2
    code, out, _ = run_cli("kernels")
    assert code == 0 and "mine" in out
    code, _, err = run_cli(
        "filter", REPO / "samples" / "card.png", "-k", "custom", "-o", tmp_path / "o.png"
    )
    assert_clean_error(code, err, 2, "custom.toml", "category")


# -- the JSON of shape and filter --explain ---------------------------------------------


def test_shape_json_has_formulas_and_totals(run_cli: Callable[..., tuple[int, str, str]]) -> None:
    code, out, _ = run_cli(
        "shape", "224x224x3", "--layer", "k=7,s=2,p=3,c=64", "--layer", "k=3,s=2,p=1", "--json"
    )
    assert code == 0
    doc = json.loads(out)
    first, second = doc["layers"]
    assert first["formulas"]["height"].endswith("= floor((224 + 2*3 - 1*(7-1) - 1)/2) + 1 = 112")
    assert second["formulas"]["width"].endswith("= 56")
    # by hand: 7*7*3*64 and 3*3*64*64 weights; MACs = output pixels x channels x taps
    assert doc["total"]["params"] == 7 * 7 * 3 * 64 + 3 * 3 * 64 * 64
    assert doc["total"]["macs"] == 112 * 112 * 64 * (7 * 7 * 3) + 56 * 56 * 64 * (3 * 3 * 64)
    assert doc["total"]["output_shape"] == [56, 56, 64]
    assert doc["total"]["layers"] == 2


def test_filter_explain_json_has_the_plan(
    run_cli: Callable[..., tuple[int, str, str]], tmp_path: Path
) -> None:
    card = REPO / "samples" / "card.png"
    code, out, err = run_cli(
        "filter",
        card,
        "-k",
        "box:5",
        "-k",
        "sharpen",
        "-o",
        tmp_path / "o.png",
        "--explain",
        "--json",
    )
    assert code == 0, err
    plan = json.loads(out)["plan"]
    assert plan["input"] == str(card)
    assert [s.split(":")[0] for s in plan["steps"]] == ["step 1 (box", "step 2 (sharpen)"]
    assert [f"plan: {s}" for s in plan["steps"]] == [
        ln for ln in err.splitlines() if ln.startswith("plan:")
    ]
