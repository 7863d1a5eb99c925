"""Calibration gradients against hydro-smash 1.3.0's adjoint (``smash.backward_run``) and against
finite differences, for every hydrological module, and where smash's adjoint is the odd one out.

Gradients are taken with respect to the control vector of a uniform L-BFGS-B calibration (smash's
defaults: ``normalize`` transform, NSE at the outlet) on Cance (hourly). Where the cost is
differentiable both tools give the same gradient, which is also the finite-difference one. Two
things make smash's first L-BFGS-B iteration differ from hydrograd's from the default start
(``benchmarks/RESULTS.md``, "Gradient parity with smash.backward_run"):

- the default start ``kexc = 0`` is a kink of the cost (:func:`test_default_start_is_a_kink`);
- the first line-search point puts capacities at their lower bound (1e-6 mm), where smash's
  float32 adjoint returns NaN (``gr5``, ``grd``; scipy's line search then gives up and smash's
  iteration stays at the start) or a derivative its own forward model contradicts (``loieau``)
  (:func:`test_reference_adjoint_fails_where_a_capacity_is_at_its_lower_bound`,
  :func:`test_reference_lbfgsb_iteration_stalls_on_its_nan_adjoint`,
  :func:`test_reference_adjoint_contradicts_its_own_forward_at_a_tiny_routing_store`).
"""

from __future__ import annotations

import warnings

import jax
import numpy as np
import pytest

import hydrograd
from hydrograd.calibration.problems import MappedProblem as Problem
from tests._inputs import model_problem

smash = pytest.importorskip("smash")

pytestmark = pytest.mark.parity

PERIOD = {"start_time": "2014-10-09 00:00", "end_time": "2014-10-12 00:00"}
"""72 hourly steps with the flood of 10-11 October 2014."""
POINT = {
    "cp": 250.0,
    "ct": 120.0,
    "kexc": -0.2,
    "aexc": 0.45,
    "be": 5.0,
    "cl": 300.0,
    "alpha1": 3e-4,
    "alpha2": 1e-3,
    "ca": 250.0,
    "cc": 120.0,
    "kb": 1.2,
    "llr": 90.0,
    "akw": 5.0,
    "bkw": 0.6,
}
"""Uniform parameters inside every bound, with an exchange (``kexc != 0``)."""
STATES = {"hp": 0.4, "ht": 0.3, "hl": 0.3, "he": -5.0, "ha": 0.4, "hc": 0.3}
MODULES = (
    "gr4",
    "gr4_ri",
    "gr4_ode",
    "gr5",
    "gr5_ri",
    "gr6",
    "grc",
    "grd",
    "loieau",
    "gr4_mlp",
    "gr4_ri_mlp_exc",
    "gr4_ude",
    "gr5_mlp",
    "gr5_ri_mlp_exc",
    "gr6_mlp",
    "grc_mlp",
    "grd_mlp",
    "loieau_mlp",
)
QUIET = {"verbose": False}


def _models(module: str, routing: str = "lr", period: dict | None = PERIOD):
    """smash's and hydrograd's models of ``module`` on Cance, default parameters."""
    extra = {"hydrological_module": module, "routing_module": routing, **(period or {})}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        setup, mesh = smash.factory.load_dataset("Cance")
        reference = smash.Model({**setup, **extra}, mesh)
        setup, mesh = hydrograd.factory.load_dataset("Cance")
        ours = hydrograd.Model({**setup, **extra}, mesh, verbose=False)
    return reference, ours


def _set_point(reference, ours) -> None:
    """``POINT``, ``STATES`` and, for a hybrid, the same small random network in both models."""
    for key, value in POINT.items():
        if key in ours.rr_parameters.keys:
            reference.set_rr_parameters(key, value)
            ours.set_rr_parameters(key, value)
    for key, value in STATES.items():
        if key in ours.rr_initial_states.keys:
            reference.set_rr_initial_states(key, value)
            ours.set_rr_initial_states(key, value)
    if ours.setup.n_layers:
        rng = np.random.default_rng(0)
        weights = [rng.normal(0, 0.1, w.shape).astype(np.float32) for w in ours.get_nn_parameters_weight()]
        biases = [rng.normal(0, 0.05, b.shape).astype(np.float32) for b in ours.get_nn_parameters_bias()]
        for model in (reference, ours):
            model.set_nn_parameters_weight(value=weights)
            model.set_nn_parameters_bias(value=biases)


@pytest.fixture(autouse=True)
def _x64():
    """Every problem here is a float64 L-BFGS-B problem, whose functions run under x64."""
    with jax.enable_x64(True):
        yield


def _problem(ours, mapping: str = "uniform") -> Problem:
    """The float64 L-BFGS-B problem of ``ours`` with smash's default options and cost."""
    return model_problem(ours, mapping, "lbfgsb", "float64")


def _reference_gradient(reference, mapping: str = "uniform") -> tuple[float, np.ndarray]:
    ret = reference.backward_run(
        mapping=mapping, optimizer="lbfgsb", common_options=QUIET, return_options={"grad": True, "cost": True}
    )
    return float(ret.cost), np.asarray(ret.grad, np.float64)


def _set_reference_control(reference, problem: Problem, x: np.ndarray) -> None:
    """Set smash's uniform parameters from the transformed control ``x`` (parameters only)."""
    control = problem.control
    lower, upper = control.lower[: control.n_rr], control.upper[: control.n_rr]
    raw = np.asarray(x[: control.n_rr], np.float32) * (upper - lower) + lower
    for name, value in zip(control.names[: control.n_rr], raw, strict=True):
        reference.set_rr_parameters(name.rsplit("-", 1)[0], float(value))


def _reference_cost(reference, problem: Problem):
    work = reference.copy()

    def cost(x):
        _set_reference_control(work, problem, x)
        return float(work.forward_run(common_options=QUIET, return_options={"cost": True}).cost)

    return cost


def _cost(problem: Problem):
    return lambda x: problem.value_and_grad(x)[0]


def _difference(cost, x: np.ndarray, direction: np.ndarray, step: float, side: int = 0) -> float:
    """Central (``side = 0``), forward (1) or backward (-1) difference of ``cost`` along ``direction``."""
    x = np.asarray(x, np.float64)
    up = cost(x + step * direction) if side >= 0 else cost(x)
    down = cost(x - step * direction) if side <= 0 else cost(x)
    return (up - down) / (step * (2 if side == 0 else 1))


def _relative(a: np.ndarray, b: np.ndarray, floor: float = 1e-2) -> float:
    """``max |a - b| / max(|b|, floor max |b|)``, entry by entry (``floor = 1``: the largest
    difference relative to the largest entry)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), floor * np.abs(b).max())))


def _check_gradients(module: str, routing: str = "lr", mapping: str = "uniform") -> None:
    """At ``POINT``: same cost in both tools, hydrograd's gradient equal to central differences
    (along every parameter entry of a uniform control, and two random directions through the
    whole control) and to smash's adjoint. A distributed control's entries, one per cell, span
    decades and are compared relative to the largest one; its differences take a step short
    enough that no cell crosses a kink of its fluxes."""
    reference, ours = _models(module, routing)
    _set_point(reference, ours)
    problem = _problem(ours, mapping)
    x = problem.x0
    value, grad = problem.value_and_grad(x)
    reference_value, reference_grad = _reference_gradient(reference, mapping)
    assert value == pytest.approx(reference_value, rel=1e-5)
    uniform = mapping == "uniform"
    n = problem.control.n_rr if uniform else 0
    rng = np.random.default_rng(0)
    directions = [*np.eye(x.size)[:n], *rng.normal(size=(2, x.size))]
    fd = np.array([_difference(_cost(problem), x, d, 1e-6 if uniform else 1e-8) for d in directions])
    floor = 1e-2 if uniform else 1.0
    assert _relative(np.array(directions) @ grad, fd, floor) < 1e-4
    assert _relative(reference_grad, grad, floor) < 2e-3


@pytest.mark.parametrize("module", MODULES)
def test_gradient_matches_reference_and_finite_differences(module):
    _check_gradients(module)


@pytest.mark.parametrize("routing", ["lag0", "kw"])
def test_gradient_matches_reference_under_every_routing(routing):
    _check_gradients("gr6", routing)


def test_distributed_gradient_matches_reference():
    _check_gradients("grc", mapping="distributed")


@pytest.fixture(scope="module")
def whole_cance():
    """``get(module)``: copies of smash's and hydrograd's models of ``module`` over the whole Cance
    period with the default parameters, the setting of smash's default calibration."""
    cache = {}

    def get(module: str):
        if module not in cache:
            cache[module] = _models(module, period=None)
        return tuple(model.copy() for model in cache[module])

    return get


@pytest.mark.parametrize(("module", "side"), [("grc", "right"), ("gr5", "left")])
def test_default_start_is_a_kink(whole_cance, module, side):
    """smash's default start, ``kexc = 0``, is a kink of the cost. There the exchange is 0 and in dry
    steps so is the direct branch's inflow ``prd`` in smash's float32 (whose percolation rounds
    to 0 below a filling ratio of about 0.08 with the hourly scale, always with ``grc``'s scale
    1000), so that ``qd = max(0, prd + lexc)`` sits on its corner. hydrograd's percolation keeps
    its last digits, ``prd`` stays positive and its gradient is the exact model's derivative, one
    of the one-sided derivatives (the right one for ``grc``, whose exchange ``kexc ht^3.5`` has
    the sign of ``kexc``, the left one for ``gr5``, whose ``kexc (ht - aexc)`` has the other sign
    while ``ht < aexc``). smash's adjoint takes the clipped side at every such corner: the left
    derivative for ``grc``, a mixture for ``gr5``. Both are valid; L-BFGS-B then starts along
    different directions."""
    reference, ours = whole_cance(module)
    problem = _problem(ours)
    x = problem.x0
    k = problem.control.names.index("kexc-0")
    assert problem.control.x0[k] == 0.0
    _, grad = problem.value_and_grad(x)
    _, reference_grad = _reference_gradient(reference)
    unit = np.eye(x.size)[k]
    left = _difference(_cost(problem), x, unit, 1e-7, side=-1)
    right = _difference(_cost(problem), x, unit, 1e-7, side=1)
    assert abs(right - left) > 0.02 * abs(left)
    assert grad[k] == pytest.approx(right if side == "right" else left, rel=1e-4)
    if module == "grc":
        assert reference_grad[k] == pytest.approx(left, rel=1e-3)
    else:
        assert min(left, right) < reference_grad[k] < max(left, right)
    others = np.arange(x.size) != k
    assert _relative(reference_grad[others], grad[others]) < 2e-3


@pytest.mark.parametrize(
    ("module", "corner"), [("gr5", {"cp": 0.0, "ct": 0.0, "kexc": 1.0}), ("grd", {"cp": 0.0, "ct": 0.0})]
)
def test_reference_adjoint_fails_where_a_capacity_is_at_its_lower_bound(whole_cance, module, corner):
    """Where L-BFGS-B's first line search from the default start goes (the capacities at their
    lower bound 1e-6 mm, a gaining exchange at its upper bound), both tools compute the same
    cost, hydrograd's gradient is finite and matches one-sided differences of its cost, and
    smash's adjoint is NaN."""
    reference, ours = whole_cance(module)
    problem = _problem(ours)
    x = problem.x0.copy()
    for key, value in corner.items():
        x[problem.control.names.index(f"{key}-0")] = value
    _set_reference_control(reference, problem, x)
    value, grad = problem.value_and_grad(x)
    reference_value, reference_grad = _reference_gradient(reference)
    assert value == pytest.approx(reference_value, rel=1e-4)
    assert np.isnan(reference_grad).any()
    assert np.all(np.isfinite(grad))
    for name in corner:
        i = problem.control.names.index(f"{name}-0")
        side = 1 if x[i] == 0.0 else -1
        fd = _difference(_cost(problem), x, np.eye(x.size)[i], 1e-9, side)
        assert grad[i] == pytest.approx(fd, rel=1e-2), name


def test_reference_adjoint_contradicts_its_own_forward_at_a_tiny_routing_store(whole_cance):
    """``loieau`` where L-BFGS-B's first line search from the default start goes (its capacities at
    the lower bound 1e-6 mm): smash's adjoint gives the routing store's capacity ``cc`` a
    derivative that differences of smash's own cost contradict; hydrograd's matches differences
    of both costs."""
    reference, ours = whole_cance("loieau")
    problem = _problem(ours)
    x = problem.x0.copy()
    for key, value in {"ca": 0.0, "cc": 0.0, "kb": 1.0}.items():
        x[problem.control.names.index(f"{key}-0")] = value
    _set_reference_control(reference, problem, x)
    _, grad = problem.value_and_grad(x)
    _, reference_grad = _reference_gradient(reference)
    i = problem.control.names.index("cc-0")
    unit = np.eye(x.size)[i]
    ours_fd = _difference(_cost(problem), x, unit, 1e-12, side=1)
    reference_fd = _difference(_reference_cost(reference, problem), x, unit, 1e-5, side=1)
    assert grad[i] == pytest.approx(ours_fd, rel=2e-2)
    assert grad[i] == pytest.approx(reference_fd, rel=5e-2)
    assert abs(reference_grad[i] - reference_fd) > 0.5 * abs(reference_fd)


def test_reference_lbfgsb_iteration_stalls_on_its_nan_adjoint(whole_cance):
    """The issue's symptom: from the default start, smash's first L-BFGS-B iteration of ``gr5`` on
    Cance ends where it began (its line search meets the NaN adjoint above and gives up), while
    hydrograd's lowers the cost."""
    reference, ours = whole_cance("gr5")
    x0 = smash.optimize_control_info(reference, optimizer="lbfgsb")["x"]
    start = reference.copy().forward_run(common_options=QUIET, return_options={"cost": True}).cost
    options = {
        "optimizer": "lbfgsb",
        "optimize_options": {"termination_crit": {"maxiter": 1}},
        "common_options": QUIET,
        "return_options": {"control_vector": True, "cost": True},
    }
    ref = reference.optimize(**options)
    got = ours.optimize(**options)
    np.testing.assert_array_equal(np.asarray(ref.control_vector, np.float32), x0)
    assert ref.cost == pytest.approx(start)
    assert got.cost < 0.9 * start
