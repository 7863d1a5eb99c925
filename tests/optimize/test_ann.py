"""mapping="ann": training a descriptors-to-parameters network through the model."""

from __future__ import annotations

import numpy as np
import pytest

import hydrograd as smash

QUIET = {"verbose": False}
PROBLEM = {"cp": (1e-6, 1000.0), "ct": (1e-6, 1000.0), "kexc": (-50, 50), "llr": (1e-6, 1000.0)}


@pytest.fixture(scope="module")
def model():
    setup, mesh = smash.factory.load_dataset("Lez")
    return smash.Model(setup, mesh, verbose=False)


def mlp(nd=6, n_out=4, bounds=None, dropout=False):
    net = smash.factory.Net()
    net.add_dense(8, input_shape=nd, activation="relu")
    if dropout:
        net.add_dropout(0.2)
    net.add_dense(n_out, activation="tanh")
    net.add_scale(list((bounds or PROBLEM).values()))
    return net


def options(net, **extra):
    return {
        "net": net,
        "parameters": list(PROBLEM),
        "bounds": PROBLEM,
        "termination_crit": {"maxiter": 6},
        "random_state": 3,
        **extra,
    }


def test_training_lowers_the_cost_and_keeps_the_users_net(model):
    net = mlp()
    new, opt = smash.optimize(
        model,
        mapping="ann",
        optimize_options=options(net),
        common_options=QUIET,
        return_options={"net": True, "iter_cost": True, "cost": True, "n_iter": True},
    )
    assert net.get_weight()[0] is None  # the user's network is not modified
    history = opt.net.history["loss_train"]
    assert len(history) == 6 and history[-1] < opt.iter_cost[0]
    assert opt.cost == pytest.approx(history[-1], rel=1e-4)
    active = new.mesh.active_cell == 1
    for key, (low, high) in PROBLEM.items():
        values = new.get_rr_parameters(key)[active]
        assert np.all((values >= low) & (values <= high)) and np.ptp(values) > 0


def test_same_random_state_same_result(model):
    runs = [
        smash.optimize(model, mapping="ann", optimize_options=options(mlp()), common_options=QUIET) for _ in range(2)
    ]
    np.testing.assert_array_equal(runs[0].get_rr_parameters("cp"), runs[1].get_rr_parameters("cp"))


def test_early_stopping_restores_the_best_weights(model):
    opts = options(mlp(), learning_rate=0.5)
    opts["termination_crit"] = {"maxiter": 30, "early_stopping": 2}
    _, opt = smash.optimize(
        model,
        mapping="ann",
        optimize_options=opts,
        common_options=QUIET,
        return_options={"iter_cost": True, "cost": True},
    )
    assert opt.cost == pytest.approx(min(opt.iter_cost[1:]), rel=1e-4)


def test_default_network_and_dropout(model):
    new = smash.optimize(
        model, mapping="ann", optimize_options={"termination_crit": {"maxiter": 2}}, common_options=QUIET
    )
    assert np.ptp(new.get_rr_parameters("cp")[new.mesh.active_cell == 1]) > 0
    smash.optimize(model, mapping="ann", optimize_options=options(mlp(dropout=True)), common_options=QUIET)


def _conv_on_vector(model):
    net = smash.factory.Net()
    net.add_conv2d(4, filter_shape=(2, 2), input_shape=(5, 5, 6), activation="relu")
    net.add_flatten()
    net.add_dense(4, activation="tanh")
    return net


def _frozen(model):
    net = mlp()
    net.set_trainable([False] * len(net.layers))
    return net


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda m: mlp(nd=5), "nd=6"),
        (lambda m: mlp(n_out=3, bounds=dict(list(PROBLEM.items())[:3])), "outputs 3 values"),
        (lambda m: mlp(bounds={**PROBLEM, "cp": (1.0, 500.0)}), "scale layer bounds"),
        (_conv_on_vector, "descriptor maps are"),
        (_frozen, "no trainable layer"),
        (lambda m: "net", "must be a hydrograd.factory.Net"),
    ],
)
def test_bad_networks_are_refused_before_training(model, make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        smash.optimize(model, mapping="ann", optimize_options=options(make(model)), common_options=QUIET)


def test_ann_refuses_non_adaptive_optimizers(model):
    with pytest.raises(ValueError, match="cannot serve mapping 'ann'"):
        smash.optimize(model, mapping="ann", optimizer="lbfgsb", common_options=QUIET)
