"""Peak memory of a France-size gradient over 720 hourly steps: ``python -m benchmarks.memory``.

The 32 hourly forcing fields of smash's France dataset are cycled through 720 steps (the
forcing is indexed, not copied), synthetic observations come from a forward run with other
parameters, and the NSE at the 10 synthetic gauges is differentiated with respect to the four
distributed parameter maps (4 x 906,044 values). Prints the time and the process's peak
resident memory.
"""

from __future__ import annotations

import resource
import time

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.france import TRUTH, hydrograd_model
from hydrograd.config.cost_options import observation_cost_spec
from hydrograd.core.cost import observation_cost
from hydrograd.core.simulate import Forcing, simulate

N_STEPS = 720


def main() -> None:
    model = hydrograd_model()
    inputs = model.core_inputs()
    forcing = inputs.forcing
    cycled = Forcing(forcing.prcp, forcing.pet, jnp.arange(N_STEPS) % forcing.prcp.shape[0], forcing.complete)
    spec = observation_cost_spec({"gauge": "all"}, model.facts())
    run = inputs.replace(forcing=cycled)

    # The arrays travel as arguments: closed over, XLA would hold them as constants (a second copy).
    def discharge(params, run):
        return simulate(run.replace(params=params)).q

    truth = {**inputs.params, **{k: jnp.full_like(inputs.params[k], v) for k, v in TRUTH.items()}}
    observed = jax.jit(discharge)(truth, run)

    def cost(params, run, observed):
        return observation_cost(discharge(params, run), observed, spec)

    value_and_grad = jax.jit(jax.value_and_grad(cost))
    start = time.perf_counter()
    value, grad = value_and_grad(inputs.params, run, observed)
    jax.block_until_ready(grad)
    first = time.perf_counter() - start
    start = time.perf_counter()
    value, grad = value_and_grad(inputs.params, run, observed)
    jax.block_until_ready(grad)
    second = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    finite = all(bool(np.all(np.isfinite(np.asarray(g)))) for g in grad.values())
    print(f"France gradient, {N_STEPS} hourly steps, {model.mesh.nac} cells: J = {float(value):.5f}")
    print(f"first call {first:.1f} s (compilation included), second call {second:.1f} s")
    print(f"peak resident memory {peak:.2f} GiB, gradient finite: {finite}")


if __name__ == "__main__":
    main()
