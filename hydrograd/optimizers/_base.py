"""What every optimizer takes and returns, and smash's iteration lines.

An optimizer is a pure search over a numpy vector: it receives the objective as plain callables
(:class:`Functions`), the start, the bounds and its settings, and knows nothing of models. It
reports through ``report`` (``print`` when verbose, a no-op otherwise) in smash's format and calls
``callback`` after each iteration.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

import numpy as np

Report = Callable[[str], None]
IterationCallback = Callable[[dict], None] | None

INDENT = " " * 4
MAXITER_MESSAGE = "STOP: TOTAL NO. of ITERATIONS REACHED LIMIT"
CALLBACK_STOP_MESSAGE = "STOP: CALLBACK RAISED StopIteration"
"""How every method ends when the user's ``callback`` raises ``StopIteration``: at once, on the best
iterate found so far (scipy's own convention for its callbacks)."""


class Functions(NamedTuple):
    """The objective an optimizer may call, over numpy vectors; an optimizer uses the ones its
    registry row names (``Optimizer.needs``).

    ``cost(x) -> J``; ``batch_cost(xs) -> (n,)`` for a batch ``(n, size)``;
    ``value_and_grad(x) -> (J, dJ/dx)``; ``gradient_norm(grad) -> |proj g|`` as reported (default:
    the infinity norm of the gradient).
    """

    cost: Callable[[np.ndarray], float] | None = None
    batch_cost: Callable[[np.ndarray], np.ndarray] | None = None
    value_and_grad: Callable[[np.ndarray], tuple[float, np.ndarray]] | None = None
    gradient_norm: Callable[[np.ndarray], float] | None = None


class Settings(NamedTuple):
    """``termination``: the checked ``termination_crit`` (``maxiter`` and the optimizer's own
    keys); ``learning_rate``: adaptive optimizers only."""

    termination: Mapping[str, float]
    learning_rate: float | None = None


@dataclass
class OptimizerResult:
    """Final vector, its cost, iteration count, per-iteration history, message."""

    x: np.ndarray
    cost: float
    n_iter: int
    message: str
    projg: float | None = None
    iter_cost: list[float] = field(default_factory=list)
    iter_projg: list[float] = field(default_factory=list)


class Minimize(Protocol):
    """The contract every registry row's ``minimize`` follows. ``lower``/``upper`` hold ``-inf`` /
    ``inf`` where a coordinate is unbounded."""

    def __call__(
        self,
        functions: Functions,
        x0: np.ndarray,
        lower: np.ndarray,
        upper: np.ndarray,
        settings: Settings,
        report: Report,
        callback: IterationCallback = None,
    ) -> OptimizerResult: ...


def iteration_line(iteration: int, nfg: int, cost: float, tail: str) -> str:
    """smash's line ``At iterate i    nfg = n    J = ...`` followed by ``tail``."""
    return f"{INDENT}At iterate {iteration:>5}    nfg = {nfg:>5}    J = {cost:>.5e}    {tail}"


def call_back(callback: IterationCallback, info: dict) -> bool:
    """Call the user's ``callback`` (if any); True when it asks to stop by raising StopIteration."""
    if callback is None:
        return False
    try:
        callback(info)
    except StopIteration:
        return True
    return False


def inf_norm(grad: np.ndarray) -> float:
    """The infinity norm of a gradient (0 for an empty one)."""
    return float(np.max(np.abs(grad))) if grad.size else 0.0
