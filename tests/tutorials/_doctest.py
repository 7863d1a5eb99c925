"""Run the ``>>>`` examples of a seed tutorial with ``import hydrograd as smash``.

Each example (a ``>>>`` line and its ``...`` continuations) is executed in one namespace; an
expression's value is kept as its ``repr`` (what the interactive prompt would show) so that a
test can compare it with the tutorial's ``output`` blocks.
"""

from __future__ import annotations

import ast
import contextlib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

SEEDS = Path(__file__).resolve().parents[2].parent / "shared" / "seeds"

BLOCK = re.compile(r"^\.\. code-block:: (\w+)\s*$")


@dataclass
class Example:
    source: str
    shown: str = ""
    printed: str = ""


@dataclass
class Tutorial:
    examples: list[Example] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)


def parse(path: Path) -> Tutorial:
    """The ``>>>`` examples and the ``output`` blocks of an rst tutorial, in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    tutorial = Tutorial()
    kind, body = None, []

    def flush():
        if kind == "output" and body:
            tutorial.outputs.append("\n".join(body).strip("\n"))
        if kind == "python":
            current: list[str] = []
            for line in body:
                text = line.strip()
                if text.startswith(">>>"):
                    if current:
                        tutorial.examples.append(Example("\n".join(current)))
                    current = [text[4:]]
                elif text.startswith("..."):
                    current.append(text[4:])
            if current:
                tutorial.examples.append(Example("\n".join(current)))

    for line in lines:
        match = BLOCK.match(line)
        if match:
            flush()
            kind, body = match.group(1), []
        elif kind is not None and (line.startswith("    ") or not line.strip()):
            body.append(line[4:] if line.startswith("    ") else "")
        elif kind is not None:
            flush()
            kind, body = None, []
    flush()
    return tutorial


def run(tutorial: Tutorial) -> dict:
    """Execute every example with hydrograd standing in for smash; returns the namespace."""
    namespace: dict = {}
    for example in tutorial.examples:
        source = example.source.replace("import smash", "import hydrograd as smash")
        if not source.strip() or all(not line.strip() or line.strip() == "#" for line in source.splitlines()):
            continue
        tree = ast.parse(source)
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            if tree.body and isinstance(tree.body[-1], ast.Expr):
                *statements, last = tree.body
                exec(compile(ast.Module(statements, []), "<tutorial>", "exec"), namespace)
                value = eval(compile(ast.Expression(last.value), "<tutorial>", "eval"), namespace)
                if value is not None:
                    example.shown = repr(value)
            else:
                exec(compile(tree, "<tutorial>", "exec"), namespace)
        example.printed = buffer.getvalue()
    return namespace


def run_seed(name: str) -> tuple[Tutorial, dict]:
    """Parse and run the seed tutorial ``name`` (an rst file under ``../shared/seeds``)."""
    path = SEEDS / name
    if not path.is_file():
        pytest.skip(f"seed tutorial not found at {path}")
    tutorial = parse(path)
    return tutorial, run(tutorial)
