"""gr4 alone on a France-size domain (906,044 cells, 32 hourly steps, float32, synthetic forcing):
every cell a step, as hydrograd's time loop runs it, against blocks of cells each run over every
step (the hydrology decoupled from the routing), which would keep a block's stores in the CPU's
caches.

``python -m benchmarks.cell_blocks`` prints one line a schedule: the median and the fastest of
``REPEATS`` calls after a compiling one, and whether the runoff and final stores are bit for bit
those of the first schedule that keeps the runoff.
"""

from __future__ import annotations

import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import hydrograd  # noqa: F401  (hydrograd's process settings: XLA flags, CPU pool)
from hydrograd.core.structures._common import HydroInputs
from hydrograd.core.structures.gr import gr4_step, percolation_beta

N_CELLS, N_STEPS, DT = 906_044, 32, 3600.0
BLOCKS = (4096, 16_384, 65_536)
REPEATS = 7
PARAMETERS = {"ci": 1.0, "cp": 200.0, "ct": 500.0, "kexc": 0.0}
"""Uniform gr4 parameters: interception, production and transfer capacities (mm), exchange (mm/dt)."""


def _inputs() -> tuple:
    rng = np.random.default_rng(0)
    prcp = jnp.asarray(rng.gamma(0.3, 2.0, (N_STEPS, N_CELLS)).astype(np.float32))
    pet = jnp.asarray(rng.uniform(0.0, 0.3, (N_STEPS, N_CELLS)).astype(np.float32))
    imperviousness = jnp.zeros(N_CELLS, jnp.float32)
    params = {
        k: jnp.full(N_CELLS, v, jnp.float32) for k, v in {"ci": 1.0, "cp": 200.0, "ct": 500.0, "kexc": 0.0}.items()
    }
    states = {k: jnp.full(N_CELLS, 0.01, jnp.float32) for k in ("hi", "hp", "ht")}
    return params, states, prcp, pet, imperviousness


def _run(params, states, prcp, pet, imperviousness, keep_runoff: bool):
    beta = percolation_beta(DT)

    def step(s, forcing):
        new, fluxes = gr4_step(params, s, HydroInputs(*forcing, imperviousness, beta, DT, True))
        return new, fluxes["qt"] if keep_runoff else None

    return lax.scan(step, states, (prcp, pet))


def _blocked(block: int):
    n_blocks = -(-N_CELLS // block)
    pad = n_blocks * block - N_CELLS

    def run(params, states, prcp, pet, imperviousness):
        def cells(x):
            return jnp.pad(x, (0, pad), mode="edge").reshape(n_blocks, block)

        def series(x):
            return jnp.pad(x, ((0, 0), (0, pad)), mode="edge").reshape(N_STEPS, n_blocks, block).transpose(1, 0, 2)

        blocks = (
            {k: cells(v) for k, v in params.items()},
            {k: cells(v) for k, v in states.items()},
            series(prcp),
            series(pet),
            cells(imperviousness),
        )
        final, runoff = lax.map(lambda b: _run(*b, keep_runoff=True), blocks)
        runoff = runoff.transpose(1, 0, 2).reshape(N_STEPS, -1)[:, :N_CELLS]
        return {k: v.reshape(-1)[:N_CELLS] for k, v in final.items()}, runoff

    return jax.jit(run)


def main() -> None:
    schedules = {
        "every cell a step, runoff not kept": jax.jit(lambda *a: _run(*a, keep_runoff=False)),
        "every cell a step, runoff kept (32, 906044)": jax.jit(lambda *a: _run(*a, keep_runoff=True)),
        **{f"blocks of {b} cells over every step, runoff kept": _blocked(b) for b in BLOCKS},
    }
    args = _inputs()
    reference = None
    for name, run in schedules.items():
        out = jax.block_until_ready(run(*args))
        times = []
        for _ in range(REPEATS):
            start = time.perf_counter()
            out = jax.block_until_ready(run(*args))
            times.append(time.perf_counter() - start)
        same = ""
        if out[1] is not None:
            reference = out if reference is None else reference
            equal = all(bool(jnp.array_equal(reference[0][k], out[0][k])) for k in out[0])
            same = f", same bits: {equal and bool(jnp.array_equal(reference[1], out[1]))}"
        print(f"{name}: median {statistics.median(times) * 1e3:.0f} ms, fastest {min(times) * 1e3:.0f} ms{same}")


if __name__ == "__main__":
    main()
