"""The optimizers and mappings a calibration can choose, one row each, and which go together.

Everything that names an optimizer reads these rows: option checks and defaults
(``hydrograd.config``), dispatch (``hydrograd.calibration``), the command line's help. Adding an
optimizer is a ``minimize`` function (see :class:`hydrograd.optimizers.Minimize`) and a row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from hydrograd.optimizers import _adaptive, _sbs, _scipy
from hydrograd.optimizers._base import Minimize

DEFAULT_LEARNING_RATE = 0.003
"""Adam's and RMSprop's default step, as smash's (SGD and Adagrad default to 0.02)."""


@dataclass(frozen=True)
class Optimizer:
    """One optimizer.

    ``needs``: the :class:`~hydrograd.optimizers.Functions` entry it calls (``"batch_cost"``,
    ``"cost"`` or ``"value_and_grad"``); ``termination``: its ``termination_crit`` keys and their
    defaults; ``learning_rate``: the default step of an adaptive optimizer (None for the others,
    which take none).
    """

    name: str
    minimize: Minimize
    needs: str
    termination: Mapping[str, float]
    learning_rate: float | None
    summary: str

    @property
    def uses_gradient(self) -> bool:
        return self.needs == "value_and_grad"

    @property
    def is_adaptive(self) -> bool:
        return self.learning_rate is not None


def _row(name, minimize, needs, termination, summary, learning_rate=None) -> Optimizer:
    return Optimizer(name, minimize, needs, MappingProxyType(termination), learning_rate, summary)


_ADAPTIVE_TERMINATION = {"maxiter": 200, "early_stopping": 0}

OPTIMIZERS: dict[str, Optimizer] = {
    row.name: row
    for row in (
        _row("sbs", _sbs.step_by_step, "batch_cost", {"maxiter": 50}, "smash's step-by-step search"),
        _row(
            "lbfgsb",
            _scipy.lbfgsb,
            "value_and_grad",
            {"maxiter": 100, "factr": 1e6, "pgtol": 1e-12},
            "L-BFGS-B (scipy)",
        ),
        _row(
            "nelder-mead",
            _scipy.nelder_mead,
            "cost",
            {"maxiter": 200, "xatol": 1e-4, "fatol": 1e-4},
            "Nelder-Mead simplex (scipy)",
        ),
        _row("powell", _scipy.powell, "cost", {"maxiter": 50}, "Powell's conjugate directions (scipy)"),
        _row("adam", _adaptive.adam, "value_and_grad", _ADAPTIVE_TERMINATION, "Adam", DEFAULT_LEARNING_RATE),
        _row("sgd", _adaptive.sgd, "value_and_grad", _ADAPTIVE_TERMINATION, "SGD", 0.02),
        _row("adagrad", _adaptive.adagrad, "value_and_grad", _ADAPTIVE_TERMINATION, "Adagrad", 0.02),
        _row("rmsprop", _adaptive.rmsprop, "value_and_grad", _ADAPTIVE_TERMINATION, "RMSprop", DEFAULT_LEARNING_RATE),
    )
}

_GRADIENT = tuple(name for name, row in OPTIMIZERS.items() if row.uses_gradient)
_ADAPTIVE = tuple(name for name, row in OPTIMIZERS.items() if row.is_adaptive)


@dataclass(frozen=True)
class MappingKind:
    """One mapping from a control vector to parameter maps: the optimizers that can serve it (the
    first is its default) and whether it reads descriptors."""

    name: str
    optimizers: tuple[str, ...]
    uses_descriptors: bool
    summary: str

    @property
    def default_optimizer(self) -> str:
        return self.optimizers[0]


MAPPINGS: dict[str, MappingKind] = {
    row.name: row
    for row in (
        MappingKind("uniform", tuple(OPTIMIZERS), False, "one value per parameter"),
        MappingKind("distributed", _GRADIENT, False, "one value per parameter and cell"),
        MappingKind("multi-linear", _GRADIENT, True, "sigmoid of a linear function of the descriptors"),
        MappingKind("multi-power", _GRADIENT, True, "sigmoid of a sum of powers of the descriptors"),
        MappingKind("ann", _ADAPTIVE, True, "a neural network of the descriptors (factory.Net)"),
    )
}
