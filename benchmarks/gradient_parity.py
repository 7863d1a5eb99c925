"""Gradient parity with ``smash.backward_run``: ``python -m benchmarks.gradient_parity [--first-step] [MODULE ...]``.

Default: for every hydrological module (hybrids with small random network weights) under every
routing module it is listed with in ``CASES``, on smash's Cance dataset (hourly, 383 cells) over
the 192 steps of the flood of 8-16 October 2014, at one interior point of the bounds (``POINT``,
``kexc != 0``), the gradient of the default calibration cost (NSE at the outlet) with respect to
the transformed control vector of L-BFGS-B (``normalize`` transform; uniform mapping, and
distributed for a few) from

- hydrograd in float64 and in float32 (``MappedProblem.value_and_grad``, what a calibration calls);
- central differences of hydrograd's float64 cost (every entry for uniform mappings, random
  directions for distributed ones);
- ``smash.backward_run`` (smash's Tapenade adjoint, float32);
- central differences of smash's own float32 forward cost, for the rainfall-runoff parameters
  (uniform mappings), which says whether smash's adjoint agrees with smash's forward model.

Prints one markdown row per case. A relative difference is ``max_i |a_i - b_i| / max(|b_i|, f
max_j |b_j|)``: every entry relative to itself, entries below a fraction ``f`` of the largest one
relative to that fraction; ``f = 1e-2`` for uniform controls, 1 (the largest difference relative
to the largest entry) for distributed ones, whose per-cell entries span decades and where the
float32 adjoints of both tools carry errors of about 1e-4 of the largest entry.

``--first-step``: one L-BFGS-B iteration from smash's default start on the whole Cance period
(``lr`` routing) in both tools (``Model.optimize``, ``maxiter=1``). smash's iteration is replayed
with scipy on ``smash.backward_run`` to see every point its line search evaluated (a column gives
how far the replay's iterate is from smash's own). At the start, where the two gradients differ,
the left and right float64 differences of hydrograd's cost show whether the cost has a kink
there; at each later point where they differ, the entry where they differ most is checked against
one-sided differences of both costs, and hydrograd's whole gradient against float64 differences
(:func:`relative_steps`), which classifies the point (:attr:`Trial.kind`).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import warnings
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize
import smash

import hydrograd
from hydrograd.calibration.objective import cost_jit
from hydrograd.calibration.problems import MappedProblem as Problem
from hydrograd.calibration.run import build_problem, problem_precision
from hydrograd.config.calibration import check_calibration
from hydrograd.core.registry import HYDROLOGICAL_MODULES
from hydrograd.optimizers import OPTIMIZERS

DATASET = "Cance"
PERIOD = {"start_time": "2014-10-08 00:00", "end_time": "2014-10-16 00:00"}
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
"""Uniform parameter values (mm, mm/dt, minutes for ``llr``) inside every bound; ``kexc != 0``
keeps the cost differentiable (see ``--first-step`` for ``kexc = 0``)."""
STATES = {"hp": 0.4, "ht": 0.3, "hl": 0.3, "he": -5.0, "ha": 0.4, "hc": 0.3, "hlr": 1.0}
"""Uniform initial states (filling ratios; ``he`` and ``hlr`` in mm)."""
WEIGHT_SCALE, BIAS_SCALE = 0.1, 0.05
"""Standard deviations of the hybrids' network weights and biases (seed 0)."""

CONCEPTUAL = ("gr4", "gr4_ri", "gr4_ode", "gr5", "gr5_ri", "gr6", "grc", "grd", "loieau")
HYBRIDS = (
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
CASES = (
    *((module, "lr", "uniform") for module in (*CONCEPTUAL, *HYBRIDS)),
    *((module, routing, "uniform") for routing in ("lag0", "kw") for module in (*CONCEPTUAL, "gr4_mlp")),
    *((module, "lr", "distributed") for module in ("gr4", "gr5", "gr6", "grc", "gr4_mlp")),
)

FD_STEP = 1e-6
"""Step of the float64 central differences, in transformed (``[0, 1]``) control units."""
SMASH_FD_STEP = 2e-3
"""Step of the (Richardson-extrapolated) central differences of smash's float32 cost at ``POINT``:
smaller steps drown in its rounding."""
SMASH_BOUND_STEP = 1e-5
"""Step of the one-sided differences of smash's float32 cost at a bound, where the cost is large."""
FD_TOLERANCE = 1e-4
"""Largest relative difference of hydrograd's float64 gradient from finite differences."""
SMASH_TOLERANCE = 2e-3
"""Largest relative difference between smash's float32 adjoint and hydrograd's float64 gradient
for the two to count as the same derivative."""
COARSE_TOLERANCE = 5e-2
"""Tolerance of comparisons with differences of smash's float32 cost (a coarse check: whether
smash's adjoint is the derivative of smash's own forward model)."""
DISTRIBUTED_FD_STEP = 1e-8
"""Step of the directional differences of a distributed control: with one value per cell, some
cell is near a kink of its fluxes within any larger step."""


def relative_difference(a: np.ndarray, b: np.ndarray, floor: float = 1e-2) -> float:
    """``max_i |a_i - b_i| / max(|b_i|, floor * max_j |b_j|)`` (NaN anywhere gives NaN)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if np.isnan(a).any() or np.isnan(b).any():
        return float("nan")
    scale = max(floor * np.abs(b).max(), np.finfo(np.float64).tiny)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), scale)))


@contextlib.contextmanager
def quiet():
    """Silence the progress bars, messages and warnings both tools print while reading data."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def models(module: str, routing: str, period: dict | None = None):
    """``(reference, ours)``: the smash and hydrograd models of ``module``/``routing`` on Cance
    (over ``period``, default the whole dataset), with their default parameters."""
    extra = {"hydrological_module": module, "routing_module": routing, **(period or {})}
    with quiet():
        setup, mesh = smash.factory.load_dataset(DATASET)
        reference = smash.Model({**setup, **extra}, mesh)
        setup, mesh = hydrograd.factory.load_dataset(DATASET)
        ours = hydrograd.Model({**setup, **extra}, mesh, verbose=False)
    return reference, ours


def set_point(reference, ours, seed: int = 0) -> None:
    """Give both models ``POINT``, ``STATES`` and, for a hybrid, the same random network."""
    for key, value in POINT.items():
        if key in ours.rr_parameters.keys:
            reference.set_rr_parameters(key, value)
            ours.set_rr_parameters(key, value)
    for key, value in STATES.items():
        if key in ours.rr_initial_states.keys:
            reference.set_rr_initial_states(key, value)
            ours.set_rr_initial_states(key, value)
    if ours.setup.n_layers:
        rng = np.random.default_rng(seed)
        weights = [rng.normal(0, WEIGHT_SCALE, w.shape).astype(np.float32) for w in ours.get_nn_parameters_weight()]
        biases = [rng.normal(0, BIAS_SCALE, b.shape).astype(np.float32) for b in ours.get_nn_parameters_bias()]
        for model in (reference, ours):
            model.set_nn_parameters_weight(value=weights)
            model.set_nn_parameters_bias(value=biases)


def problem(ours, mapping: str, precision: str) -> Problem:
    """The L-BFGS-B calibration problem of ``ours`` (default options and cost) in ``precision``."""
    common = {"verbose": False, "precision": precision}
    request = check_calibration(ours.facts(values=True), mapping, "lbfgsb", None, None, common)
    data = ours.calibration_data()
    chosen = problem_precision(data, request)
    with jax.enable_x64(chosen.double):
        return build_problem(data, request, chosen)


def hydrograd_cost(prob: Problem):
    """``prob``'s cost as a function of a transformed control, in float64."""

    def cost(y: np.ndarray) -> float:
        with jax.enable_x64(True):
            return float(cost_jit(jnp.asarray(y, jnp.float64), prob.objective, prob.data))

    return cost


def directional_differences(cost, x: np.ndarray, directions: np.ndarray, step: float = FD_STEP) -> np.ndarray:
    """Central differences of ``cost`` at ``x`` along each row of ``directions``."""
    return np.array([(cost(x + step * d) - cost(x - step * d)) / (2 * step) for d in directions])


def differences(cost, x: np.ndarray, side: np.ndarray, step=FD_STEP, entries=None) -> np.ndarray:
    """Differences of ``cost`` at ``x`` along each control entry of ``entries`` (default: all):
    forward where ``side > 0``, backward where ``side < 0`` (at a bound), central where 0.
    ``step``: one step for every entry, or one per entry."""
    x = np.asarray(x, np.float64)
    steps = np.broadcast_to(np.asarray(step, np.float64), x.shape)
    entries = range(x.size) if entries is None else entries
    f0 = cost(x) if any(side[i] != 0 for i in entries) else None
    out = []
    for i in entries:
        e = np.zeros(x.size)
        e[i] = steps[i]
        up = cost(x + e) if side[i] >= 0 else f0
        down = cost(x - e) if side[i] <= 0 else f0
        out.append((up - down) / (steps[i] * (1 if side[i] else 2)))
    return np.array(out)


def relative_steps(prob: Problem, x: np.ndarray, relative: float = 1e-3) -> np.ndarray:
    """Steps in transformed units that move each bounded entry's raw value by ``relative`` times
    itself (at least ``relative * 1e-6``, a capacity's lower bound): near a capacity of 1e-6 mm
    the cost changes on the capacity's own scale, which a fixed step would jump over.
    Unbounded (network) entries take ``FD_STEP``."""
    control = prob.control
    width = control.upper - control.lower
    bounded = control.nbd == 2
    raw = np.where(bounded, control.lower + np.asarray(x, np.float64) * np.where(bounded, width, 1.0), 0.0)
    return np.where(bounded, relative * np.maximum(np.abs(raw), 1e-6) / np.where(bounded, width, 1.0), FD_STEP)


def richardson(cost, x: np.ndarray, n: int, step: float) -> np.ndarray:
    """Central differences along the first ``n`` entries with their ``step^2`` error removed
    (Richardson: ``(4 D(step / 2) - D(step)) / 3``), for a cost whose rounding forbids small steps."""
    central = np.zeros(x.size, int)
    coarse = differences(cost, x, central, step, range(n))
    fine = differences(cost, x, central, step / 2, range(n))
    return (4 * fine - coarse) / 3


def smash_gradient(reference, mapping: str = "uniform") -> tuple[float, np.ndarray]:
    """``(J, dJ/dx)`` from ``smash.backward_run`` on ``reference`` (default L-BFGS-B options)."""
    ret = reference.backward_run(
        mapping=mapping,
        optimizer="lbfgsb",
        common_options={"verbose": False},
        return_options={"grad": True, "cost": True},
    )
    return float(ret.cost), np.asarray(ret.grad, np.float64)


def set_smash_control(reference, prob: Problem, x: np.ndarray) -> None:
    """Set ``reference``'s uniform parameters and network from the transformed control ``x`` of
    ``prob`` (same layout in both tools)."""
    control = prob.control
    lower, upper = control.lower[: control.n_rr], control.upper[: control.n_rr]
    raw = np.asarray(x[: control.n_rr], np.float32) * (upper - lower) + lower
    for name, value in zip(control.names[: control.n_rr], raw, strict=True):
        reference.set_rr_parameters(name.rsplit("-", 1)[0], float(value))
    network = prob.network(np.asarray(x))
    if network:
        layers = range(1, len(network) // 2 + 1)
        reference.set_nn_parameters_weight(value=[network[f"weight_{i}"] for i in layers])
        reference.set_nn_parameters_bias(value=[network[f"bias_{i}"] for i in layers])


def smash_cost(reference, prob: Problem):
    """smash's float32 forward cost as a function of ``prob``'s transformed control."""
    work = reference.copy()

    def cost(y: np.ndarray) -> float:
        set_smash_control(work, prob, y)
        return float(work.forward_run(common_options={"verbose": False}, return_options={"cost": True}).cost)

    return cost


@dataclass
class Row:
    """One case of the gradient table (relative differences, see ``relative_difference``)."""

    module: str
    routing: str
    mapping: str
    size: int
    forward: float
    ours_fd: float
    single: float
    smash_ours: float
    smash_own_fd: float | None

    @property
    def verdict(self) -> str:
        if not self.ours_fd <= FD_TOLERANCE:
            return "hydrograd's gradient is wrong"
        if self.smash_ours <= SMASH_TOLERANCE:
            return "agree"
        if self.smash_own_fd is not None and not self.smash_own_fd <= COARSE_TOLERANCE:
            return "smash's adjoint disagrees with smash's forward"
        return "the forward models differ"

    def markdown(self) -> str:
        own = "n/a" if self.smash_own_fd is None else f"{self.smash_own_fd:.1e}"
        return (
            f"| {self.module} | {self.routing} | {self.mapping} | {self.size} | {self.forward:.1e} | "
            f"{self.ours_fd:.1e} | {self.single:.1e} | {self.smash_ours:.1e} | {own} | {self.verdict} |"
        )


HEADER = (
    "| module | routing | mapping | control size | forward: max abs(dq) / peak | hydrograd f64 vs FD | "
    "hydrograd f32 vs f64 | smash.backward_run vs hydrograd f64 | smash's adjoint vs FD of smash's forward "
    "(parameters, coarse) | verdict |\n"
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
)


def compare(module: str, routing: str, mapping: str) -> Row:
    """The gradients of one case at ``POINT`` (see the module's docstring)."""
    reference, ours = models(module, routing, PERIOD)
    set_point(reference, ours)
    with quiet():
        reference.forward_run(common_options={"verbose": False})
        ours.forward_run(common_options={"verbose": False})
    forward = float(np.abs(ours.response.q - reference.response.q).max() / np.abs(reference.response.q).max())
    double, single = problem(ours, mapping, "float64"), problem(ours, mapping, "float32")
    x = double.x0
    _, g64 = double.value_and_grad(x)
    _, g32 = single.value_and_grad(x)
    _, g_smash = smash_gradient(reference, mapping)
    own = None
    if mapping == "uniform":
        ours_fd = relative_difference(g64, differences(hydrograd_cost(double), x, np.zeros(x.size, int)))
        n_rr = double.control.n_rr
        smash_fd = richardson(smash_cost(reference, double), x, n_rr, SMASH_FD_STEP)
        own = relative_difference(g_smash[:n_rr], smash_fd)
    else:
        directions = np.random.default_rng(0).normal(size=(4, x.size))
        fd = directional_differences(hydrograd_cost(double), x, directions, DISTRIBUTED_FD_STEP)
        ours_fd = relative_difference(directions @ g64, fd, floor=1.0)
    floor = 1e-2 if mapping == "uniform" else 1.0
    return Row(
        module,
        routing,
        mapping,
        x.size,
        forward,
        ours_fd,
        relative_difference(g32, g64, floor),
        relative_difference(g_smash, g64, floor),
        own,
    )


# ---- the first L-BFGS-B iteration from smash's default start ----------------------------------


def replay_smash_lbfgsb(
    reference, ours, prob: Problem
) -> tuple[np.ndarray, list[tuple[np.ndarray, float, np.ndarray]]]:
    """One iteration of smash's L-BFGS-B (scipy with smash's options, float32 control and gradient
    from ``smash.backward_run``) from ``prob.x0``: returns the iterate and every ``(x, J, grad)``
    the search evaluated."""
    work = reference.copy()
    evaluations = []

    def value_and_grad(x):
        set_smash_control(work, prob, x)
        cost, grad = smash_gradient(work)
        evaluations.append((np.array(x), cost, grad))
        return cost, grad.astype(np.float32)

    control = prob.control
    bounded = control.nbd == 2
    bounds = [
        (lo, hi) if b else (None, None) for lo, hi, b in zip(control.lower_t, control.upper_t, bounded, strict=True)
    ]
    crit = OPTIMIZERS["lbfgsb"].termination
    result = scipy.optimize.minimize(
        value_and_grad,
        prob.x0,
        method="L-BFGS-B",
        jac=True,
        bounds=bounds,
        options={"maxiter": 1, "ftol": 2.22e-16 * crit["factr"], "gtol": crit["pgtol"]},
    )
    return result.x, evaluations


def bound_sides(prob: Problem, x: np.ndarray) -> np.ndarray:
    """For each control entry: 1 at its lower bound, -1 at its upper bound, 0 inside (the
    direction of a finite difference that stays inside the bounds)."""
    control = prob.control
    bounded = control.nbd == 2
    return np.where(bounded & (x <= control.lower_t), 1, np.where(bounded & (x >= control.upper_t), -1, 0))


@dataclass
class Trial:
    """A line-search point where smash's adjoint is NaN or differs from hydrograd's gradient, at
    the entry ``name`` where they differ most (see :func:`trial_diagnosis`)."""

    x: np.ndarray
    name: str
    smash: float
    ours: float
    smash_fd: float
    ours_coarse_fd: float
    ours_vs_fd: float

    @property
    def kind(self) -> str:
        """``no stable derivative`` where hydrograd's gradient is not the limit of its differences
        (the cost is chaotic there), else what smash's adjoint is: NaN, wrong (off by more than
        half, or of the other sign) or imprecise (float32 rounding at an extreme point)."""
        if not self.ours_vs_fd <= COARSE_TOLERANCE:
            return "no stable derivative"
        if np.isnan(self.smash):
            return "smash's adjoint NaN"
        if self.smash * self.ours <= 0 or abs(self.smash - self.ours) > 0.5 * abs(self.ours):
            return "smash's adjoint wrong"
        return "smash's adjoint imprecise"

    def describe(self) -> str:
        return (
            f"x = {np.array2string(self.x, precision=3)}, {self.name}: smash's adjoint {self.smash:.4g}, "
            f"hydrograd {self.ours:.4g}; FD (step {SMASH_BOUND_STEP:.0e}) of smash {self.smash_fd:.4g}, of "
            f"hydrograd {self.ours_coarse_fd:.4g}; hydrograd vs FD (relative steps 1e-3) {self.ours_vs_fd:.0e}"
        )


@dataclass
class FirstStep:
    """One row of the first-iteration table."""

    module: str
    cost: tuple[float, float]
    step_gap: float
    replay_gap: float
    start: str
    trials: list[Trial]

    @property
    def cause(self) -> str:
        causes = ["kink of the cost at the start"] if self.start.startswith("kink") else []
        causes += sorted({trial.kind for trial in self.trials} - {"smash's adjoint imprecise"})
        return ", ".join(causes) or "none"

    def markdown(self) -> str:
        trials = "; ".join(trial.describe() for trial in self.trials) or "gradients agree"
        return (
            f"| {self.module} | {self.cost[0]:.5f} / {self.cost[1]:.5f} | {self.step_gap:.3f} | "
            f"{self.replay_gap:.0e} | {self.start} | {trials} | {self.cause} |"
        )


FIRST_HEADER = (
    "| module | J after one iteration, smash / hydrograd | max abs(dx) | replay vs smash's iterate | "
    "gradients at the start | smash's line-search points where the gradients differ | cause |\n"
    "| --- | --- | --- | --- | --- | --- | --- |"
)


def start_diagnosis(prob: Problem, g_smash: np.ndarray, g_ours: np.ndarray) -> str:
    """Whether the two gradients at the start agree; where they do not, the left and right
    derivatives there (float64 differences of hydrograd's cost)."""
    scale = np.maximum(np.abs(g_ours), 1e-2 * np.abs(g_ours).max())
    differing = np.flatnonzero(np.abs(g_smash - g_ours) > SMASH_TOLERANCE * scale)
    if differing.size == 0:
        return f"agree ({relative_difference(g_smash, g_ours):.0e})"
    cost = hydrograd_cost(prob)
    right = differences(cost, prob.x0, np.ones(prob.x0.size, int), step=1e-7)
    left = differences(cost, prob.x0, -np.ones(prob.x0.size, int), step=1e-7)
    parts = [
        f"{prob.control.names[i]}: smash {g_smash[i]:.4g}, hydrograd {g_ours[i]:.4g}, "
        f"left/right FD {left[i]:.4g}/{right[i]:.4g}"
        for i in differing
    ]
    return "kink: " + "; ".join(parts)


def trial_diagnosis(reference, prob: Problem, evaluations) -> list[Trial]:
    """Each line-search point other than the start where smash's adjoint is NaN or differs from
    hydrograd's gradient. For the entry where they differ most: both, one-sided differences of
    both costs with ``SMASH_BOUND_STEP`` (the smallest step smash's float32 cost allows), and
    hydrograd's gradient against float64 differences with :func:`relative_steps`."""
    trials = []
    for x, _, g_smash in evaluations[1:]:
        if np.array_equal(x, prob.x0):
            continue
        _, g_ours = prob.value_and_grad(x)
        if relative_difference(g_smash, g_ours) <= SMASH_TOLERANCE:
            continue
        side = bound_sides(prob, x)
        cost = hydrograd_cost(prob)
        scale = np.maximum(np.abs(g_ours), 1e-2 * np.abs(g_ours).max())
        worst = int(np.argmax(np.where(np.isnan(g_smash), np.inf, np.abs(g_smash - g_ours) / scale)))
        ours_fd = differences(cost, x, side, relative_steps(prob, x))
        trials.append(
            Trial(
                x[: prob.control.n_rr],
                prob.control.names[worst],
                float(g_smash[worst]),
                float(g_ours[worst]),
                float(differences(smash_cost(reference, prob), x, side, SMASH_BOUND_STEP, [worst])[0]),
                float(differences(cost, x, side, SMASH_BOUND_STEP, [worst])[0]),
                relative_difference(g_ours, ours_fd),
            )
        )
    return trials


def first_step(module: str) -> FirstStep:
    """One L-BFGS-B iteration from the default start of ``module`` (lr routing, whole period)."""
    reference, ours = models(module, "lr")
    options = {"termination_crit": {"maxiter": 1}}
    wanted = {"control_vector": True, "cost": True}
    quiet_options = {"verbose": False}
    ref = reference.copy().optimize(
        optimizer="lbfgsb", optimize_options=options, common_options=quiet_options, return_options=wanted
    )
    got = ours.copy().optimize(
        optimizer="lbfgsb", optimize_options=options, common_options=quiet_options, return_options=wanted
    )
    prob = problem(ours, "uniform", "float64")
    replayed, evaluations = replay_smash_lbfgsb(reference, ours, prob)
    _, g_ours = prob.value_and_grad(prob.x0)
    return FirstStep(
        module,
        (float(ref.cost), float(got.cost)),
        float(np.abs(np.asarray(ref.control_vector) - got.control_vector).max()),
        float(np.abs(replayed - ref.control_vector).max()),
        start_diagnosis(prob, evaluations[0][2], g_ours),
        trial_diagnosis(reference, prob, evaluations),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="hydrological modules (default: all)")
    parser.add_argument("--first-step", action="store_true", help="the first L-BFGS-B iteration table")
    args = parser.parse_args()
    unknown = set(args.modules) - set(HYDROLOGICAL_MODULES)
    if unknown:
        parser.error(f"unknown modules {sorted(unknown)}")
    # The problems are L-BFGS-B problems, whose functions run under x64 (hydrograd.calibration.precision).
    with jax.enable_x64(True):
        if args.first_step:
            print(FIRST_HEADER)
            for module in args.modules or (*CONCEPTUAL, *HYBRIDS):
                print(first_step(module).markdown(), flush=True)
            return
        print(HEADER)
        for module, routing, mapping in CASES:
            if not args.modules or module in args.modules:
                print(compare(module, routing, mapping).markdown(), flush=True)


if __name__ == "__main__":
    main()
