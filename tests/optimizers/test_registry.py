"""The optimizer registry: every row minimizes through the same contract, on plain functions, and
the mapping rows pair them as smash does."""

from __future__ import annotations

import numpy as np
import pytest

from hydrograd.optimizers import MAPPINGS, OPTIMIZERS, Functions, Settings

TARGET = np.array([0.3, -0.2, 0.6])


def _quadratic(x: np.ndarray) -> float:
    return float(np.sum((np.asarray(x, dtype=np.float64) - TARGET) ** 2))


FUNCTIONS = Functions(
    cost=_quadratic,
    batch_cost=lambda xs: np.array([_quadratic(x) for x in xs]),
    value_and_grad=lambda x: (_quadratic(x), 2.0 * (np.asarray(x, dtype=np.float64) - TARGET)),
)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_every_optimizer_minimizes_a_quadratic_through_its_row(name):
    row = OPTIMIZERS[name]
    termination = {**row.termination, "maxiter": 400 if row.is_adaptive else row.termination["maxiter"]}
    lines = []
    result = row.minimize(
        FUNCTIONS,
        np.zeros(3),
        np.full(3, -1.0),
        np.full(3, 1.0),
        Settings(termination, 0.02 if row.is_adaptive else None),
        lines.append,
    )
    assert result.cost < 0.05 * _quadratic(np.zeros(3)), (name, result.cost)
    assert result.cost == pytest.approx(_quadratic(result.x), rel=1e-5)
    assert lines and lines[0].startswith("    At iterate     0")


def test_bounds_are_respected():
    upper = np.array([0.1, 1.0, 1.0])
    for name in ("sbs", "lbfgsb", "adam"):
        row = OPTIMIZERS[name]
        settings = Settings(row.termination, row.learning_rate)
        result = row.minimize(FUNCTIONS, np.zeros(3), np.full(3, -1.0), upper, settings, lambda _: None)
        assert result.x[0] <= 0.1 + 1e-6, name


def test_mappings_pair_optimizers_as_smash_does():
    defaults = {name: row.default_optimizer for name, row in MAPPINGS.items()}
    assert defaults == {
        "uniform": "sbs",
        "distributed": "lbfgsb",
        "multi-linear": "lbfgsb",
        "multi-power": "lbfgsb",
        "ann": "adam",
    }
    assert set(MAPPINGS["uniform"].optimizers) == set(OPTIMIZERS)
    assert set(MAPPINGS["ann"].optimizers) == {"adam", "sgd", "adagrad", "rmsprop"}
    for name in ("distributed", "multi-linear", "multi-power"):
        assert all(OPTIMIZERS[o].uses_gradient for o in MAPPINGS[name].optimizers)
    assert [n for n, row in MAPPINGS.items() if row.uses_descriptors] == ["multi-linear", "multi-power", "ann"]
