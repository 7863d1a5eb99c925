"""The optimizers scipy provides: L-BFGS-B (``"lbfgsb"``), Nelder-Mead and Powell, with smash's
reporting."""

from __future__ import annotations

import functools
import math

import numpy as np

from hydrograd._process import limited_blas_threads
from hydrograd.optimizers._base import (
    CALLBACK_STOP_MESSAGE,
    INDENT,
    Functions,
    IterationCallback,
    OptimizerResult,
    Report,
    Settings,
    inf_norm,
    iteration_line,
)


def _finite(bound: float) -> float | None:
    """A bound as scipy takes it: None where unbounded."""
    return float(bound) if math.isfinite(bound) else None


def _scipy_minimize(
    method: str,
    functions: Functions,
    x0: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    settings: Settings,
    report: Report,
    callback: IterationCallback = None,
) -> OptimizerResult:
    """L-BFGS-B (gradient), Nelder-Mead or Powell from scipy, with smash's reporting: each line
    shows the iterate's cost, the number of evaluations before it and, for L-BFGS-B, the infinity
    norm of the gradient there."""
    cost, value_and_grad, termination = functions.cost, functions.value_and_grad, settings.termination
    bounds = [(_finite(lo), _finite(hi)) for lo, hi in zip(lower, upper, strict=True)]
    state = {"iteration": 0, "nfg": 1, "count": 0, "cost": None, "projg": None, "next_projg": None}
    history, projg_history = [], []

    def counted_value_and_grad(x):
        value, grad = value_and_grad(x)
        state["count"] += 1
        if state["cost"] is None:
            state["cost"] = value
        norm = inf_norm(grad)
        if state["projg"] is None:
            state["projg"] = norm
        else:
            state["next_projg"] = norm
        return value, grad

    def counted_cost(x):
        value = cost(x)
        state["count"] += 1
        if state["cost"] is None:
            state["cost"] = value
        return value

    def line():
        tail = "" if state["projg"] is None else f"|proj g| = {state['projg']:>.5e}"
        return iteration_line(state["iteration"], state["nfg"], state["cost"], tail).rstrip()

    def on_iteration(intermediate_result):
        report(line())
        history.append(state["cost"])
        projg_history.append(state["projg"])
        state["iteration"] += 1
        state["nfg"] = state["count"]
        state["cost"] = float(intermediate_result.fun)
        state["projg"] = state["next_projg"]
        if callback is not None:
            callback(
                {
                    "control_vector": intermediate_result.x.copy(),
                    "cost": state["cost"],
                    "n_iter": state["iteration"],
                    "projg": state["projg"],
                }
            )

    # imported here: scipy.optimize takes about half a second to import, which a calibration by
    # another optimizer should not pay
    import scipy.optimize

    with limited_blas_threads():  # scipy's BLAS threads would spin between iterations
        if method == "lbfgsb":
            result = scipy.optimize.minimize(
                counted_value_and_grad,
                x0,
                method="L-BFGS-B",
                jac=True,
                bounds=bounds,
                callback=on_iteration,
                options={
                    "maxiter": termination["maxiter"],
                    "ftol": 2.22e-16 * termination["factr"],
                    "gtol": termination["pgtol"],
                },
            )
        else:
            options = {"maxiter": termination["maxiter"]}
            if method == "nelder-mead":
                options.update(xatol=termination["xatol"], fatol=termination["fatol"])
            result = scipy.optimize.minimize(
                counted_cost,
                x0,
                method="Nelder-Mead" if method == "nelder-mead" else "Powell",
                bounds=bounds,
                callback=on_iteration,
                options=options,
            )
    message = CALLBACK_STOP_MESSAGE if result.status == 99 else str(result.message)
    report(line())
    report(f"{INDENT}{message}")
    history.append(state["cost"])
    projg_history.append(state["projg"])
    return OptimizerResult(
        np.asarray(result.x),
        float(result.fun),
        state["iteration"] if result.status == 99 else int(result.nit),
        message,
        projg=state["projg"],
        iter_cost=history,
        iter_projg=projg_history if method == "lbfgsb" else [],
    )


lbfgsb = functools.partial(_scipy_minimize, "lbfgsb")
nelder_mead = functools.partial(_scipy_minimize, "nelder-mead")
powell = functools.partial(_scipy_minimize, "powell")
