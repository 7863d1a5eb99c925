"""A calibration on plain data: :func:`calibrate` takes a :class:`CalibrationData` and a checked
:class:`~hydrograd.config.calibration.CalibrationRequest` and returns a :class:`CalibrationResult`,
the same path for every mapping and optimizer:

1. the precision is decided once (``hydrograd.calibration.precision``) and the problem is built in
   it (``hydrograd.calibration.problems``);
2. with ``wjreg="fast"`` or ``"lcurve"``, calibration cycles choose the regularization weight
   (``hydrograd.calibration.regularization_weight``);
3. the optimizer of the registry (``hydrograd.optimizers``) searches, printing smash's lines;
   after its first iteration, the closing forward run compiles on the background thread;
4. the found vector becomes parameter values (and network weights), and the closing forward run
   simulates with them.

Nothing is written anywhere: an error or a Ctrl-C on the way leaves the caller's model untouched,
and no compilation of the calibration is left on the background thread (``ClosingRun.settle``).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, wait
from dataclasses import replace
from typing import Any

import jax
import numpy as np

from hydrograd._arrays import to_device
from hydrograd._process import COMPILER
from hydrograd._progress import IterationProgress
from hydrograd.calibration.data import CalibrationData, CalibrationResult
from hydrograd.calibration.precision import Precision, choose_precision
from hydrograd.calibration.problems import MappedProblem, NetworkProblem, Solution, require_observations
from hydrograd.calibration.regularization_weight import choose_wjreg
from hydrograd.config.calibration import CalibrationRequest
from hydrograd.core.simulate import CoreInputs, Record, SimulationOutput
from hydrograd.core.structures.hybrid import flux_correction_from_layers
from hydrograd.optimizers import OPTIMIZERS, OptimizerResult, Report, Settings
from hydrograd.simulation.forward import Compiled, compile_forward, forward
from hydrograd.simulation.outputs import Optimize

INTERRUPTED = "    INTERRUPTED: the model is left as it was before optimize"


class ClosingRun:
    """The forward run that ends a calibration. Its compilation starts on the background thread after
    the first iteration (once the calibration's own program is compiled, so the two compilations do
    not compete) and only depends on shapes, so it serves the calibrated values.

    Used as a context manager around the calibration, it leaves nothing of the calibration on the
    background thread when the calibration returns or raises (:meth:`settle`)."""

    def __init__(self, record: Record, shapes: CoreInputs, background: Callable[[], Future | None]):
        self.record = record
        self.shapes = shapes
        self.background = background
        self.compiled: Future[Compiled] | None = None
        self.started: list[Future] = []
        """Every compilation this calibration submitted to the background thread, in order."""

    def starting_after(self, callback: Callable[[dict], None] | None) -> Callable[[dict], None]:
        """``callback`` for an optimizer, starting the compilations at its first call."""

        def on_iteration(info: dict) -> None:
            if self.compiled is None:
                self.compiled = COMPILER.submit(compile_forward, self.shapes, self.record)
                self.started.append(self.compiled)
                other = self.background()
                if other is not None:
                    self.started.append(other)
            if callback is not None:
                callback(info)

        return on_iteration

    def run(self, inputs: CoreInputs) -> SimulationOutput:
        return forward(inputs, self.record, None if self.compiled is None else self.compiled.result())

    def settle(self) -> None:
        """Cancel the background compilations not started yet and wait for the one under way (XLA's
        compilation cannot be stopped), so none outlives the calibration: one left running when a
        calibration fails or is interrupted would compile alongside whatever the process runs next.
        Nothing to do after a calibration that returned: its closing programs were used."""
        for future in reversed(self.started):
            future.cancel()
        wait(self.started)

    def __enter__(self) -> ClosingRun:
        return self

    def __exit__(self, *exc_info) -> None:
        self.settle()


def _minimize(problem: MappedProblem | NetworkProblem, request: CalibrationRequest, report: Report, callback):
    options = request.options
    settings = Settings(options.termination_crit, options.learning_rate)
    minimize = OPTIMIZERS[options.optimizer].minimize
    return minimize(problem.functions(), problem.x0, problem.lower, problem.upper, settings, report, callback)


def _closing_inputs(inputs: CoreInputs, solution: Solution, data: CalibrationData) -> CoreInputs:
    """The model's inputs with the calibrated values and network."""

    def active(values: np.ndarray) -> np.ndarray:
        return data.layout.to_active(values) if solution.on_grid else values

    calibrated = {k: to_device(active(v)) for k, v in solution.values.items()}
    params = {k: calibrated.get(k, v) for k, v in inputs.params.items()}
    states = {k: calibrated.get(k, v) for k, v in inputs.initial_states.items()}
    correction = inputs.flux_correction
    if solution.network:
        network = {**data.network, **solution.network}
        correction = flux_correction_from_layers({k: to_device(v) for k, v in network.items()})
    return inputs.replace(params=params, initial_states=states, flux_correction=correction)


def _iteration_results(result: OptimizerResult, request: CalibrationRequest, lcurve) -> dict[str, Any]:
    returns = request.returns
    out: dict[str, Any] = {}
    if returns["n_iter"]:
        out["n_iter"] = result.n_iter
    if returns["projg"] and result.projg is not None:
        out["projg"] = result.projg
    if returns["iter_cost"]:
        out["iter_cost"] = np.asarray(result.iter_cost, dtype=np.float64)
    if returns["iter_projg"]:
        out["iter_projg"] = np.asarray(result.iter_projg, dtype=np.float64)
    if returns["lcurve_wjreg"] and lcurve is not None:
        out["lcurve_wjreg"] = lcurve
    return out


def problem_precision(data: CalibrationData, request: CalibrationRequest, *, derivative: bool = False) -> Precision:
    """The precision of this calibration (``hydrograd.calibration.precision``), or of a derivative
    of its problem (``derivative``: ``backward_run``, computed as a gradient-based search would).
    A Bayesian calibration sums its log-likelihood in double precision, as smash does, whatever
    the model's precision."""
    options, inputs = request.options, data.inputs
    precision = choose_precision(
        OPTIMIZERS[options.optimizer].uses_gradient or derivative,
        options.mapping,
        request.common.precision,
        data.layout.nac,
        inputs.forcing.ntime_step,
        len(inputs.structure.states),
    )
    return replace(precision, double=True) if request.bayesian is not None else precision


def build_problem(
    data: CalibrationData, request: CalibrationRequest, precision: Precision, *, check_observations: bool = True
) -> MappedProblem | NetworkProblem:
    """The problem of this calibration, after checking (unless told not to: a derivative of the
    discharge needs no observation) that every gauge of its cost has some observation in the cost
    window. Call under ``jax.enable_x64(precision.double)``."""
    if check_observations:
        require_observations(data.q_obs, data.gauge_codes, request.cost.gauges, request.cost.start)
    return (NetworkProblem if request.options.mapping == "ann" else MappedProblem)(data, request, precision)


def _search(problem: MappedProblem | NetworkProblem, request: CalibrationRequest, closing: ClosingRun):
    """The optimizer's search (after the regularization weight's cycles, when asked), printing
    smash's lines; the optimizer's result and the L-curve (or None)."""
    options = request.options
    user_callback = None if request.callback is None else (lambda info: request.callback(iopt=Optimize(**info)))
    progress = IterationProgress(request.common.verbose, options.termination_crit["maxiter"])
    report = progress.report
    report("</> Bayesian Optimize" if request.bayesian is not None else "</> Optimize")
    try:
        lcurve = None
        if request.regularization.auto is not None:

            def cycle(wjreg: float) -> dict[str, float]:
                problem.set_wjreg(wjreg)
                progress.restart()
                return problem.terms(
                    _minimize(problem, request, report, closing.starting_after(progress.callback(None))).x
                )

            jobs_start = problem.terms(problem.x0)["jobs"]
            wjreg, lcurve = choose_wjreg(request.regularization.auto, jobs_start, cycle, report)
            problem.set_wjreg(wjreg)
            progress.restart()
        result = _minimize(problem, request, report, closing.starting_after(progress.callback(user_callback)))
    except KeyboardInterrupt:
        report(INTERRUPTED)
        raise
    finally:
        progress.close()
    return result, lcurve


def calibrate(data: CalibrationData, request: CalibrationRequest) -> CalibrationResult:
    """Run the calibration ``request`` asks for on ``data``; see the module docstring."""
    inputs = data.inputs
    precision = problem_precision(data, request)
    with jax.enable_x64(precision.double):
        problem = build_problem(data, request, precision)
    with ClosingRun(request.returns.record, inputs.shapes(), problem.compile_in_background) as closing:
        with jax.enable_x64(precision.double):
            result, lcurve = _search(problem, request, closing)
            solution = problem.solution(result, request.returns)
        output = closing.run(_closing_inputs(inputs, solution, data))
    returned = {
        **solution.returned,
        **problem.closing_terms(output, request.returns),
        **_iteration_results(result, request, lcurve),
    }
    return CalibrationResult(
        solution.values, solution.on_grid, solution.network, output, result, returned, solution.serr
    )
