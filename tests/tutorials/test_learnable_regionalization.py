"""Seed tutorial 2, advanced learnable regionalization, run verbatim with hydrograd."""

from __future__ import annotations

import re

import pytest

from tests.tutorials._doctest import run_seed

J_LINE = re.compile(r"At iterate\s+(\d+)\s+nfg =\s+\d+\s+J =\s+(\S+)")


@pytest.fixture(scope="module")
def tutorial(data_root):
    return run_seed("advanced_learnable_regionalization.rst")


def test_every_example_ran_and_tables_match_the_seed(tutorial):
    tutorial, _ = tutorial
    tables = [o for o in tutorial.outputs if o.startswith("+---")]
    shown = [e.shown for e in tutorial.examples if e.shown.startswith("+---")]
    assert len(tables) == 2
    assert shown == tables


def test_both_networks_reach_the_target_cost(tutorial):
    tutorial, namespace = tutorial
    finals = []
    for example in tutorial.examples:
        lines = J_LINE.findall(example.printed)
        if lines:
            assert int(lines[-1][0]) == 250
            finals.append(float(lines[-1][1]))
    mlp, cnn = finals
    assert mlp <= 0.133
    assert cnn <= 0.132
    assert namespace["opt_mlp"].net.history["loss_train"][-1] == pytest.approx(mlp, rel=1e-5)
    assert len(namespace["opt_cnn"].net.history["loss_train"]) == 250


def test_learned_maps_and_figures(tutorial):
    _, namespace = tutorial
    import numpy as np

    model = namespace["model_cnn"]
    cp = model.get_rr_parameters("cp")
    active = model.mesh.active_cell == 1
    assert np.all((cp[active] > 0) & (cp[active] < 1000)) and np.ptp(cp[active]) > 0
    hp = namespace["model_mlp"].get_rr_initial_states("hp")
    assert np.all((hp[active] >= 0) & (hp[active] <= 1))
    assert namespace["opt_mlp"].net.get_bias()[-1].shape == (1, 6)
    figure = namespace["f"]
    assert len(figure.axes) == 12
