"""Optimization methods over a transformed control vector, with smash's progress lines.

Each method receives plain callables (cost, value-and-grad) over numpy vectors, so it knows
nothing of the model; it returns an ``OptimizerResult``. Iteration lines go through ``report``
(``print`` when verbose, a no-op otherwise) in smash's format.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.optimize

from hydrograd.optimize.adaptive import jitted_update

Report = Callable[[str], None]
IterationCallback = Callable[[dict], None] | None

INDENT = " " * 4
MAXITER_MESSAGE = "STOP: TOTAL NO. of ITERATIONS REACHED LIMIT"
CALLBACK_STOP_MESSAGE = "STOP: CALLBACK RAISED StopIteration"
"""How every method ends when the user's ``callback`` raises ``StopIteration``: at once, on the best
iterate found so far (scipy's own convention for its callbacks)."""


@dataclass
class OptimizerResult:
    """Final control (transformed), its cost, iteration count, per-iteration history, message."""

    x: np.ndarray
    cost: float
    n_iter: int
    message: str
    projg: float | None = None
    iter_cost: list[float] = field(default_factory=list)
    iter_projg: list[float] = field(default_factory=list)


def _line(iteration: int, nfg: int, cost: float, tail: str) -> str:
    return f"{INDENT}At iterate {iteration:>5}    nfg = {nfg:>5}    J = {cost:>.5e}    {tail}"


def step_by_step(
    batch_cost: Callable[[np.ndarray], np.ndarray],
    x0: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    maxiter: int,
    report: Report,
    callback: IterationCallback = None,
) -> OptimizerResult:
    """smash's step-by-step (SBS) search, iterate for iterate.

    Each sweep tries ``x_i +/- ddx`` for every coordinate and keeps the best improvement; the
    step ``ddx`` doubles after repeated successes and halves after a failed sweep; after ``4n``
    sweeps an extrapolation along the smoothed successful moves is also tried. The trials of one
    sweep do not depend on each other's outcome, so they are evaluated as one batch.
    ``lower``/``upper`` may hold infinities. Arrays are float32, as smash holds them.
    """
    n = x0.size
    y = np.asarray(x0, dtype=np.float32).copy()
    z = y.copy()
    smoothed_step = np.zeros(n)
    gx = float(batch_cost(y[None, :])[0])
    ga = gx
    clg = 0.7 ** (1 / n)
    ddx = 0.64
    dxn = ddx
    best_i = last_i = successes = -1
    best_dir = last_dir = 0
    nfg = 1
    iteration = 0
    message = MAXITER_MESSAGE
    history = [gx]
    report(_line(0, nfg, gx, f"ddx = {ddx:>4.2f}"))

    for sweep in range(1, maxiter * n + 1):
        dxn = min(dxn, ddx)
        if ddx > 2:
            ddx = dxn
        trials, moves = [], []
        for i in range(n):
            for direction in (-1, 1):
                if i == last_i and direction == -last_dir:
                    continue
                if (direction < 0 and y[i] <= lower[i]) or (direction > 0 and y[i] >= upper[i]):
                    continue
                x = y.copy()
                x[i] = y[i] + direction * ddx
                x[i] = max(min(x[i], upper[i]), lower[i])
                trials.append(x)
                moves.append((i, direction))
        if trials:
            costs = batch_cost(np.stack(trials))
            nfg += len(trials)
            for x, (i, direction), cost in zip(trials, moves, costs, strict=True):
                if float(cost) < gx:
                    z, gx, best_i, best_dir = x, float(cost), i, direction
        last_i, last_dir = best_i, best_dir

        if best_i > -1:
            y = z.copy()
            smoothed_step *= clg
            smoothed_step[best_i] = (1.0 - clg) * best_dir * ddx + clg * smoothed_step[best_i]
            successes += 1
            if successes + 1 > 2 * n:
                ddx *= 2
                successes = 0
            if gx < ga - 2:
                ga = gx
        else:
            ddx /= 2
            successes = -1

        if sweep > 4 * n:
            x = y.copy()
            for i in range(n):
                x[i] = y[i] + smoothed_step[i]
                x[i] = max(min(x[i], upper[i]), lower[i])
            cost = float(batch_cost(x[None, :])[0])
            nfg += 1
            if cost < gx:
                gx = cost
                last_dir = 0
                y = x.copy()
                z = x.copy()
                if gx < ga - 2:
                    ga = gx

        best_i = -1
        converged = ddx < 0.01
        if sweep % n == 0 or converged:
            iteration = sweep // n + (sweep % n > 0)
            history.append(gx)
            stop = _call(callback, {"control_vector": z.copy(), "cost": gx, "n_iter": iteration})
            report(_line(iteration, nfg, gx, f"ddx = {ddx:>4.2f}"))
            if stop:
                message = CALLBACK_STOP_MESSAGE
                break
        if converged:
            message = "CONVERGENCE: DDX < 0.01"
            break
    report(f"{INDENT}{message}")
    return OptimizerResult(z, gx, iteration, message, iter_cost=history)


def _call(callback: IterationCallback, info: dict) -> bool:
    """Call the user's ``callback`` (if any); True when it asks to stop by raising StopIteration."""
    if callback is None:
        return False
    try:
        callback(info)
    except StopIteration:
        return True
    return False


def _inf_norm(grad: np.ndarray) -> float:
    return float(np.max(np.abs(grad))) if grad.size else 0.0


def scipy_minimize(
    method: str,
    cost: Callable[[np.ndarray], float],
    value_and_grad: Callable[[np.ndarray], tuple[float, np.ndarray]],
    x0: np.ndarray,
    bounds: list[tuple[float | None, float | None]],
    termination: dict,
    report: Report,
    callback: IterationCallback = None,
) -> OptimizerResult:
    """L-BFGS-B (gradient), Nelder-Mead or Powell from scipy, with smash's reporting: each line
    shows the iterate's cost, the number of evaluations before it and, for L-BFGS-B, the infinity
    norm of the gradient there."""
    state = {"iteration": 0, "nfg": 1, "count": 0, "cost": None, "projg": None, "next_projg": None}
    history, projg_history = [], []

    def counted_value_and_grad(x):
        value, grad = value_and_grad(x)
        state["count"] += 1
        if state["cost"] is None:
            state["cost"] = value
        norm = _inf_norm(grad)
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
        return _line(state["iteration"], state["nfg"], state["cost"], tail).rstrip()

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


def adaptive_descent(
    name: str,
    learning_rate: float,
    value_and_grad: Callable[[np.ndarray], tuple[float, np.ndarray]],
    x0: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    termination: dict,
    report: Report,
    callback: IterationCallback = None,
    gradient_norm: Callable[[np.ndarray], float] | None = None,
) -> OptimizerResult:
    """Adam, SGD, Adagrad or RMSprop steps (optax) projected on the bounds, with smash's early
    stopping: stop after ``early_stopping`` iterations without a new best cost and return to
    the best iterate. ``gradient_norm`` gives the reported ``|proj g|`` of a gradient (default:
    its infinity norm)."""
    norm = gradient_norm or _inf_norm
    optimizer, step = jitted_update(name, learning_rate)
    maxiter, patience = termination["maxiter"], termination.get("early_stopping", 0)
    x = np.asarray(x0, dtype=np.float64)
    opt_state = optimizer.init(x)
    value, grad = value_and_grad(x)
    projg = norm(grad)
    history, projg_history = [value], [projg]
    report(_line(0, 1, value, f"|proj g| = {projg:>.5e}"))
    best = {"cost": np.inf, "iteration": 0, "x": x, "projg": projg}
    best_seen = {"cost": value, "iteration": 0, "x": x.copy(), "projg": projg}
    message = MAXITER_MESSAGE
    stopped = False
    iteration = 0
    for iteration in range(1, maxiter + 1):
        moved, opt_state = step(grad, opt_state, x)
        x = np.clip(np.asarray(moved), lower, upper)
        value, grad = value_and_grad(x)
        projg = norm(grad)
        history.append(value)
        projg_history.append(projg)
        if patience:
            if value < best["cost"] or iteration == 1:
                best = {"cost": value, "iteration": iteration, "x": x.copy(), "projg": projg}
            elif iteration - best["iteration"] > patience:
                message = f"EARLY STOPPING: NO IMPROVEMENT for {patience} CONSECUTIVE ITERATIONS"
                report(f"{INDENT}{message}")
                break
        if value < best_seen["cost"]:
            best_seen = {"cost": value, "iteration": iteration, "x": x.copy(), "projg": projg}
        stopped = _call(callback, {"control_vector": x.copy(), "cost": value, "n_iter": iteration, "projg": projg})
        report(_line(iteration, iteration + 1, value, f"|proj g| = {projg:>.5e}"))
        if stopped:
            message = CALLBACK_STOP_MESSAGE
            report(f"{INDENT}{message}")
            break
        if iteration == maxiter:
            report(f"{INDENT}{MAXITER_MESSAGE}")
    n_iter = iteration
    if stopped:
        report(f"{INDENT}Revert to iteration {best_seen['iteration']} with J = {best_seen['cost']:.5e}")
        x, value, projg, n_iter = best_seen["x"], best_seen["cost"], best_seen["projg"], best_seen["iteration"]
    elif patience and best["iteration"] < maxiter:
        report(f"{INDENT}Revert to iteration {best['iteration']} with J = {best['cost']:.5e} due to early stopping")
        x, value, projg, n_iter = best["x"], best["cost"], best["projg"], best["iteration"]
    return OptimizerResult(x, value, n_iter, message, projg, history, projg_history)
