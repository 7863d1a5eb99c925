"""The calibration gradient (mapping -> simulation -> cost -> regularization) against central
finite differences, in float64, for every mapping and every routing."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hydrograd as smash
from hydrograd.calibration.objective import cost_jit, value_and_grad_jit
from hydrograd.calibration.problems import MappedProblem
from hydrograd.core.simulate import Forcing, WavefrontForcing
from tests._inputs import as_float64 as _float64
from tests._inputs import read_catchment


@pytest.fixture(scope="module")
def short_lez():
    setup, mesh = smash.factory.load_dataset("Lez")
    setup.update(start_time="2012-09-15", end_time="2012-11-15")
    return setup, mesh


def _inside(problem: MappedProblem, x: np.ndarray) -> np.ndarray:
    """Clip a transformed control inside its bounds (with a margin for the differences)."""
    bounded = problem.control.nbd == 2
    lower = np.where(bounded, problem.control.lower_t, 0.0)
    upper = np.where(bounded, problem.control.upper_t, 0.0)
    margin = 1e-3 * (upper - lower)
    return np.where(bounded, np.clip(x, lower + margin, upper - margin), x)


def _check(problem: MappedProblem, x: np.ndarray, n_directions: int = 3, rtol: float = 2e-5):
    rng = np.random.default_rng(0)
    x = _inside(problem, x)
    with jax.enable_x64(True):
        data = _float64(problem.data)
        x = jnp.asarray(x, jnp.float64)
        value, grad = value_and_grad_jit(x, problem.objective, data)
        assert grad.dtype == jnp.float64
        assert np.all(np.isfinite(np.asarray(grad)))
        for _ in range(n_directions):
            v = jnp.asarray(rng.normal(size=x.shape))
            eps = 1e-6
            up = cost_jit(x + eps * v, problem.objective, data)
            down = cost_jit(x - eps * v, problem.objective, data)
            fd = float(up - down) / (2 * eps)
            an = float(jnp.dot(grad, v))
            assert an == pytest.approx(fd, rel=rtol, abs=1e-9), (an, fd)
        return float(value)


@pytest.mark.parametrize(
    ("mapping", "optimizer", "parameters"),
    [
        ("uniform", "lbfgsb", ["cp", "ct", "kexc", "llr", "hp"]),
        ("distributed", "lbfgsb", ["cp", "ct", "kexc", "llr", "ht"]),
        ("multi-linear", "lbfgsb", ["cp", "ct", "kexc", "llr", "hp"]),
        ("multi-power", "adam", ["cp", "ct", "kexc", "llr"]),
        ("uniform", "sbs", ["cp", "ct", "kexc", "llr", "hp", "ht"]),
    ],
)
def test_gradient_matches_finite_differences(short_lez, mapping, optimizer, parameters):
    setup, mesh = short_lez
    if mapping == "multi-power":
        setup = {**setup, "descriptor_tfm": "normalize"}
    catchment = read_catchment(setup, mesh)
    catchment.parameters["kexc"][...] = -1.0
    problem = catchment.problem(
        mapping, optimizer, {"parameters": parameters}, {"gauge": "all", "jobs_cmpt": ["nse", "kge"]}
    )
    x = problem.x0 + np.random.default_rng(1).normal(0, 0.05, problem.x0.size).astype(np.float32)
    _check(problem, x)


@pytest.mark.parametrize("routing", ["zero", "lag0", "kw"])
def test_gradient_every_routing(short_lez, routing):
    setup, mesh = short_lez
    problem = read_catchment({**setup, "routing_module": routing, "dt": 86400}, mesh).problem("distributed", "lbfgsb")
    _check(problem, problem.x0 * np.float32(0.9), n_directions=2)


@pytest.mark.parametrize("component", ["prior", "smoothing", "hard-smoothing"])
def test_gradient_with_regularization(short_lez, component):
    setup, mesh = short_lez
    problem = read_catchment(setup, mesh).problem(
        "distributed", "lbfgsb", cost_options={"wjreg": 0.5, "jreg_cmpt": component}
    )
    x = problem.x0 + np.random.default_rng(2).normal(0, 0.05, problem.x0.size).astype(np.float32)
    _check(problem, x, n_directions=2)


@pytest.mark.parametrize("routing", ["lr", "kw"])
def test_gradient_under_the_wavefront_schedule(routing):
    """A year of daily steps: the calibration runs the wavefront schedule on forcing reordered once,
    with the same cost as on time-ordered forcing and a gradient that matches finite differences."""
    setup, mesh = smash.factory.load_dataset("Lez")
    catchment = read_catchment({**setup, "routing_module": routing}, mesh)
    problem = catchment.problem("distributed", "lbfgsb")
    assert isinstance(problem.data.forcing, WavefrontForcing)
    x = _inside(problem, problem.x0 * np.float32(0.95))
    value = _check(problem, x, n_directions=2)
    time_ordered = problem.data._replace(forcing=catchment.core_inputs().forcing)
    assert isinstance(time_ordered.forcing, Forcing)
    with jax.enable_x64(True):
        plain = cost_jit(jnp.asarray(x, jnp.float64), problem.objective, _float64(time_ordered))
    assert float(plain) == pytest.approx(value, rel=1e-12)
