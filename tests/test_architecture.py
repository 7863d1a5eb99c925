"""The floors of the package (README, "Architecture"): every hydrograd import goes to the same floor or
below, only the top floors know ``Model``, and no hydrograd import hides inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "hydrograd"

FLOORS = {
    "_validate": 0,
    "_arrays": 0,
    "_containers": 0,
    "_progress": 0,
    "_process": 0,
    "_exported": 0,
    "core": 1,
    "optimizers": 2,
    "mesh": 3,
    "nn": 3,
    "preprocess": 3,
    "config": 4,
    "signal": 5,
    "simulation": 6,
    "formats": 6,
    "calibration": 7,
    "fcore": 7,
    "model": 8,
    "api": 9,
    "plot": 9,
    "io": 9,
    "factory": 9,
    "app": 10,
    "distributed": 10,
    "batch": 9,
    "__init__": 10,
}
"""Floor of each top-level module or subpackage of hydrograd."""

MODEL_FLOOR = FLOORS["model"]


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _place(path: Path) -> str:
    """The top-level module or subpackage a file belongs to."""
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def _imports(tree: ast.Module) -> list[tuple[str, bool, int]]:
    """``(module, nested, line)`` of every hydrograd import; ``nested``: inside a function."""
    found = []

    def visit(node: ast.AST, nested: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = nested or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                found.extend((alias.name, inside, child.lineno) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                found.append((child.module, inside, child.lineno))
            visit(child, inside)

    visit(tree, False)
    return [(name, nested, line) for name, nested, line in found if name.split(".")[0] == "hydrograd"]


def _target(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_go_down_the_floors(path):
    place = _place(path)
    assert place in FLOORS, f"{place} has no floor in this test's table: add it (and to the README)"
    for module, nested, line in _imports(ast.parse(path.read_text())):
        target = _target(module)
        assert not nested, f"{path.name}:{line} imports {module} inside a function"
        assert FLOORS[target] <= FLOORS[place], (
            f"{path.name}:{line} ({place}, floor {FLOORS[place]}) imports {module} (floor {FLOORS[target]})"
        )
        if target == "model":
            assert FLOORS[place] > MODEL_FLOOR or place == "model", f"{path.name}:{line} imports the Model"


def test_the_table_knows_every_part_of_the_package():
    assert {_place(p) for p in _modules()} == set(FLOORS)
