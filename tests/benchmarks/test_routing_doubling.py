"""``python -m benchmarks.routing_doubling``: doubling routes a step as the level sweep does."""

from __future__ import annotations

import numpy as np

from benchmarks import routing_doubling
from hydrograd.factory import load_dataset
from hydrograd.mesh.graph import build_flow_graph, cells_to_outlet


def test_doubling_gives_the_sweeps_discharge_inflow_and_gradient():
    _, mesh = load_dataset("Lez")
    graph, _ = build_flow_graph(mesh["flwdir"], mesh["active_cell"], mesh["dx"], mesh["dy"], mesh["flwacc"])
    longest = int(cells_to_outlet(np.asarray(graph.downstream)[: graph.nac]).max())
    row = routing_doubling.compare(graph, repeats=1)
    assert 2 ** (row["rounds"] - 1) <= longest < 2 ** row["rounds"]
    assert row["q max rel diff"] < 1e-5
    assert row["qup max rel diff"] < 1e-5
    assert row["gradient a max rel diff"] < 1e-4
    assert row["sweep step s"] > 0 and row["doubling gradient s"] > 0
