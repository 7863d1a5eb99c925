"""Metrics of simulated against observed discharge, per gauge, computed as smash computes them.

smash evaluates its metrics in single precision, after converting both series to float32, with
subnormal numbers kept. :func:`metric_values` does the same with the core's metrics
(``hydrograd.core.metrics``), compiled (``jit``, so that products fuse into the additions where
smash's compiled loops fuse them, see that module) and under ``jax.enable_x64``, so that their
logarithm is the correctly rounded one (as the C library's ``logf`` behind smash is, in all but
rare cases). The series stay float32 and every other operation rounds to float32, so the digits
are smash's; float64 only buys the logarithm. Subnormal values (below 1.2e-38), which XLA's CPU
runtime flushes to zero in arithmetic, count where smash counts them: the core's ``lgrm`` reads
them from their bits, and elsewhere they cannot move a float32 result beyond its last digit.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from hydrograd._arrays import to_device
from hydrograd.core.metrics import METRICS
from hydrograd.simulation.cost import warn_unobserved_gauges

Metric = Callable[[jax.Array, jax.Array], jax.Array]


@functools.partial(jax.jit, static_argnums=0)
def _values(metrics: tuple[Metric, ...], obs: jax.Array, sim: jax.Array) -> jax.Array:
    return jnp.stack([metric(obs, sim) for metric in metrics], axis=-1)


def metric_values(metrics: Sequence[Metric], q_obs: np.ndarray, q_sim: np.ndarray) -> np.ndarray:
    """Each of ``metrics`` (functions of ``hydrograd.core.metrics``) of ``q_sim`` against ``q_obs``
    (``(ng, n)`` m3/s, converted to float32), in smash's single-precision arithmetic (see the
    module's docstring): array ``(ng, len(metrics))`` float64 holding float32 values."""
    obs = to_device(np.asarray(q_obs, dtype=np.float32))
    sim = to_device(np.asarray(q_sim, dtype=np.float32))
    with jax.enable_x64(True):
        values = _values(tuple(metrics), obs, sim)
    return np.asarray(values, dtype=np.float64)


def evaluate(
    q_obs: np.ndarray, q_sim: np.ndarray, metrics: Sequence[str], window: slice, codes: Sequence[str]
) -> np.ndarray:
    """Each metric of ``metrics`` (names of ``METRICS``) at each gauge over the steps ``window`` of
    ``q_obs`` and ``q_sim`` (``(ng, ntime_step)`` m3/s): array ``(ng, n_metrics)`` float64, smash's
    float32 values (see :func:`metric_values`). Missing observations (-99 or NaN) are skipped; a
    gauge without any in the window gets NaN metrics (as in smash) and a warning."""
    warn_unobserved_gauges(q_obs, codes, range(len(codes)), window, "between start_eval and end_eval")
    functions = [METRICS[m] for m in metrics]
    return metric_values(functions, np.asarray(q_obs)[:, window], np.asarray(q_sim)[:, window])
