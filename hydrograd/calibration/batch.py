"""Independent calibrations of many catchments, their objectives evaluated as one program.

:func:`calibrate_batch` takes each catchment's :class:`CalibrationData` and checked
:class:`CalibrationRequest` (the same a lone ``calibrate`` takes) and returns the same
:class:`CalibrationResult` for each. Every catchment keeps its own search: the registry's
optimizer, unchanged, runs in a thread per catchment, and each evaluation it asks for (``cost``,
``batch_cost``, ``value_and_grad``) waits at a barrier until every running search has asked for
one; the last to arrive evaluates them all with one call of the vmapped objective over the batch
(:mod:`hydrograd.simulation.batch` pads the catchments to one shape), and each search goes on
with its own values. A search that has finished keeps arriving empty-handed until the last one
ends, and once the running searches fit in half the batch's rows, the programs evaluate only
theirs. So each catchment ends where it would alone, within the float rounding of the batched
program, and the batch costs one program per iteration instead of one per catchment.

Catchments are grouped by what makes their objectives one program (structure, time step,
period, cost and options, precision, control size) and, within a group, into batches of
similar sizes (``batch_size`` catchments, the last batch filled up with copies so that batches
of one shape share their compiled programs). Uniform and distributed mappings, conceptual
structures and every optimizer of the registry; one ``Model.optimize`` per catchment covers the
rest (Bayesian calibration, descriptor and network mappings, hybrid structures, automatic
regularization weights).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np

from hydrograd._progress import progress_bar
from hydrograd.calibration.data import CalibrationData, CalibrationResult
from hydrograd.calibration.objective import Objective, ObjectiveData, _value, control_maps, cost_terms
from hydrograd.calibration.problems import MappedProblem
from hydrograd.calibration.run import _iteration_results, build_problem, problem_precision
from hydrograd.config.calibration import CalibrationRequest
from hydrograd.core.simulate import CoreInputs, SimulationOutput
from hydrograd.optimizers import OPTIMIZERS, Functions, OptimizerResult, Settings
from hydrograd.simulation.batch import (
    BatchShape,
    batch_shape,
    batch_sharding,
    check_batchable,
    filled_batch,
    gauge_rows,
    pad_cells,
    pad_core_inputs,
    simulate_batch,
    stack,
    to_batch_device,
    unpad_output,
)

MIN_EVALUATED_ROWS = 8
"""Fewest rows a batch's evaluations shrink to as its searches finish (:meth:`_Batch._shrink`)."""

BATCH_MAPPINGS = ("uniform", "distributed")
"""The mappings a batch calibrates (each catchment its own control vector)."""


def _batched(fn: Callable) -> Callable:
    return jax.jit(jax.vmap(fn, in_axes=(0, None, 0)), static_argnames=("objective",))


batch_cost_jit = _batched(_value)
"""J of every catchment of a batch ``(n,)`` for controls ``(n, size)``."""
batch_value_and_grad_jit = _batched(jax.value_and_grad(_value))
"""``(J (n,), dJ/dx (n, size))`` of every catchment of a batch."""
batch_terms_jit = _batched(cost_terms)
"""``cost_terms`` of every catchment of a batch."""
batch_maps_jit = _batched(control_maps)
"""``control_maps`` of every catchment of a batch."""


def check_batch_request(request: CalibrationRequest, name: str) -> None:
    """ValueError for what a batch does not calibrate, naming the catchment ``name``."""
    options = request.options
    refused = None
    if options.mapping not in BATCH_MAPPINGS:
        refused = f"mapping {options.mapping!r} (a batch calibrates {list(BATCH_MAPPINGS)})"
    elif request.bayesian is not None:
        refused = "a Bayesian calibration"
    elif options.nn_parameters:
        refused = f"a hybrid structure's network entries {list(options.nn_parameters)}"
    elif request.regularization.auto is not None:
        refused = f"an automatic regularization weight (wjreg={request.regularization.auto!r})"
    elif request.callback is not None:
        refused = "a callback"
    if refused is not None:
        raise ValueError(
            f"catchment {name!r}: a batch calibration does not take {refused}; calibrate such catchments one "
            "by one with Model.optimize (or on a Dask cluster with hydrograd.distributed.calibrate_catchments)"
        )


@dataclass
class _Member:
    """One catchment of a batch: its problem, the order of its gauges in the batch's rows (the
    cost's gauges first) and its search's outcome."""

    data: CalibrationData
    request: CalibrationRequest
    problem: MappedProblem
    gauge_order: np.ndarray
    result: OptimizerResult | None = None
    error: BaseException | None = None

    @property
    def nac(self) -> int:
        return self.data.inputs.graph.nac


def gauge_order(cost_gauges: tuple[int, ...], ng: int) -> np.ndarray:
    """A catchment's ``ng`` gauges in the batch's rows: the cost's gauges first, in the cost's
    order, then the others."""
    return np.array([*cost_gauges, *(g for g in range(ng) if g not in cost_gauges)], dtype=np.int64)


def _group_key(member: _Member) -> tuple:
    """What catchments must share to be calibrated by one program."""
    objective, problem = member.problem.objective, member.problem
    distributed = objective.mapping.kind == "distributed"
    return (
        _batch_objective(objective, 0),
        problem.double,
        None if distributed else problem.x0.size,
        member.data.inputs.forcing.ntime_step,
    )


def _batch_objective(objective: Objective, nac: int) -> Objective:
    """The objective of a batch: ``nac`` padded cells, the cost's gauges in the first rows."""
    cost = objective.cost._replace(gauges=tuple(range(len(objective.cost.gauges))))
    return objective._replace(mapping=objective.mapping._replace(nac=nac), cost=cost)


def _pad_control(values: np.ndarray, objective: Objective, nac: int, padding: np.ndarray | None = None) -> np.ndarray:
    """A control-sized vector of a catchment in the batch's size: each distributed block from the
    catchment's cells to ``nac`` (filled from ``padding``, a vector already in the batch's size, or
    by copies of the block's last entry); other mappings unchanged."""
    mapping = objective.mapping
    if mapping.kind != "distributed":
        return np.asarray(values)
    values, n = np.asarray(values), mapping.nac
    blocks = []
    for i in range(len(mapping.names)):
        block = values[i * n : (i + 1) * n]
        fill = np.repeat(block[-1:], nac - n) if padding is None else padding[i * nac + n : (i + 1) * nac]
        blocks.append(np.concatenate([block, fill]))
    return np.concatenate([*blocks, values[len(mapping.names) * n :]])


def _unpad_control(values: np.ndarray, objective: Objective, nac: int) -> np.ndarray:
    """The catchment's entries of a control-sized vector in the batch's size."""
    mapping = objective.mapping
    if mapping.kind != "distributed":
        return values
    n = mapping.nac
    blocks = [values[i * nac : i * nac + n] for i in range(len(mapping.names))]
    return np.concatenate([*blocks, values[len(mapping.names) * nac :]])


def _padded_data(member: _Member, shape: BatchShape) -> ObjectiveData:
    """A catchment's objective data in the batch's shape (host arrays): the simulation's inputs as
    :func:`pad_core_inputs` pads them, then the control, observations and cell tables."""
    data, objective, nac = member.problem.data, member.problem.objective, shape.nac
    rows = gauge_rows(member.gauge_order, shape.ng)
    host = jax.tree_util.tree_map(np.asarray, data)
    core = pad_core_inputs(
        CoreInputs(
            objective.structure,
            objective.dt,
            host.params,
            host.states,
            host.forcing,
            data.graph,
            host.gauge_index,
            host.imperviousness,
        ),
        shape,
        member.gauge_order,
    )
    own = np.arange(member.nac, nac)
    neighbours = np.concatenate([host.neighbours, np.repeat(own[:, None], host.neighbours.shape[1], 1)])
    control = ("kinds", "lower", "upper", "background", "start")
    return host._replace(
        **{k: _pad_control(getattr(host, k), objective, nac) for k in control},
        params=core.params,
        states=core.initial_states,
        forcing=core.forcing,
        graph=core.graph,
        gauge_index=core.gauge_index,
        imperviousness=core.imperviousness,
        q_obs=host.q_obs[rows],
        descriptors=pad_cells(host.descriptors, nac, axis=0),
        neighbours=neighbours.astype(host.neighbours.dtype),
        cost_data=None if host.cost_data is None else jax.tree_util.tree_map(lambda a: a[rows], host.cost_data),
        cell_order=np.concatenate([host.cell_order, own]).astype(host.cell_order.dtype),
    )


class _Batch:
    """The catchments of one batch, their padded objective on the devices and the barrier their
    searches meet at."""

    def __init__(self, members: list[_Member], size: int, n_devices: int | None):
        self.members = members
        self.shape = batch_shape([m.data.inputs for m in members])
        self.double = members[0].problem.double
        self.objective = _batch_objective(members[0].problem.objective, self.shape.nac)
        self.sharding = batch_sharding(n_devices)
        self.size = size
        padded = filled_batch([_padded_data(m, self.shape) for m in members], size)
        with jax.enable_x64(self.double):
            self.full_data = to_batch_device(stack(padded), self.sharding)
        self.background = np.stack([np.asarray(d.background) for d in padded])
        self.n_devices = self.sharding.mesh.size
        self.running = set(range(len(members)))
        self._use_rows(np.arange(size))
        self.requests: list[tuple[str, Any] | None] = [None] * len(members)
        self.answers: list[Any] = [None] * len(members)
        self.finished = False
        self.failure: BaseException | None = None
        self.barrier = threading.Barrier(len(members), action=self._evaluate)

    # ---- evaluated rows -------------------------------------------------------------------

    def _use_rows(self, rows: np.ndarray) -> None:
        """Evaluate the catchments ``rows`` (indices of members, one per row of the programs);
        :attr:`position` gives each catchment's row."""
        self.rows = rows
        self.position: dict[int, int] = {}
        for row, k in enumerate(rows.tolist()):
            self.position.setdefault(k, row)
        if len(rows) == self.size and np.array_equal(rows, np.arange(self.size)):
            self.data = self.full_data
            return
        with jax.enable_x64(self.double):
            taken = jax.tree_util.tree_map(lambda a: a[rows], self.full_data)
            self.data = jax.device_put(taken, self.sharding)

    def _shrink(self) -> None:
        """Evaluate only the rows of the searches still running once they fit in half the rows (or
        fewer): a round evaluates every row, so the finished searches' rows would cost as much as
        the running ones until the slowest search ends. Each new row count is one more
        compilation, at most log2(size / MIN_EVALUATED_ROWS) of them."""
        target = len(self.rows)
        floor = max(len(self.running), MIN_EVALUATED_ROWS, self.n_devices)
        while target // 2 >= floor and (target // 2) % self.n_devices == 0:
            target //= 2
        if target < len(self.rows):
            running = sorted(self.running)
            self._use_rows(np.array(running + [running[0]] * (target - len(running))))

    # ---- evaluations ---------------------------------------------------------------------

    def _controls(self, xs: dict[int, np.ndarray]) -> jax.Array:
        """The evaluated rows' control matrix: catchment ``k`` at ``xs[k]`` on its row, the other
        rows at their start."""
        out = self.background[self.rows]
        for k, x in xs.items():
            member = self.members[k]
            out[self.position[k]] = _pad_control(x, member.problem.objective, self.shape.nac, self.background[k])
        with jax.enable_x64(self.double):
            return jax.device_put(out.astype(np.float64 if self.double else np.float32), self.sharding)

    def cost(self, xs: dict[int, np.ndarray]) -> np.ndarray:
        with jax.enable_x64(self.double):
            return np.asarray(batch_cost_jit(self._controls(xs), self.objective, self.data))

    def value_and_grad(self, xs: dict[int, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        with jax.enable_x64(self.double):
            value, grad = batch_value_and_grad_jit(self._controls(xs), self.objective, self.data)
            return np.asarray(value), np.asarray(grad, dtype=np.float64)

    def terms(self, xs: dict[int, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        with jax.enable_x64(self.double):
            cost, (jobs, jreg, _) = batch_terms_jit(self._controls(xs), self.objective, self.data)
            return np.asarray(cost), np.asarray(jobs), np.asarray(jreg)

    def maps(self, xs: dict[int, np.ndarray]) -> dict[str, np.ndarray]:
        with jax.enable_x64(self.double):
            params, states = batch_maps_jit(self._controls(xs), self.objective, self.data)
            both = {**params, **states}
            return {k: np.asarray(both[k], dtype=np.float32) for k in self.objective.mapping.names}

    def _evaluate(self) -> None:
        """The barrier's action: every request of this round in as few batched calls as their kinds
        need (a step-by-step search's candidates one call per candidate rank). An error breaks the
        barrier and is raised again by :meth:`run`."""
        try:
            self._answer(self.requests)
        except BaseException as error:
            self.failure = error
            raise

    def _answer(self, requests: list[tuple[str, Any] | None]) -> None:
        if all(r is None for r in requests):
            self.finished = True
            return
        self._shrink()
        where = self.position
        kinds = {r[0] for r in requests if r is not None}
        if "value_and_grad" in kinds:
            asked = {k: r[1] for k, r in enumerate(requests) if r is not None and r[0] == "value_and_grad"}
            value, grad = self.value_and_grad(asked)
            for k in asked:
                objective = self.members[k].problem.objective
                self.answers[k] = (float(value[where[k]]), _unpad_control(grad[where[k]], objective, self.shape.nac))
        if "cost" in kinds:
            asked = {k: r[1] for k, r in enumerate(requests) if r is not None and r[0] == "cost"}
            value = self.cost(asked)
            for k in asked:
                self.answers[k] = float(value[where[k]])
        if "batch_cost" in kinds:
            asked = {k: np.atleast_2d(r[1]) for k, r in enumerate(requests) if r is not None and r[0] == "batch_cost"}
            width = max(len(xs) for xs in asked.values())
            values = np.stack(
                [self.cost({k: xs[min(i, len(xs) - 1)] for k, xs in asked.items()}) for i in range(width)], axis=1
            )
            for k, xs in asked.items():
                self.answers[k] = values[where[k], : len(xs)].astype(np.float64)
        self.requests = [None] * len(requests)

    def ask(self, k: int, kind: str, x: np.ndarray) -> Any:
        """Catchment ``k``'s search asks for ``kind`` at ``x`` and waits for the round's answer."""
        self.requests[k] = (kind, np.array(x, dtype=np.float64))
        self.barrier.wait()
        return self.answers[k]

    def functions(self, k: int) -> Functions:
        return Functions(
            cost=lambda x: self.ask(k, "cost", x),
            batch_cost=lambda xs: self.ask(k, "batch_cost", xs),
            value_and_grad=lambda x: self.ask(k, "value_and_grad", x),
        )

    # ---- searches --------------------------------------------------------------------------

    def search(self, k: int, on_finish: Callable[[], None]) -> None:
        """Catchment ``k``'s search (run in its own thread), then empty-handed rounds until every
        search of the batch has finished."""
        member = self.members[k]
        options = member.request.options
        problem = member.problem
        try:
            minimize = OPTIMIZERS[options.optimizer].minimize
            settings = Settings(options.termination_crit, options.learning_rate)
            member.result = minimize(
                self.functions(k), problem.x0, problem.lower, problem.upper, settings, lambda line: None, None
            )
        except threading.BrokenBarrierError:
            return
        except Exception as error:  # one failing catchment must not stop the others
            member.error = error
        self.running.discard(k)
        on_finish()
        try:
            while not self.finished:
                self.barrier.wait()
        except threading.BrokenBarrierError:
            return

    def run(self, on_finish: Callable[[], None]) -> None:
        """Every search of the batch, to its end."""
        threads = [
            threading.Thread(target=self.search, args=(k, on_finish), name=f"hydrograd-batch-{k}", daemon=True)
            for k in range(len(self.members))
        ]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                while thread.is_alive():
                    thread.join(0.1)
        except BaseException:
            self.barrier.abort()
            raise
        if self.failure is not None:
            raise self.failure

    # ---- results ---------------------------------------------------------------------------

    def results(self) -> list[CalibrationResult | BaseException]:
        """Each catchment's result (or the error that stopped its search): the found values, the
        closing forward run and the asked return values, computed for the whole batch at once."""
        members = self.members
        self._use_rows(np.arange(self.size))
        found = {k: m.result.x for k, m in enumerate(members) if m.result is not None}
        maps = self.maps(found)
        cost, jobs, jreg = self.terms(found)
        closing = []
        for k, member in enumerate(members):
            values = {name: v[k, : member.nac] for name, v in maps.items()}
            inputs = member.data.inputs
            params = {n: values.get(n, np.asarray(v)) for n, v in inputs.params.items()}
            states = {n: values.get(n, np.asarray(v)) for n, v in inputs.initial_states.items()}
            one = pad_core_inputs(inputs.replace(params=params, initial_states=states), self.shape, member.gauge_order)
            closing.append(one)
        record = members[0].request.returns.record
        dtype = members[0].data.inputs.forcing.prcp.dtype
        stacked = to_batch_device(stack(filled_batch(closing, self.size)), self.sharding, dtype)
        output = jax.tree_util.tree_map(np.asarray, simulate_batch(stacked, record))
        out: list[CalibrationResult | BaseException] = []
        for k, member in enumerate(members):
            if member.result is None:
                out.append(member.error or RuntimeError("the search did not finish"))
                continue
            terms = {"cost": float(cost[k]), "jobs": float(jobs[k]), "jreg": float(jreg[k])}
            out.append(self._result(member, {n: v[k, : member.nac] for n, v in maps.items()}, terms, output, k))
        return out

    def _result(
        self, member: _Member, values: dict[str, np.ndarray], terms: dict[str, float], output: SimulationOutput, k: int
    ) -> CalibrationResult:
        returns = member.request.returns
        result = member.result
        returned: dict[str, Any] = {}
        if returns["control_vector"]:
            returned["control_vector"] = np.asarray(result.x, dtype=np.float32)
        returned.update({key: terms[key] for key in ("cost", "jobs", "jreg") if returns[key]})
        returned.update(_iteration_results(result, member.request, None))
        run = unpad_output(output, k, member.nac, member.gauge_order)
        return CalibrationResult(values, False, {}, run, result, returned)


def calibrate_batch(
    data: Sequence[CalibrationData],
    requests: Sequence[CalibrationRequest],
    names: Sequence[str] | None = None,
    batch_size: int = 256,
    n_devices: int | None = None,
    verbose: bool = False,
) -> list[CalibrationResult | BaseException]:
    """Calibrate each catchment as ``calibrate(data[k], requests[k])`` would, many at a time (see
    the module's docstring); ``names`` label the catchments in errors. Returns, in order, each
    catchment's result, or the exception that stopped its search (the others go on).
    ``n_devices``: devices each batch is split over (all local ones by default; ``batch_size`` is
    rounded up to a multiple of it). ValueError, before any work, for a request a batch does not
    calibrate (see :func:`check_batch_request`) or catchments that cannot share a program."""
    if len(data) != len(requests):
        raise ValueError(f"calibrate_batch needs one request per catchment, got {len(data)} and {len(requests)}")
    names = [str(k) for k in range(len(data))] if names is None else list(names)
    if not data:
        return []
    for request, name in zip(requests, names, strict=True):
        check_batch_request(request, name)
    check_batchable([d.inputs for d in data])
    members = []
    for one, request in zip(data, requests, strict=True):
        precision = problem_precision(one, request)
        with jax.enable_x64(precision.double):
            problem = build_problem(one, request, precision)
        members.append(_Member(one, request, problem, gauge_order(request.cost.gauges, len(one.gauge_codes))))
    groups: dict[tuple, list[int]] = {}
    for k, member in enumerate(members):
        groups.setdefault(_group_key(member), []).append(k)
    n_dev = batch_sharding(n_devices).mesh.size
    results: list[CalibrationResult | BaseException | None] = [None] * len(members)
    bar = progress_bar(len(members), "</> Optimize (catchments)", verbose, unit="catchment")
    try:
        for indices in groups.values():
            size = -(-min(batch_size, len(indices)) // n_dev) * n_dev
            indices = sorted(indices, key=lambda k: members[k].nac)
            for first in range(0, len(indices), size):
                chunk = indices[first : first + size]
                batch = _Batch([members[k] for k in chunk], size, n_devices)
                batch.run(bar.update)
                for k, result in zip(chunk, batch.results(), strict=True):
                    results[k] = result
    finally:
        bar.close()
    return results
