"""The two kinds of calibration problem, behind one interface the orchestration runs
(``hydrograd.calibration.run``): a search vector with its bounds and objective functions, and what
a found vector means.

- :class:`MappedProblem`: a control vector mapped to parameter maps (``uniform``, ``distributed``,
  ``multi-linear``, ``multi-power``), with a hybrid structure's network weights appended;
- :class:`NetworkProblem`: the weights of a regionalization network (``mapping="ann"``) that maps
  descriptors to parameter maps, with the hybrid network entries it trains jointly.

Both are built inside the calibration's ``jax.enable_x64`` context when its precision asks for it
(``hydrograd.calibration.precision``), so their arrays take the calibration's dtypes once.
"""

from __future__ import annotations

import warnings
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from hydrograd._arrays import host_ravel, to_device
from hydrograd._process import COMPILER
from hydrograd.calibration.ann import NetData, NetObjective, check_net, flat_value_and_grad, network_maps_jit
from hydrograd.calibration.compilation import without_gc_on_first_call
from hydrograd.calibration.control import Control, untransform
from hydrograd.calibration.control_info import mapped_control, serr_gauges, serr_layout
from hydrograd.calibration.data import CalibrationData
from hydrograd.calibration.objective import (
    Objective,
    ObjectiveData,
    batched_cost_jit,
    control_maps_jit,
    cost_jit,
    cost_terms_jit,
    error_parameters_jit,
    posterior_terms_jit,
    scheduled_forcing,
    value_and_grad_jit,
)
from hydrograd.calibration.precision import Precision, cast_floating
from hydrograd.config.calibration import CalibrationRequest
from hydrograd.config.run_options import ReturnSpec
from hydrograd.core.cost import CostData
from hydrograd.core.mapping import apply_mapping
from hydrograd.core.parameters import SERR_MU_MAPPINGS, SERR_SIGMA_MAPPINGS
from hydrograd.core.simulate import SimulationOutput
from hydrograd.core.structural_error import BayesianCost
from hydrograd.nn import Dense, Dropout, Net, default_net
from hydrograd.nn.net import net_to_vector
from hydrograd.optimizers import Functions, OptimizerResult
from hydrograd.simulation.cost import cost_data, response_cost


@dataclass(frozen=True)
class Solution:
    """What a found vector means: calibrated ``values`` (name -> float32 ``(nac,)`` in the flow
    graph's order, or ``(nrow, ncol)`` maps when ``on_grid``), the calibrated hybrid ``network``
    entries (float32), the problem's own return values, and the structural-error parameters
    ``serr`` (name -> float32 ``(ng,)``, Bayesian calibration)."""

    values: dict[str, np.ndarray]
    on_grid: bool
    network: dict[str, np.ndarray]
    returned: dict[str, Any]
    serr: dict[str, np.ndarray] = field(default_factory=dict)


def require_observations(q_obs: np.ndarray, codes: tuple[str, ...], gauges: tuple[int, ...], start: int) -> None:
    """ValueError naming the gauges of the cost without any observation in its window."""
    q = np.asarray(q_obs)[list(gauges), start:]
    empty = [str(codes[g]) for g, row in zip(gauges, q, strict=True) if not np.any(row >= 0)]
    if empty:
        raise ValueError(
            f"No observed discharge in the cost window at gauge(s) {empty}: drop them from cost_options "
            "'gauge' or move 'end_warmup'"
        )


def _check_start(control: Control) -> None:
    """ValueError naming the parameters whose starting control is undefined. A descriptor mapping
    starts each name's intercept at the value giving its current mean, kept 1e-3 below the upper
    bound as smash keeps it; bounds narrower than that (``alpha1``'s default (1e-6, 5e-4)) leave
    no such value, and smash then calibrates NaN parameters."""
    undefined = sorted({control.names[i].split("-")[0] for i in np.flatnonzero(~np.isfinite(control.x0))})
    if undefined:
        bounds = {name: control.mapping.bounds[control.mapping.names.index(name)] for name in undefined}
        raise ValueError(
            f"the {control.mapping.kind} mapping has no defined start for {undefined}: its intercept starts at "
            "the current mean kept 1e-3 below the upper bound, which the bounds "
            f"{bounds} leave no room for (smash would calibrate NaN parameters); widen them with "
            "optimize_options 'bounds' or leave these parameters out of 'parameters'"
        )


def _bayesian_cost(
    control: Control, request: CalibrationRequest
) -> tuple[BayesianCost, tuple[tuple[int, int, int], ...]]:
    """The Bayesian cost of ``request`` for its ``control``: the priors of the control's mapped
    entries (``FlatPrior`` where ``control_prior`` names none) and the structural-error entries
    ``(block, column, gauge)`` that follow them."""
    bayesian, options = request.bayesian, request.options
    n_mapped = control.mapping.size
    unknown = [k for k in bayesian.control_prior if k not in control.names]
    if unknown:
        raise ValueError(
            f"Unknown control name '{unknown[0]}' in cost_options 'control_prior'. Choices: {control.names}"
        )
    order = control.names if bayesian.by_name else prior_order(list(bayesian.control_prior), control.names)
    target = {k: order.index(k) for k in bayesian.control_prior}
    unused = [k for k, t in target.items() if t >= n_mapped]
    if unused:
        warnings.warn(
            f"cost_options 'control_prior' on {unused}: as in smash, only the priors of the control's "
            "rainfall-runoff parameters and initial states enter the cost; these are not used",
            stacklevel=6,
        )
    moved = {k: control.names[t] for k, t in target.items() if t < n_mapped and control.names[t] != k}
    if moved:
        warnings.warn(
            "cost_options 'control_prior': as smash 1.3.0 does, the priors apply by position (the names given, "
            f"then the control's other names) rather than by name: {moved} (name given -> entry it applies to); "
            "list them in the control's order or set cost_options 'control_prior_by_name' to True",
            stacklevel=6,
        )
    priors = tuple(bayesian.control_prior.get(name, ("FlatPrior", ())) for name in order[:n_mapped])
    keys = (SERR_MU_MAPPINGS[bayesian.mu_mapping], SERR_SIGMA_MAPPINGS[bayesian.sigma_mapping])
    serr = tuple((block, keys[block].index(key), g) for block, key, g in serr_layout(options, serr_gauges(request)))
    cost = request.cost
    return BayesianCost(bayesian.mu_mapping, bayesian.sigma_mapping, priors, cost.gauges, cost.start), serr


def prior_order(given: list[str], names: list[str]) -> list[str]:
    """Whose prior each control entry takes under smash 1.3.0's assignment: the names of
    ``control_prior`` in the order given, then the control's other names in its order, matched to
    the control's entries by position (a prior given for ``kexc-0`` alone lands on the control's
    first entry)."""
    return [*given, *(n for n in names if n not in given)]


def _stacked(values: dict[str, np.ndarray], keys: tuple[str, ...], ng: int) -> np.ndarray:
    """Per-gauge parameters ``(ng, len(keys))`` float32 in the mapping's order."""
    if not keys:
        return np.zeros((ng, 0), np.float32)
    return np.stack([np.asarray(values[k], np.float32) for k in keys], axis=-1)


def _cost_data(data: CalibrationData, request: CalibrationRequest) -> CostData | None:
    dt = data.inputs.dt
    return cost_data(request.cost, data.q_obs, data.mean_prcp, data.area_dln, dt, data.gauge_codes)


class MappedProblem:
    """A control vector of mapped parameters (and hybrid network weights) and its jitted objective."""

    def __init__(self, data: CalibrationData, request: CalibrationRequest, precision: Precision):
        options = request.options
        layout, core = data.layout, data.inputs
        self.control: Control = mapped_control(data, options, serr_gauges(request))
        mapping = self.control.mapping
        self.double = precision.double
        self.bayesian = request.bayesian
        bayesian, serr = _bayesian_cost(self.control, request) if request.bayesian is not None else (None, ())
        self._serr_keys = (
            ()
            if bayesian is None
            else (SERR_MU_MAPPINGS[bayesian.mu_mapping], SERR_SIGMA_MAPPINGS[bayesian.sigma_mapping])
        )
        self.objective = Objective(
            core.structure,
            core.dt,
            mapping,
            len(options.rr_states),
            request.cost,
            request.regularization.components,
            precision.cost,
            tuple((k, data.network[k].shape) for k in options.nn_parameters),
            request.regularization.weighted,
            bayesian,
            serr,
        )
        uses_descriptors = options.mapping in ("multi-linear", "multi-power")
        descriptors = layout.to_active(data.descriptors) if uses_descriptors else np.zeros((layout.nac, 0))
        self._layout = layout
        self._grid_descriptors = np.asarray(data.descriptors, np.float32) if uses_descriptors else None
        control = self.control
        _check_start(control)
        self.x0 = control.transform(control.x0)
        bounded = control.nbd == 2
        self.lower = np.where(bounded, control.lower_t, -np.inf)
        self.upper = np.where(bounded, control.upper_t, np.inf)
        forcing_dtype = np.float64 if precision.model == "float64" else None
        self.data = ObjectiveData(
            kinds=to_device(control.kinds),
            lower=to_device(control.lower),
            upper=to_device(control.upper),
            background=to_device(self.x0),
            start=to_device(control.x0),
            params=core.params,
            states=core.initial_states,
            forcing=scheduled_forcing(core.structure, core.forcing, core.graph, forcing_dtype),
            graph=core.graph,
            gauge_index=core.gauge_index,
            imperviousness=core.imperviousness,
            q_obs=to_device(data.q_obs),
            descriptors=to_device(descriptors, np.float32),
            neighbours=to_device(layout.neighbours()),
            cell_order=to_device(layout.order, np.int32),
            wjreg=to_device(request.regularization.wjreg, np.float32),
            cost_data=_cost_data(data, request),
            network={k: to_device(v) for k, v in data.network.items()} if data.network else None,
        )
        if bayesian is not None:
            ng = len(data.gauge_codes)
            mu_keys, sigma_keys = self._serr_keys
            self.data = self.data._replace(
                serr_mu=to_device(_stacked(data.serr_mu, mu_keys, ng)),
                serr_sigma=to_device(_stacked(data.serr_sigma, sigma_keys, ng)),
                q_stdev=to_device(data.q_stdev),
            )
        if precision.model == "float64":
            self.data = cast_floating(self.data, "float64")
        self._maps_program: Future | None = None

    def functions(self) -> Functions:
        """The objective for an optimizer; each function's first call (which traces and compiles
        it) runs with the garbage collector paused."""
        return Functions(
            cost=without_gc_on_first_call(self.cost),
            batch_cost=without_gc_on_first_call(self.batch_cost),
            value_and_grad=without_gc_on_first_call(self.value_and_grad),
        )

    def set_wjreg(self, wjreg: float) -> None:
        """Weight of the regularization in the cost from now on (no recompilation)."""
        self.data = self.data._replace(wjreg=to_device(wjreg, self.data.wjreg.dtype))

    def device_x(self, x_t: np.ndarray) -> jax.Array:
        """A transformed control on the device, in the search's dtype."""
        return to_device(x_t, np.float64 if self.double else np.float32)

    def cost(self, x_t: np.ndarray) -> float:
        return float(cost_jit(self.device_x(x_t), self.objective, self.data))

    def batch_cost(self, xs: np.ndarray) -> np.ndarray:
        """Costs of several controls: one vectorised call on an accelerator (padded to a fixed
        batch so it compiles once), one call each on a CPU, where batching saves nothing."""
        if jax.default_backend() == "cpu" or len(xs) == 1:
            return np.array([self.cost(x) for x in xs])
        width = 2 * self.x0.size
        padded = np.concatenate([xs, np.repeat(xs[-1:], width - len(xs), axis=0)])
        return np.asarray(batched_cost_jit(self.device_x(padded), self.objective, self.data))[: len(xs)]

    def value_and_grad(self, x_t: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = value_and_grad_jit(self.device_x(x_t), self.objective, self.data)
        return float(value), np.asarray(grad, dtype=np.float64)

    def terms(self, x_t: np.ndarray) -> dict[str, float]:
        cost, (jobs, jreg, _) = cost_terms_jit(self.device_x(x_t), self.objective, self.data)
        return {"cost": float(cost), "jobs": float(jobs), "jreg": float(jreg)}

    def compile_in_background(self) -> Future | None:
        """Start compiling the calibrated maps' program on the background thread (it depends on
        shapes only); its Future, None when it was already started."""
        if self._maps_program is not None:
            return None
        double, x0, objective, data = self.double, self.device_x(self.x0), self.objective, self.data

        def lower_and_compile():
            with jax.enable_x64(double):
                return control_maps_jit.lower(x0, objective, data).compile()

        self._maps_program = COMPILER.submit(lower_and_compile)
        return self._maps_program

    def maps(self, x_t: np.ndarray) -> dict[str, np.ndarray]:
        """Calibrated name -> float32 values on the active cells, for a transformed control."""
        if self._maps_program is None:
            params, states = control_maps_jit(self.device_x(x_t), self.objective, self.data)
        else:
            params, states = self._maps_program.result()(self.device_x(x_t), self.data)
        return {k: np.asarray({**params, **states}[k], dtype=np.float32) for k in self.objective.mapping.names}

    def network(self, x_t: np.ndarray) -> dict[str, np.ndarray]:
        """Calibrated hybrid-network entries (float32, smash's layout) for a transformed control."""
        start = self.objective.network_start
        out = {}
        for key, shape in self.objective.network:
            size = int(np.prod(shape))
            out[key] = np.asarray(x_t[start : start + size], dtype=np.float32).reshape(shape, order="F")
            start += size
        return out

    def posterior_terms(self, x_t: np.ndarray) -> dict[str, float]:
        """The Bayesian cost and its log terms (float32 values, as smash reports them)."""
        terms = posterior_terms_jit(self.device_x(x_t), self.objective, self.data)
        return {k: float(np.float32(getattr(terms, k))) for k in ("cost", "log_lkh", "log_prior", "log_h")}

    def serr(self, x_t: np.ndarray) -> dict[str, np.ndarray]:
        """Structural-error parameter name -> float32 ``(ng,)`` for a transformed control."""
        if self.bayesian is None:
            return {}
        mu, sigma = error_parameters_jit(self.device_x(x_t), self.objective, self.data)
        out = {}
        for keys, values in zip(self._serr_keys, (mu, sigma), strict=True):
            out.update({k: np.asarray(values[:, i], dtype=np.float32) for i, k in enumerate(keys)})
        return out

    def solution(self, result: OptimizerResult, returns: ReturnSpec) -> Solution:
        returned: dict[str, Any] = {}
        if returns["control_vector"]:
            returned["control_vector"] = np.asarray(result.x, dtype=np.float32)
        if self.bayesian is not None:
            wanted = [k for k in ("cost", "log_lkh", "log_prior", "log_h") if returns[k]]
            if wanted:
                terms = self.posterior_terms(result.x)
                returned.update({k: terms[k] for k in wanted})
        elif returns["cost"] or returns["jobs"] or returns["jreg"]:
            terms = self.terms(result.x)
            returned.update({k: terms[k] for k in ("cost", "jobs", "jreg") if returns[k]})
        values = self.maps(result.x)
        serr = self.serr(result.x)
        if self._grid_descriptors is None:
            return Solution(values, False, self.network(result.x), returned, serr)
        return Solution(self._grid_maps(result.x, values), True, self.network(result.x), returned, serr)

    def _grid_maps(self, x_t: np.ndarray, active: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """A descriptor mapping's values on every cell of the grid, the inactive ones included (as
        smash writes them: they weigh in whatever reads whole maps, such as ``multiset_estimate``'s
        distance), float32 ``(nrow, ncol)``; the active cells keep the calibrated ``active`` values."""
        layout, mapping = self._layout, self.objective.mapping
        nrow, ncol, nd = self._grid_descriptors.shape
        data = self.data
        x = untransform(self.device_x(x_t), data.kinds, data.lower, data.upper)
        descriptors = to_device(self._grid_descriptors.reshape(nrow * ncol, nd), x.dtype)
        mapped = apply_mapping(x[: mapping.size], mapping._replace(nac=nrow * ncol), descriptors)
        grids = {}
        for name, values in active.items():
            grid = np.asarray(mapped[name], dtype=np.float32).reshape(nrow, ncol)
            grid[layout.rows, layout.cols] = values
            grids[name] = grid
        return grids

    def closing_terms(self, output: SimulationOutput, returns: ReturnSpec) -> dict[str, Any]:
        """Return values computed from the closing run: none (the terms come from the objective)."""
        return {}


class NetworkProblem:
    """The weights of a regionalization network (``mapping="ann"``), trained through the model:
    descriptors -> network -> parameter and initial-state maps -> simulation -> cost. With a hybrid
    structure, the network entries ``optimize_options["parameters"]`` names (all by default, as in
    smash) are trained jointly by the same optimizer, the others are held fixed."""

    def __init__(self, data: CalibrationData, request: CalibrationRequest, precision: Precision):
        options = request.options
        names = options.names
        layout, core = data.layout, data.inputs
        given = options.net
        if given is None:
            given = default_net(
                len(data.descriptor_names), len(names), [options.bounds[k] for k in names], layout.shape
            )
        check_net(given, len(data.descriptor_names), layout.shape, names, options.bounds)
        core = cast_floating(core, precision.model)
        self.request, self.layout = request, layout
        self.q_obs, self.codes = data.q_obs, data.gauge_codes
        net = given.copy()
        net.initialize(options.random_state)
        self.net: Net = net
        dense = isinstance(net.layers[0], Dense)
        descriptors = data.descriptors
        x = descriptors.reshape(-1, descriptors.shape[-1]) if dense else descriptors
        self.objective = NetObjective(
            core.structure,
            core.dt,
            net.spec(),
            names,
            len(options.rr_parameters),
            request.cost,
            any(isinstance(layer, Dropout) for layer in net.layers),
        )
        seed = 0 if options.random_state is None else options.random_state
        trained0 = {k: to_device(data.network[k], np.float64) for k in options.nn_parameters}
        self.template = (net.params("trainable", jnp.float64), trained0)
        flat0, self._unravel = host_ravel(self.template)
        self.data = NetData(
            x=to_device(x, np.float64),
            frozen=net.params("frozen", jnp.float64),
            active=to_device(layout.flat_index),
            params=core.params,
            states=core.initial_states,
            forcing=scheduled_forcing(core.structure, core.forcing, core.graph),
            graph=core.graph,
            gauge_index=core.gauge_index,
            imperviousness=core.imperviousness,
            q_obs=to_device(data.q_obs),
            cost_data=_cost_data(data, request),
            key=jax.random.PRNGKey(seed),
            network={k: to_device(v) for k, v in data.network.items()} if data.network else None,
        )
        self.x0 = flat0
        self.lower = np.full(self.x0.shape, -np.inf)
        self.upper = np.full(self.x0.shape, np.inf)
        self._step = {"n": 0, "input_norm": 0.0}

    def _value_and_grad(self, flat: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad, norm = flat_value_and_grad(
            to_device(flat), np.int32(self._step["n"]), self.template, self.data.x, self.objective, self.data
        )
        self._step["n"] += 1
        self._step["input_norm"] = float(norm)
        return float(value), np.asarray(grad)

    def functions(self) -> Functions:
        """The training objective: value and gradient of the flat trainable weights; the reported
        ``|proj g|`` is smash's (the gradient's size with respect to the input descriptors and the
        hybrid network's entries, see ``flat_value_and_grad``)."""
        return Functions(
            value_and_grad=without_gc_on_first_call(self._value_and_grad),
            gradient_norm=lambda _: self._step["input_norm"],
        )

    def compile_in_background(self) -> Future | None:
        """Nothing to compile ahead: the output maps' program is small."""
        return None

    def solution(self, result: OptimizerResult, returns: ReturnSpec) -> Solution:
        weights, trained = self._unravel(result.x)
        net = self.net
        net.set_params(weights)
        inference = self.objective._replace(train=False)
        maps = np.asarray(network_maps_jit(net.params("trainable", jnp.float64), self.data.x, inference, self.data))
        net.history["loss_train"] = list(result.iter_cost[1:])
        net.history["proj_grad"] = list(result.iter_projg[1:])
        maps = maps.reshape(*self.layout.shape, len(self.objective.names)).astype(np.float32)
        returned: dict[str, Any] = {}
        if returns["net"]:
            returned["net"] = net
        if returns["control_vector"]:
            # smash's layout: the hybrid network's trained entries (column-major), then the
            # regionalization network's weights
            hybrid = [np.asarray(trained[k], np.float32).ravel(order="F") for k in self.request.options.nn_parameters]
            returned["control_vector"] = np.concatenate([*hybrid, net_to_vector(net)])
        if returns["jreg"]:
            returned["jreg"] = 0.0
        return Solution(
            {name: maps[..., i] for i, name in enumerate(self.objective.names)},
            True,
            {k: np.asarray(v, dtype=np.float32) for k, v in trained.items()},
            returned,
        )

    def closing_terms(self, output: SimulationOutput, returns: ReturnSpec) -> dict[str, Any]:
        """``cost`` and ``jobs``: the cost of the closing run's discharge."""
        if not (returns["cost"] or returns["jobs"]):
            return {}
        jobs = response_cost(np.asarray(output.q), self.q_obs, self.request.cost, self.data.cost_data, self.codes)
        return {k: jobs for k in ("cost", "jobs") if returns[k]}
