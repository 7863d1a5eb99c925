"""``Model.optimize`` and ``optimize``: calibrate a model against observed discharge.

The model is only written once the optimizer has finished: an error or a Ctrl-C on the way
leaves it exactly as it was.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np

from hydrograd._arrays import to_device
from hydrograd._containers import Namespace
from hydrograd._progress import IterationProgress
from hydrograd.config._checks import check_callback, check_model
from hydrograd.config.cost_options import cost_data
from hydrograd.config.optimize_options import (
    ADAPTIVE_OPTIMIZERS,
    GRADIENT_OPTIMIZERS,
    OptimizeOptions,
    check_mapping_optimizer,
    check_optimize_options,
)
from hydrograd.config.regularization import regularization_spec, split_cost_options
from hydrograd.config.run_options import common_options as check_common_options
from hydrograd.config.run_options import return_options as check_return_options
from hydrograd.core.mapping import Mapping
from hydrograd.core.simulate import SimulationOutput, simulate_jit
from hydrograd.mesh.graph import grid_neighbours
from hydrograd.model import core_input_shapes
from hydrograd.optimize import methods
from hydrograd.optimize.ann import check_net, train_network
from hydrograd.optimize.compilation import COMPILER, without_gc_on_first_call
from hydrograd.optimize.control import Control, add_network, build_control
from hydrograd.optimize.objective import (
    Objective,
    ObjectiveData,
    batched_cost_jit,
    cost_jit,
    cost_terms_jit,
    model_inputs_jit,
    scheduled_forcing,
    value_and_grad_jit,
)
from hydrograd.optimize.regularization_weight import choose_wjreg
from hydrograd.simulation.run import observation_cost_of, recorded, response_cost

if TYPE_CHECKING:
    from hydrograd.model import Model


class Optimize(Namespace):
    """Optional results of a calibration; attributes depend on ``return_options``: ``time_step``,
    ``rr_states``, ``q_domain``, ``internal_fluxes`` (as for a forward run), ``control_vector``
    (final transformed control), ``cost``, ``jobs``, ``jreg``, ``n_iter``, ``projg``, ``net``,
    ``iter_cost`` and ``iter_projg`` (cost and gradient norm at each iteration), ``lcurve_wjreg``
    (with ``cost_options={"wjreg": "lcurve"}``: the L-curve of the cycles, see
    ``hydrograd.optimize.regularization_weight``)."""


def normalized_descriptors(model: Model, active_only: bool = True) -> np.ndarray:
    """Descriptors transformed as ``setup.descriptor_tfm`` says: ``(nac, nd)`` on the active
    cells, or ``(nrow, ncol, nd)`` over the grid."""
    desc = model.physio_data.descriptor.astype(np.float32)
    if active_only:
        desc = desc[model._rows, model._cols]
    p = model.physio_data
    if model.setup.descriptor_tfm == "standardize":
        return (desc - p.mean_descriptor) / p.std_descriptor
    if model.setup.descriptor_tfm == "normalize":
        return (desc - p.l_descriptor) / (p.u_descriptor - p.l_descriptor)
    return desc


def _check_observations(model: Model, gauges: tuple[int, ...], start: int) -> None:
    q = model.response_data.q[list(gauges), start:]
    empty = [str(model.mesh.code[g]) for g, row in zip(gauges, q, strict=True) if not np.any(row >= 0)]
    if empty:
        raise ValueError(
            f"No observed discharge in the cost window at gauge(s) {empty}: drop them from cost_options "
            "'gauge' or move 'end_warmup'"
        )


# Largest float64 working set (states kept for the reverse pass) that a calibration computes in
# double precision by default.
DOUBLE_PRECISION_BUDGET = 2 << 30


def model_precision(model: Model, mapping: str, optimizer: str, requested: str | None) -> str:
    """Arithmetic of the model inside a calibration.

    Forward runs and derivative-free searches (sbs, nelder-mead, powell) run in single precision,
    as smash does, and print smash's numbers. Gradient-based calibrations of mapped parameters
    default to double precision: a single-precision model adds rounding noise of about 1e-7 to
    every cost and gradient, and on the non-convex problems of calibration L-BFGS-B amplifies it
    into different trajectories and, on average, worse optima (a 100-iteration L-BFGS-B of seed
    tutorial 1 ends between 0.1363 and 0.1381 from starts 1e-5 apart in single precision, between
    0.1354 and 0.1366 in double). Learnable regionalization (``mapping="ann"``) runs the model in
    single precision, as smash does (the network itself computes in double precision): the
    trainings of seed tutorial 2 end at the same cost in both to 1e-4 over five random states,
    and a single-precision iteration is about 15 % shorter. Domains too large for a
    double-precision reverse pass (``DOUBLE_PRECISION_BUDGET``) stay in single precision, and so
    does everything on an accelerator, where double precision is many times slower.
    ``common_options["precision"]`` overrides the choice.
    """
    if requested is not None:
        return requested
    if optimizer not in GRADIENT_OPTIMIZERS or mapping == "ann" or jax.default_backend() != "cpu":
        return "float32"
    states = len(model.rr_initial_states.keys) + 2
    working_set = model.mesh.nac * model.setup.ntime_step * states * 8
    return "float64" if working_set <= DOUBLE_PRECISION_BUDGET else "float32"


def _as_precision(tree, precision: str):
    """Floating leaves of ``tree`` cast to ``precision`` (integers and booleans untouched).

    The cast runs in numpy: a JAX cast would compile one small program per array shape.
    """
    dtype = np.float64 if precision == "float64" else np.float32

    def cast(a):
        if hasattr(a, "dtype") and jnp.issubdtype(a.dtype, jnp.floating) and a.dtype != dtype:
            return to_device(a, dtype)
        return a

    with jax.enable_x64(precision == "float64"):
        return jax.tree_util.tree_map(cast, tree)


class Problem:
    """Everything a calibration needs: the control vector and the jitted objective, and the shapes
    of the model's core inputs (``input_shapes``, for compiling the closing forward run)."""

    def __init__(
        self,
        model: Model,
        options: OptimizeOptions,
        cost_options: dict[str, Any] | None,
        precision: str | None = None,
    ):
        observation, regularization = split_cost_options(cost_options)
        spec = observation_cost_of(model, observation)
        _check_observations(model, spec.gauges, spec.start)
        spec_reg = regularization_spec(regularization)
        self.auto_wjreg = spec_reg.auto
        names = options.rr_parameters + options.rr_states
        mapping = Mapping(
            kind=options.mapping,
            names=names,
            bounds=tuple(options.bounds[k] for k in names),
            descriptors=tuple(options.descriptor.get(k, ()) for k in names),
            nac=model.mesh.nac,
        )
        core = model._core_inputs()
        self.input_shapes = core_input_shapes(core)
        current = {**core["params"], **core["initial_states"]}
        column_major = np.argsort(model._order)
        self.control: Control = build_control(
            mapping,
            {k: np.asarray(current[k])[column_major] for k in names},
            model._rows[column_major],
            model._cols[column_major],
            [str(d) for d in model.setup.descriptor_name],
            options.control_tfm,
        )
        network = {k: getattr(model.nn_parameters, k) for k in model._nn_parameter_names()}
        if options.nn_parameters:
            self.control = add_network(self.control, [(k, network[k]) for k in options.nn_parameters])
        self.double = options.optimizer in GRADIENT_OPTIMIZERS
        self.precision = model_precision(model, options.mapping, options.optimizer, precision)
        self.objective = Objective(
            core["structure"],
            core["dt"],
            mapping,
            len(options.rr_states),
            spec,
            spec_reg.components,
            "float64" if self.double else "float32",
            tuple((k, network[k].shape) for k in options.nn_parameters),
        )
        descriptors = normalized_descriptors(model) if options.mapping in ("multi-linear", "multi-power") else None
        self.x0 = self.control.transform(self.control.x0)
        # A reordered forcing goes onto the device once, in the calibration's precision.
        forcing_dtype = np.float64 if self.precision == "float64" else None
        with jax.enable_x64(forcing_dtype is not None):
            forcing = scheduled_forcing(core["structure"], core["forcing"], core["graph"], forcing_dtype)
        self.data = ObjectiveData(
            kinds=to_device(self.control.kinds),
            lower=to_device(self.control.lower),
            upper=to_device(self.control.upper),
            background=to_device(self.x0),
            params=core["params"],
            states=core["initial_states"],
            forcing=forcing,
            graph=core["graph"],
            gauge_index=core["gauge_index"],
            imperviousness=core["imperviousness"],
            q_obs=to_device(model.response_data.q),
            descriptors=to_device(np.zeros((model.mesh.nac, 0), np.float32) if descriptors is None else descriptors),
            neighbours=to_device(grid_neighbours(model._rows, model._cols, (model.mesh.nrow, model.mesh.ncol))),
            cell_order=to_device(model._order, np.int32),
            wjreg=to_device(spec_reg.wjreg, np.float32),
            cost_data=cost_data(model, spec),
            network={k: to_device(v) for k, v in network.items()} if network else None,
        )
        if self.precision == "float64":
            self.double = True
            self.data = _as_precision(self.data, "float64")
        self._maps_program: Future | None = None

    def set_wjreg(self, wjreg: float) -> None:
        """Weight of the regularization in the cost from now on (no recompilation)."""
        with jax.enable_x64(self.double):
            self.data = self.data._replace(wjreg=to_device(wjreg, self.data.wjreg.dtype))

    def _x(self, x_t: np.ndarray) -> jnp.ndarray:
        return to_device(x_t, np.float64 if self.double else np.float32)

    def cost(self, x_t: np.ndarray) -> float:
        with jax.enable_x64(self.double):
            return float(cost_jit(self._x(x_t), self.objective, self.data))

    def batch_cost(self, xs: np.ndarray) -> np.ndarray:
        """Costs of several controls: one vectorised call on an accelerator (padded to a fixed
        batch so it compiles once), one call each on a CPU, where batching saves nothing."""
        if jax.default_backend() == "cpu" or len(xs) == 1:
            return np.array([self.cost(x) for x in xs])
        width = 2 * self.x0.size
        padded = np.concatenate([xs, np.repeat(xs[-1:], width - len(xs), axis=0)])
        with jax.enable_x64(self.double):
            costs = batched_cost_jit(self._x(padded), self.objective, self.data)
        return np.asarray(costs)[: len(xs)]

    def value_and_grad(self, x_t: np.ndarray) -> tuple[float, np.ndarray]:
        with jax.enable_x64(self.double):
            value, grad = value_and_grad_jit(self._x(x_t), self.objective, self.data)
            return float(value), np.asarray(grad, dtype=np.float64)

    def compile_maps(self) -> None:
        """Start compiling ``maps``' program on the background thread (it depends on shapes only)."""
        if self._maps_program is not None:
            return

        def lower_and_compile():
            with jax.enable_x64(self.double):
                return model_inputs_jit.lower(self._x(self.x0), self.objective, self.data).compile()

        self._maps_program = COMPILER.submit(lower_and_compile)

    def maps(self, x_t: np.ndarray) -> dict[str, np.ndarray]:
        """Calibrated names -> values on the active cells, for a transformed control."""
        with jax.enable_x64(self.double):
            if self._maps_program is None:
                params, states = model_inputs_jit(self._x(x_t), self.objective, self.data)
            else:
                params, states = self._maps_program.result()(self._x(x_t), self.data)
            return {k: np.asarray({**params, **states}[k]) for k in self.objective.mapping.names}

    def network(self, x_t: np.ndarray) -> dict[str, np.ndarray]:
        """Calibrated weights and biases of the hybrid network for a transformed control."""
        start = self.objective.mapping.size
        out = {}
        for key, shape in self.objective.network:
            size = int(np.prod(shape))
            out[key] = np.asarray(x_t[start : start + size], dtype=np.float32).reshape(shape, order="F")
            start += size
        return out

    def terms(self, x_t: np.ndarray) -> dict[str, float]:
        with jax.enable_x64(self.double):
            cost, (jobs, jreg, _) = cost_terms_jit(self._x(x_t), self.objective, self.data)
            return {"cost": float(cost), "jobs": float(jobs), "jreg": float(jreg)}


class _FinalRun:
    """The forward run that ends a calibration. Its compilation starts on a background thread after
    the first iteration (once the calibration's own program is compiled, so the two compilations
    do not compete) and only depends on shapes (kept here, not the arrays), so it serves the
    calibrated values."""

    def __init__(self, wanted: dict[str, Any], input_shapes: dict[str, Any], problem: Problem | None = None):
        self.record = recorded(wanted)
        self.inputs = input_shapes
        self.problem = problem
        self.compiled: Future | None = None

    def starting_after(self, callback: Callable[[dict], None] | None) -> Callable[[dict], None]:
        """``callback`` for an optimization method, starting the compilations at its first call
        (with the calibrated maps' program when a ``problem`` is given)."""

        def on_iteration(info: dict) -> None:
            if self.compiled is None:
                self.compiled = COMPILER.submit(lambda: simulate_jit.lower(**self.inputs, **self.record).compile())
                if self.problem is not None:
                    self.problem.compile_maps()
            if callback is not None:
                callback(info)

        return on_iteration

    def run(self, model: Model) -> SimulationOutput:
        return model._run(None if self.compiled is None else self.compiled.result(), **self.record)


def _run_method(problem: Problem, options: OptimizeOptions, report, callback) -> methods.OptimizerResult:
    control = problem.control
    lower_t, upper_t = control.lower_t, control.upper_t
    bounded = control.nbd == 2
    crit = options.termination_crit
    if options.optimizer == "sbs":
        low = np.where(bounded, lower_t, -np.inf).astype(np.float32)
        high = np.where(bounded, upper_t, np.inf).astype(np.float32)
        batch_cost = without_gc_on_first_call(problem.batch_cost)
        return methods.step_by_step(batch_cost, problem.x0, low, high, crit["maxiter"], report, callback)
    value_and_grad = without_gc_on_first_call(problem.value_and_grad)
    if options.optimizer in ADAPTIVE_OPTIMIZERS:
        low = np.where(bounded, lower_t, -np.inf)
        high = np.where(bounded, upper_t, np.inf)
        return methods.adaptive_descent(
            options.optimizer,
            options.learning_rate,
            value_and_grad,
            problem.x0,
            low,
            high,
            crit,
            report,
            callback,
        )
    bounds = [
        (float(lo), float(hi)) if b else (None, None) for lo, hi, b in zip(lower_t, upper_t, bounded, strict=True)
    ]
    cost = without_gc_on_first_call(problem.cost)
    return methods.scipy_minimize(options.optimizer, cost, value_and_grad, problem.x0, bounds, crit, report, callback)


def optimize_model(
    model: Model,
    mapping: str = "uniform",
    optimizer: str | None = None,
    optimize_options: dict[str, Any] | None = None,
    cost_options: dict[str, Any] | None = None,
    common_options: dict[str, Any] | None = None,
    return_options: dict[str, Any] | None = None,
    callback=None,
) -> Optimize | None:
    """Calibrate ``model`` in place; see ``hydrograd.optimize``."""
    common = check_common_options(common_options)
    mapping, optimizer = check_mapping_optimizer(mapping, optimizer)
    options = check_optimize_options(model, mapping, optimizer, optimize_options)
    time_index = model.setup.time_index()
    wanted = check_return_options(return_options, "optimize", time_index)
    callback = check_callback(callback)
    if mapping == "ann":
        return _optimize_network(model, options, cost_options, common, wanted, time_index, callback)
    problem = Problem(model, options, cost_options, common["precision"])
    warn_if_unsuited(model, optimizer, options)
    final_run = _FinalRun(wanted, problem.input_shapes, problem)

    user_callback = None if callback is None else (lambda info: callback(iopt=Optimize(**info)))
    progress = IterationProgress(common["verbose"], options.termination_crit["maxiter"])
    report = progress.report
    report("</> Optimize")
    try:
        lcurve = None
        if problem.auto_wjreg is not None:

            def cycle(wjreg: float) -> dict[str, float]:
                problem.set_wjreg(wjreg)
                progress.restart()
                hook = final_run.starting_after(progress.callback(None))
                return problem.terms(_run_method(problem, options, report, hook).x)

            jobs_start = problem.terms(problem.x0)["jobs"]
            wjreg, lcurve = choose_wjreg(problem.auto_wjreg, jobs_start, cycle, report)
            problem.set_wjreg(wjreg)
            progress.restart()
        result = _run_method(problem, options, report, final_run.starting_after(progress.callback(user_callback)))
    except KeyboardInterrupt:
        report("    INTERRUPTED: the model is left as it was before optimize")
        raise
    finally:
        progress.close()

    maps = problem.maps(result.x)
    for name, values in maps.items():
        target = model.rr_parameters if name in model.rr_parameters.keys else model.rr_initial_states
        target.get(name)[model._rows, model._cols] = values
    for key, values in problem.network(result.x).items():
        setattr(model.nn_parameters, key, values)
    out = final_run.run(model)
    return _collect(model, problem, result, wanted, out, time_index, lcurve)


def _collect(
    model: Model, problem: Problem, result: methods.OptimizerResult, wanted, out, time_index, lcurve=None
) -> Optimize | None:
    from hydrograd.simulation.run import collect_run_outputs

    ret = collect_run_outputs(model, out, wanted, time_index)
    if wanted["control_vector"]:
        ret["control_vector"] = np.asarray(result.x, dtype=np.float32)
    if wanted["cost"] or wanted["jobs"] or wanted["jreg"]:
        terms = problem.terms(result.x)
        ret.update({k: terms[k] for k in ("cost", "jobs", "jreg") if wanted[k]})
    if wanted["n_iter"]:
        ret["n_iter"] = result.n_iter
    if wanted["projg"] and result.projg is not None:
        ret["projg"] = result.projg
    if wanted["iter_cost"]:
        ret["iter_cost"] = np.asarray(result.iter_cost, dtype=np.float64)
    if wanted["iter_projg"]:
        ret["iter_projg"] = np.asarray(result.iter_projg, dtype=np.float64)
    if wanted["lcurve_wjreg"] and lcurve is not None:
        ret["lcurve_wjreg"] = lcurve
    return Optimize(**ret) if ret else None


def _optimize_network(model: Model, options: OptimizeOptions, cost_options, common, wanted, time_index, callback):
    """``mapping="ann"``: train the descriptors-to-parameters network, then apply its maps."""
    from hydrograd.factory.net import default_net

    observation, regularization = split_cost_options(cost_options)
    if regularization:
        raise ValueError("mapping 'ann' takes no regularization (wjreg, jreg_cmpt) in cost_options")
    spec = observation_cost_of(model, observation)
    _check_observations(model, spec.gauges, spec.start)
    names = options.rr_parameters + options.rr_states
    if options.net is None:
        shape = (model.mesh.nrow, model.mesh.ncol)
        options.net = default_net(model.setup.nd, len(names), [options.bounds[k] for k in names], shape)
    check_net(options.net, model, names, options.bounds)
    core = model._core_inputs()
    final_run = _FinalRun(wanted, core_input_shapes(core))

    user_callback = None if callback is None else (lambda info: callback(iopt=Optimize(**info)))
    progress = IterationProgress(common["verbose"], options.termination_crit["maxiter"])
    report = progress.report
    report("</> Optimize")
    try:
        precision = model_precision(model, "ann", options.optimizer, common["precision"])
        net, result, maps, trained = train_network(
            model,
            options,
            spec,
            _as_precision(core, precision),
            normalized_descriptors(model, active_only=False),
            report,
            final_run.starting_after(progress.callback(user_callback)),
        )
    except KeyboardInterrupt:
        report("    INTERRUPTED: the model is left as it was before optimize")
        raise
    finally:
        progress.close()
    for i, name in enumerate(names):
        target = model.rr_parameters if name in model.rr_parameters.keys else model.rr_initial_states
        target.get(name)[...] = maps[..., i]
    for key, values in trained.items():
        setattr(model.nn_parameters, key, values)
    out = final_run.run(model)
    from hydrograd.factory.net import net_to_vector
    from hydrograd.simulation.run import collect_run_outputs

    ret = collect_run_outputs(model, out, wanted, time_index)
    if wanted["net"]:
        ret["net"] = net
    if wanted["control_vector"]:
        ret["control_vector"] = net_to_vector(net)
    if wanted["cost"] or wanted["jobs"]:
        jobs = response_cost(model, spec)
        ret.update({k: jobs for k in ("cost", "jobs") if wanted[k]})
    if wanted["jreg"]:
        ret["jreg"] = 0.0
    if wanted["n_iter"]:
        ret["n_iter"] = result.n_iter
    if wanted["projg"]:
        ret["projg"] = result.projg
    if wanted["iter_cost"]:
        ret["iter_cost"] = np.asarray(result.iter_cost, dtype=np.float64)
    if wanted["iter_projg"]:
        ret["iter_projg"] = np.asarray(result.iter_projg, dtype=np.float64)
    return Optimize(**ret) if ret else None


def optimize(
    model: Model,
    mapping: str = "uniform",
    optimizer: str | None = None,
    optimize_options: dict[str, Any] | None = None,
    cost_options: dict[str, Any] | None = None,
    common_options: dict[str, Any] | None = None,
    return_options: dict[str, Any] | None = None,
    callback=None,
):
    """Calibrate a copy of ``model``; return it, or ``(model, Optimize)`` when results are asked for.

    ``mapping``: uniform, distributed, multi-linear, multi-power; ``optimizer``: sbs, lbfgsb,
    nelder-mead, powell, adam, sgd, adagrad, rmsprop (None: the mapping's default).

    ``callback(iopt)`` runs after each iteration with an ``Optimize`` holding ``control_vector``,
    ``cost``, ``n_iter`` (and ``projg`` for gradient methods); it must take an argument named
    ``iopt``. Raising ``StopIteration`` in it ends the calibration cleanly on the best iterate found
    so far (the model then receives it, as after a normal end). Ctrl-C (``KeyboardInterrupt``)
    instead leaves the model exactly as it was and says so.
    """
    check_model(model)
    new = model.copy()
    ret = optimize_model(
        new, mapping, optimizer, optimize_options, cost_options, common_options, return_options, callback
    )
    return new if ret is None else (new, ret)


def warn_if_unsuited(model: Model, optimizer: str, options: OptimizeOptions) -> None:
    """Warn when a step-by-step search is asked to move a hybrid network's weights."""
    if optimizer == "sbs" and options.nn_parameters:
        warnings.warn(
            f"sbs optimizer may not be suitable for the {model.setup.hydrological_module} module; "
            "prefer a gradient-based optimizer such as lbfgsb",
            stacklevel=3,
        )
