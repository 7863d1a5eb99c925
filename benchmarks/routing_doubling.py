"""One linear routing step (``Q = a * qup + b``: ``lr``, ``lag0``) by hydrograd's level sweep and by
doubling (``hydrograd.core.routing.doubling``), timed on JAX's default device, and their results
compared.

``python -m benchmarks.routing_doubling [DATASET] [--repeats N]`` (default France, 20 repeats).

The sweep visits the levels one by one (France: 810 a step), a loop iteration each. Doubling does
``(levels - 1).bit_length()`` rounds over every cell instead (France: 10), about as many times the
sweep's arithmetic: slower on a CPU, faster on a GPU, where a level costs its kernel launches
(``benchmarks/RESULTS.md``, "Fifteenth session"). Both gradients (of ``sum(q**2)``) are hand-written
adjoints: the reverse sweep, and pointer jumping towards the outlets.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks._timing import alternate
from hydrograd.core import routing
from hydrograd.core.graph import FlowGraph


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

    def sweep(th):
        return routing.sweep(routing._linear_local, th, graph)

    def doubling(th):
        return routing.doubling(th["a"], th["b"], graph)

    rounds = (graph.n_levels - 1).bit_length()
    row = {"cells": float(nac), "levels": float(graph.n_levels), "rounds": float(rounds)}
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
