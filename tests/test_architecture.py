"""The layout rules of docs/architecture.md, checked on the source itself.

The import graph is read with :mod:`ast` from every module of the package,
counting imports inside functions and ``if TYPE_CHECKING:`` blocks too, so a
type-only cycle or a lazy import of a banned library fails here as well.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "convcli"

MAX_MODULE_LINES = 420
MAX_FUNCTION_LINES = 80


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str) -> set[str]:
    """Every module (of convcli or not) that module ``name`` imports, at any depth."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in MODULES else base)
    return found


GRAPH = {name: {m for m in _imports(name) if m in MODULES} for name in MODULES}


def _top(module: str) -> str:
    return module.split(".")[0]


def test_the_graph_sees_the_package():
    assert "convcli.cli" in MODULES
    assert "convcli.config" in GRAPH["convcli.cli"] or any(
        "convcli.errors" in GRAPH[m] for m in MODULES
    )


def test_no_import_cycles_not_even_type_only():
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(GRAPH[node]):
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for name in sorted(GRAPH):
        if name not in state:
            visit(name)


def _library_modules() -> list[str]:
    return [m for m in MODULES if not m.startswith("convcli.cli") and m != "convcli.__main__"]


@pytest.mark.parametrize("banned", ["typer", "rich", "click", "convcli.cli"])
def test_library_never_imports_the_cli(banned):
    offenders = [
        m
        for m in _library_modules()
        if any(i == banned or i.startswith(banned + ".") for i in _imports(m))
    ]
    assert offenders == []


def test_pillow_only_in_the_images_package():
    offenders = [
        m
        for m in MODULES
        if not m.startswith("convcli.images") and any(_top(i) == "PIL" for i in _imports(m))
    ]
    assert offenders == []


STDLIB_ONLY = (
    "convcli.signals",
    "convcli.presets",
    "convcli.config",
    "convcli.errors",
    "convcli.atomic",
    "convcli.parsing",
    "convcli.shapes",
    "convcli.layers",
    "convcli.budget",
)

#: The layers of docs/architecture.md, bottom first: a module may import its own layer (the
#: cycle test keeps that acyclic) and the layers below, nothing above.  ``convcli`` itself
#: (the lazy public facade) is left out: it names the public functions of every layer.
LAYERS = (
    (
        "convcli.errors",
        "convcli.config",
        "convcli.atomic",
        "convcli.parsing",
        "convcli.signals",
        "convcli.presets",
    ),
    ("convcli.shapes", "convcli.layers", "convcli.budget"),
    ("convcli.array_types", "convcli.borders", "convcli.conv_options"),
    ("convcli.engine", "convcli.kernelspec"),
    ("convcli.images", "convcli.filters", "convcli.plots"),
    ("convcli.grad",),
    ("convcli.runner",),
    ("convcli.dask",),
    ("convcli.cli", "convcli.__main__"),
)


def _unit(module: str) -> str:
    """The package (or top-level module) a module belongs to: ``convcli.engine.api`` -> engine."""
    return ".".join(module.split(".")[:2])


def _layer(module: str) -> int:
    unit = _unit(module)
    for i, names in enumerate(LAYERS):
        if unit in names:
            return i
    pytest.fail(f"{module} is in no layer of docs/architecture.md")


def test_every_module_has_a_layer_and_imports_point_down():
    upward = []
    for name, deps in GRAPH.items():
        if name == "convcli":
            continue
        for dep in deps:
            if dep == "convcli" and name.startswith(("convcli.cli", "convcli.dask")):
                continue  # the version string
            if _unit(dep) == _unit(name):
                continue
            if dep == "convcli" or _layer(dep) > _layer(name):
                upward.append(f"{name} -> {dep}")
    assert upward == []


def test_stdlib_only_modules_import_no_numpy():
    checked = [m for m in MODULES if m.startswith(STDLIB_ONLY)]
    assert checked, "no stdlib-only module found"
    offenders = {
        m: sorted(_imports(m)) for m in checked if any(_top(i) == "numpy" for i in _imports(m))
    }
    assert offenders == {}


def test_modules_and_functions_stay_small():
    long_modules = {}
    long_functions = {}
    for name, path in MODULES.items():
        text = path.read_text(encoding="utf-8")
        n = text.count("\n")
        if n > MAX_MODULE_LINES:
            long_modules[name] = n
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                body = node.body
                if (
                    body
                    and isinstance(body[0], ast.Expr)
                    and isinstance(body[0].value, ast.Constant)
                ):
                    body = body[1:] or body  # the docstring does not count
                lines = (node.end_lineno or node.lineno) - body[0].lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long_functions[f"{name}.{node.name}"] = lines
    assert long_modules == {}
    assert long_functions == {}
