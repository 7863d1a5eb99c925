"""smash's step-by-step search (``optimizer="sbs"``)."""

from __future__ import annotations

import numpy as np

from hydrograd.optimizers._base import (
    CALLBACK_STOP_MESSAGE,
    INDENT,
    MAXITER_MESSAGE,
    Functions,
    IterationCallback,
    OptimizerResult,
    Report,
    Settings,
    call_back,
    iteration_line,
)


def step_by_step(
    functions: Functions,
    x0: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    settings: Settings,
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
    batch_cost = functions.batch_cost
    maxiter = int(settings.termination["maxiter"])
    lower = np.asarray(lower, dtype=np.float32)
    upper = np.asarray(upper, dtype=np.float32)
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
    report(iteration_line(0, nfg, gx, f"ddx = {ddx:>4.2f}"))

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
            stop = call_back(callback, {"control_vector": z.copy(), "cost": gx, "n_iter": iteration})
            report(iteration_line(iteration, nfg, gx, f"ddx = {ddx:>4.2f}"))
            if stop:
                message = CALLBACK_STOP_MESSAGE
                break
        if converged:
            message = "CONVERGENCE: DDX < 0.01"
            break
    report(f"{INDENT}{message}")
    return OptimizerResult(z, gx, iteration, message, iter_cost=history)
