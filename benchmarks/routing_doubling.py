"""One linear routing step (``Q = a * qup + b``: ``lr``, ``lag0``) by hydrograd's level sweep and by
doubling over the whole graph, timed on JAX's default device, and their results compared.

``python -m benchmarks.routing_doubling [DATASET] [--repeats N]`` (default France, 20 repeats).

The sweep visits the levels one by one (France: 810 a step), a loop iteration each. Doubling does
about ``log2(levels)`` rounds over every cell instead: with ``s = b`` and ``m[x] = a[down[x]]``,
each round adds ``m * s`` to the cell ``2**k`` cells downstream, then squares the jumps (``m *=
m[jump]``, ``jump = jump[jump]``); after the last round ``s`` is every cell's discharge and one more
scatter gives the inflows. It does about ``log2(levels)`` times the sweep's arithmetic, so it loses
on a CPU (see ``benchmarks/RESULTS.md``, "GPU: NVIDIA H200"); on a GPU, where a level costs about
13 us, it may not. The gradients (of ``sum(q**2)``) are JAX's for both: the sweep's hand-written
adjoint, doubling's automatic one.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks._timing import alternate
from hydrograd.core import routing
from hydrograd.core.graph import FlowGraph


def jump_tables(downstream: np.ndarray) -> np.ndarray:
    """``(rounds, nac + 1)`` int32: row ``k`` maps each cell (and the sink, index ``nac``) to the cell
    ``2**k`` cells downstream, the sink past the outlet; ``rounds``: the fewest with ``2**rounds``
    longer than the longest path (in cells to the outlet)."""
    nac = downstream.size
    jump = np.append(np.minimum(downstream, nac), nac).astype(np.int64)
    tables = []
    while np.any(jump[:nac] < nac):
        tables.append(jump)
        jump = jump[jump]
    return np.asarray(tables, dtype=np.int32).reshape(len(tables), nac + 1)


def doubling_step(theta: dict[str, jax.Array], downstream: jax.Array, jumps: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(q, qup)`` of one linear routing step (``theta``: ``a``, ``b`` of shape ``(nac,)``) by
    doubling; ``downstream`` ``(nac,)`` (``nac``: the sink), ``jumps`` from :func:`jump_tables`."""
    nac = theta["a"].shape[0]
    zero = jnp.zeros((1,), theta["a"].dtype)
    s = theta["b"]
    m = jnp.concatenate([theta["a"], zero])[jumps[0, :nac]]
    for k in range(jumps.shape[0]):
        s = s + jnp.zeros_like(s).at[jumps[k, :nac]].add(m * s, mode="drop")
        if k + 1 < jumps.shape[0]:
            m = m * jnp.concatenate([m, zero])[jumps[k, :nac]]
    qup = jnp.zeros_like(s).at[downstream].add(s, mode="drop")
    return s, qup


def compare(graph: FlowGraph, repeats: int, seed: int = 0) -> dict[str, float]:
    """Medians (s) of both variants' step and gradient, and the largest relative differences."""
    nac = graph.nac
    rng = np.random.default_rng(seed)
    routed = np.asarray(graph.has_upstream)[:nac]
    dtype = np.asarray(graph.cell_area).dtype
    theta = {
        "a": jnp.asarray(np.where(routed, rng.uniform(0.8, 1.0, nac), 0.0).astype(dtype)),
        "b": jnp.asarray(rng.uniform(0.0, 1.0, nac).astype(dtype)),
    }
    downstream = np.asarray(graph.downstream)[:nac]
    jumps = jnp.asarray(jump_tables(downstream))
    down = jnp.asarray(downstream)

    def sweep(th):
        return routing.sweep(routing._linear_local, th, graph)

    def doubling(th):
        return doubling_step(th, down, jumps)

    row = {"cells": float(nac), "levels": float(graph.n_levels), "rounds": float(jumps.shape[0])}
    results = {}
    for name, step in (("sweep", sweep), ("doubling", doubling)):
        forward = jax.jit(step)
        gradient = jax.jit(jax.grad(lambda th, step=step: jnp.sum(step(th)[0] ** 2)))
        results[name] = jax.block_until_ready((forward(theta), gradient(theta)))
        for label, call in (("step", forward), ("gradient", gradient)):
            timing = alternate(lambda call=call: jax.block_until_ready(call(theta)), None, repeats)
            row[f"{name} {label} s"] = timing.hydrograd
    (q0, qup0), g0 = results["sweep"]
    (q1, qup1), g1 = results["doubling"]
    for key, a, b in (("q", q1, q0), ("qup", qup1, qup0), ("gradient a", g1["a"], g0["a"])):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        row[f"{key} max rel diff"] = float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-30))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", nargs="?", default="France", help="a load_dataset name (default France)")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    import hydrograd
    from hydrograd.mesh.graph import build_flow_graph

    _, mesh = hydrograd.factory.load_dataset(args.dataset)
    graph, _ = build_flow_graph(mesh["flwdir"], mesh["active_cell"], mesh["dx"], mesh["dy"], mesh["flwacc"])
    print(f"JAX {jax.__version__}: {jax.devices()}; {args.dataset}")
    for key, value in compare(graph, args.repeats).items():
        print(f"{key}: {value:.4g}")


if __name__ == "__main__":
    main()
