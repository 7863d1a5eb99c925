"""Derivatives of a model's cost or discharge with respect to its control vector (smash's
``backward_run``): a JAX reverse pass (VJP) of the very program a calibration differentiates.

The control vector is the one ``optimize`` would move for the same mapping, optimizer and
options, at the model's current values: mapped parameter and initial-state coefficients in the
optimizer's transformed space, then the hybrid network's selected weights. With
``mapping="ann"`` it holds the hybrid network's selected weights only (a regionalization network
has no weights before training), as smash's.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from hydrograd._arrays import to_device
from hydrograd.calibration.data import CalibrationData
from hydrograd.calibration.objective import discharge_vjp
from hydrograd.calibration.problems import MappedProblem
from hydrograd.calibration.run import build_problem, problem_precision
from hydrograd.config.calibration import BackwardRequest, CalibrationRequest


def _mapped(request: CalibrationRequest) -> CalibrationRequest:
    """``request`` as a mapped calibration: with ``mapping="ann"``, a uniform mapping of nothing but
    the hybrid network's selected weights."""
    options = request.options
    if options.mapping != "ann":
        return request
    mapped = dataclasses.replace(options, mapping="uniform", rr_parameters=(), rr_states=(), control_tfm="keep")
    return dataclasses.replace(request, options=mapped)


def backward(data: CalibrationData, request: BackwardRequest) -> np.ndarray:
    """The gradient (float32, the control vector's length) of ``cotangent * J`` (``diff_target``
    ``"j"``, ``cotangent`` a scalar) or of ``sum(cotangent * q)`` (``"q"``: ``cotangent`` ``(nac,
    ntime_step)`` over the active cells in smash's column-major order, ``q`` every active cell's
    discharge) with respect to the control vector at the model's current values."""
    calibration = _mapped(request.calibration)
    precision = problem_precision(data, calibration, derivative=True)
    with jax.enable_x64(precision.double):
        problem = build_problem(data, calibration, precision, check_observations=request.diff_target == "j")
        assert isinstance(problem, MappedProblem)
        if request.diff_target == "j":
            _, grad = problem.value_and_grad(problem.x0)
            return (grad * float(request.cotangent.ravel()[0])).astype(np.float32)
        dtype = np.float64 if precision.model == "float64" else np.float32
        flow_order = to_device(request.cotangent[data.layout.order].T, dtype)
        grad = discharge_vjp(problem.device_x(problem.x0), flow_order, problem.objective, problem.data)
        return np.asarray(grad, dtype=np.float32)
