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


@pytest.fixture(scope="module")
def hybrid_setup_mesh():
    setup, mesh = smash.factory.load_dataset("Lez")
    return {**setup, "hydrological_module": "gr4_mlp", "hidden_neuron": 3}, mesh


def _hybrid(setup_mesh):
    model = smash.Model(*setup_mesh, verbose=False)
    model.set_nn_parameters_weight(initializer="he_uniform", random_state=5)
    model.set_nn_parameters_weight([w * 0.1 for w in model.get_nn_parameters_weight()])
    return model


def test_ann_on_a_hybrid_trains_the_flux_network_jointly_by_default(hybrid_setup_mesh):
    model = _hybrid(hybrid_setup_mesh)
    names = model._nn_parameter_names()
    assert set(names) <= set(smash.default_optimize_options(model, mapping="ann")["parameters"])
    joint = smash.optimize(
        model, mapping="ann", optimize_options=options(mlp(), parameters=[*PROBLEM, *names]), common_options=QUIET
    )
    frozen = smash.optimize(model, mapping="ann", optimize_options=options(mlp()), common_options=QUIET)
    weights = (model, joint, frozen)
    for before, after, kept in zip(*(m.get_nn_parameters_weight() for m in weights), strict=True):
        assert not np.allclose(before, after)
        np.testing.assert_array_equal(before, kept)
    assert not np.allclose(joint.get_rr_parameters("cp"), frozen.get_rr_parameters("cp"))


def test_ann_on_a_hybrid_runs_its_flux_network(hybrid_setup_mesh):
    """The network is part of the model the regionalization trains through: zero weights and
    small random ones give different regionalized maps."""
    with_network = _hybrid(hybrid_setup_mesh)
    without = with_network.copy()
    without.set_nn_parameters_weight(initializer="zeros")
    maps = [
        smash.optimize(m, mapping="ann", optimize_options=options(mlp()), common_options=QUIET).get_rr_parameters("ct")
        for m in (with_network, without)
    ]
    assert not np.allclose(*maps)


@pytest.mark.parity
def test_joint_hybrid_regionalization_matches_smash(hybrid_setup_mesh):
    reference = pytest.importorskip("smash")
    ours = _hybrid(hybrid_setup_mesh)
    theirs = reference.Model(*hybrid_setup_mesh)
    theirs.set_nn_parameters_weight(ours.get_nn_parameters_weight())
    theirs.set_nn_parameters_bias(ours.get_nn_parameters_bias())
    opts = options(mlp(), parameters=[*PROBLEM, *ours._nn_parameter_names()])
    ret = {"net": True, "cost": True, "control_vector": True}
    trained, mine = smash.optimize(ours, mapping="ann", optimize_options=opts, common_options=QUIET, return_options=ret)
    opts["net"] = reference.factory.Net()
    opts["net"].add_dense(8, input_shape=6, activation="relu")
    opts["net"].add_dense(4, activation="tanh")
    opts["net"].add_scale(list(PROBLEM.values()))
    new, other = reference.optimize(
        theirs, mapping="ann", optimize_options=opts, common_options=QUIET, return_options=ret
    )
    np.testing.assert_allclose(mine.net.history["loss_train"], other.net.history["loss_train"], rtol=2e-3)
    # the control vector: the hybrid network's entries (column-major), then the regionalization net
    assert mine.control_vector.shape == other.control_vector.shape
    flux = np.concatenate(
        [
            w.ravel(order="F")
            for k in ("weight_1", "bias_1", "weight_2", "bias_2")
            for w in [getattr(trained.nn_parameters, k)]
        ]
    )
    np.testing.assert_allclose(mine.control_vector[: flux.size], flux, rtol=1e-6)
    np.testing.assert_allclose(mine.control_vector, other.control_vector, rtol=2e-2, atol=2e-3)
    for a, b in zip(new.get_nn_parameters_weight(), trained.get_nn_parameters_weight(), strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-2, atol=2e-4)
