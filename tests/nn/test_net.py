"""``hydrograd.factory.Net``: smash's summary tables, initializer streams, forward passes and
control-vector layout, the functional view used for training, and clean errors on bad input."""

from __future__ import annotations

import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hydrograd
from hydrograd.core import net as core
from hydrograd.nn.net import INITIALIZERS, Net, default_net, net_control_names, net_from_vector, net_to_vector

SEED_DOC = Path(__file__).resolve().parents[3] / "shared" / "seeds" / "advanced_learnable_regionalization.rst"
PROBLEM = {"cp": (1e-06, 1000.0), "ct": (1e-06, 1000.0), "kexc": (-50, 50), "llr": (1e-06, 1000.0), "hp": (0, 1)}
PROBLEM["ht"] = (0, 1)

LEZ_DEFAULT_NET = """\
+---------------------------------------------------------+
| Layer Type           Input/Output Shape  Num Parameters |
+---------------------------------------------------------+
| Dense                (6,)/(18,)          126            |
| Activation (ReLU)    (18,)/(18,)         0              |
| Dense                (18,)/(29,)         551            |
| Activation (ReLU)    (29,)/(29,)         0              |
| Dense                (29,)/(12,)         360            |
| Activation (ReLU)    (12,)/(12,)         0              |
| Dense                (12,)/(4,)          52             |
| Activation (TanH)    (4,)/(4,)           0              |
| Scale (MinMaxScale)  (4,)/(4,)           0              |
+---------------------------------------------------------+
Total parameters: 1089
Trainable parameters: 1089"""


@pytest.fixture(scope="module")
def smash():
    return pytest.importorskip("smash")


def _seed_tables() -> list[str]:
    """The network summaries printed in the seed tutorial, in order."""
    if not SEED_DOC.is_file():
        pytest.skip(f"seed tutorial not found at {SEED_DOC}")
    blocks = re.findall(r"\.\. code-block:: output\n\n((?:    .*\n|\n)+)", SEED_DOC.read_text())
    tables = []
    for block in blocks:
        lines = [line[4:] for line in block.rstrip().splitlines()]
        if lines and lines[0].startswith("+---"):
            tables.append("\n".join(lines))
    return tables


def _tutorial_nets(factory) -> tuple:
    mlp = factory.Net()
    mlp.add_dense(24, input_shape=6, activation="relu")
    mlp.add_dense(60, activation="relu")
    mlp.add_dense(len(PROBLEM), activation="tanh")
    mlp.add_scale(list(PROBLEM.values()))
    cnn = factory.Net()
    cnn.add_conv2d(24, filter_shape=(4, 4), input_shape=(27, 14, 6), activation="relu")
    cnn.add_flatten()
    cnn.add_dense(60, activation="relu")
    cnn.add_dense(len(PROBLEM), activation="tanh")
    cnn.add_scale(list(PROBLEM.values()))
    return mlp, cnn


def test_summaries_equal_the_seed_tutorial():
    tables = _seed_tables()
    assert len(tables) == 2
    mlp, cnn = _tutorial_nets(hydrograd.factory)
    assert repr(mlp) == tables[0]
    assert repr(cnn) == tables[1]


def test_default_net_equals_smash_default_for_lez():
    net = default_net(6, 4, [(1e-6, 1000.0), (1e-6, 1000.0), (-50, 50), (1e-6, 1000.0)], (27, 14))
    assert repr(net) == LEZ_DEFAULT_NET


def _build(factory, recipe) -> object:
    net = factory.Net()
    for method, args, kwargs in recipe:
        getattr(net, method)(*args, **kwargs)
    return net


RECIPES = {
    "empty": [],
    "every_activation": [
        ("add_dense", (12,), {"input_shape": 5, "activation": "sigmoid"}),
        ("add_dense", (11,), {"activation": "softmax"}),
        ("add_dense", (10,), {"activation": "ReLU"}),
        ("add_dense", (9,), {"activation": "leakyrelu"}),
        ("add_dense", (8,), {"activation": "elu"}),
        ("add_dense", (7,), {"activation": "selu"}),
        ("add_dense", (6,), {"activation": "softplus", "kernel_initializer": "he_normal"}),
        ("add_dropout", (0.2,), {}),
        ("add_dense", (2,), {"activation": "tanh", "bias_initializer": "uniform"}),
        ("add_scale", ([(2, 3), (5.5, 6)],), {}),
    ],
    "cnn": [
        ("add_conv2d", (8, (8, 6)), {"input_shape": (12, 11, 3), "activation": "relu"}),
        ("add_conv2d", (5, 4), {"activation": "leakyrelu", "kernel_initializer": "glorot_normal"}),
        ("add_flatten", (), {}),
        ("add_dense", (16,), {"activation": "elu", "bias_initializer": "he_uniform"}),
        ("add_dropout", (0.1,), {}),
        ("add_dense", (3,), {"activation": "sigmoid", "kernel_initializer": "normal", "bias_initializer": "normal"}),
        ("add_scale", ([(0, 1), (-1, 1), (10, 20)],), {}),
    ],
    "dense_on_image": [
        ("add_dense", (4,), {"input_shape": (6, 7, 2), "kernel_initializer": "uniform"}),
        ("add_conv2d", (3, (3, 2)), {"activation": "softplus", "bias_initializer": "glorot_uniform"}),
        ("add_dense", (2,), {"kernel_initializer": "he_uniform", "bias_initializer": "he_normal"}),
    ],
}


@pytest.mark.parity
@pytest.mark.parametrize("name", sorted(RECIPES))
def test_summary_equals_smash(name, smash):
    ours, theirs = _build(hydrograd.factory, RECIPES[name]), _build(smash.factory, RECIPES[name])
    assert repr(ours) == repr(theirs)
    if ours.layers:
        flags = [i % 3 != 0 for i in range(len(ours.layers))]
        ours.set_trainable(flags)
        theirs.set_trainable(flags)
        assert repr(ours) == repr(theirs)


@pytest.mark.parity
@pytest.mark.parametrize("random_state", [0, 1, 11, 2**32 - 1])
def test_set_weight_and_bias_draw_smash_values(random_state, smash):
    for initializer in INITIALIZERS:
        recipe = [
            ("add_conv2d", (4, (3, 2)), {"input_shape": (5, 6, 3), "kernel_initializer": initializer}),
            ("add_flatten", (), {}),
            ("add_dense", (7,), {"kernel_initializer": initializer, "bias_initializer": initializer}),
            ("add_dense", (2,), {"bias_initializer": initializer}),
        ]
        ours, theirs = _build(hydrograd.factory, recipe), _build(smash.factory, recipe)
        for net in (ours, theirs):
            net.set_weight(random_state=random_state)
            net.set_bias(random_state=random_state + 1 if random_state < 2**32 - 1 else 0)
        for a, b in zip(ours.get_weight() + ours.get_bias(), theirs.get_weight() + theirs.get_bias(), strict=True):
            assert a.shape == b.shape and a.dtype == b.dtype == np.float64
            np.testing.assert_array_equal(a, b)


@pytest.mark.parity
@pytest.mark.parametrize("random_state", [0, 3, 42])
def test_initialize_follows_smash_training_initialization(random_state, smash):
    recipe = RECIPES["cnn"]
    ours, theirs = _build(hydrograd.factory, recipe), _build(smash.factory, recipe)
    for net in (ours, theirs):  # one layer already set: its draws are skipped
        net.layers[-3].weight = np.full(net.layers[-3].weight_shape, 0.5)
    ours.initialize(random_state)
    theirs._compile(optimizer="adam", learning_param={"learning_rate": 0.001}, random_state=random_state)
    for a, b in zip(ours.get_weight() + ours.get_bias(), theirs.get_weight() + theirs.get_bias(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parity
def test_unseeded_draws_use_numpy_global_stream_and_seeded_ones_leave_it_alone(smash):
    recipe = RECIPES["every_activation"]
    ours, theirs = _build(hydrograd.factory, recipe), _build(smash.factory, recipe)
    np.random.seed(5)
    ours.set_weight()
    np.random.seed(5)
    theirs.set_weight()
    for a, b in zip(ours.get_weight(), theirs.get_weight(), strict=True):
        np.testing.assert_array_equal(a, b)

    np.random.seed(9)
    before = np.random.uniform()
    np.random.seed(9)
    ours.set_weight(random_state=1)
    assert np.random.uniform() == before


@pytest.mark.parity
@pytest.mark.parametrize("name", ["every_activation", "cnn", "dense_on_image"])
def test_forward_pass_equals_smash(name, smash):
    recipe = [step for step in RECIPES[name] if step[0] != "add_dropout"]  # smash drops at inference too
    ours, theirs = _build(hydrograd.factory, recipe), _build(smash.factory, recipe)
    theirs.set_weight(random_state=0)
    np.random.seed(1)
    theirs.set_bias([np.random.uniform(-1, 1, size=b) for b in (layer.bias_shape for layer in ours._weighted())])
    ours.set_weight(theirs.get_weight())
    ours.set_bias(theirs.get_bias())
    x = np.random.default_rng(2).normal(size=ours.layers[0].input_shape)
    expected = theirs.forward_pass(x)
    y = ours.forward_pass(x)
    assert y.shape == expected.shape and y.dtype == np.float64
    np.testing.assert_allclose(y, expected, rtol=1e-11, atol=1e-13)


@pytest.mark.parity
def test_tutorial_networks_forward_and_vector_layout_equal_smash(smash):
    from smash.core.simulation.optimize._tools import _merge_net_control, _net2vect, _set_net_from_vect

    for ours, theirs in zip(_tutorial_nets(hydrograd.factory), _tutorial_nets(smash.factory), strict=True):
        ours.initialize(1)
        theirs._compile(optimizer="adam", learning_param={"learning_rate": 0.003}, random_state=1)
        x = np.random.default_rng(3).uniform(size=(27, 14, 6))
        if type(ours.layers[0]).__name__ == "Dense":
            x = x.reshape(-1, 6)
            expected = theirs._forward_pass(x)
        else:
            expected = theirs.forward_pass(x)
        np.testing.assert_allclose(ours.forward_pass(x), expected, rtol=1e-11, atol=1e-9)

        flags = [i != 0 and hasattr(layer, "weight") for i, layer in enumerate(ours.layers)]
        ours.set_trainable(flags)
        theirs.set_trainable(flags)
        np.testing.assert_array_equal(net_to_vector(ours), _net2vect(theirs))
        ret = {k: np.zeros(0) for k in ("name", "nbk", "nbd", "l", "u", "l_raw", "u_raw", "x", "x_raw")}
        ret["n"] = 0
        _merge_net_control(ret, {"net": theirs, "random_state": None})
        assert net_control_names(ours) == list(ret["name"])

        vector = np.random.default_rng(4).normal(size=net_to_vector(ours).size)
        net_from_vector(ours, vector)
        _set_net_from_vect(vector, theirs)
        for a, b in zip(ours.get_weight() + ours.get_bias(), theirs.get_weight() + theirs.get_bias(), strict=True):
            np.testing.assert_array_equal(a, b)


def test_weight_layouts_and_values_set_by_value():
    net = _build(hydrograd.factory, RECIPES["cnn"])
    assert net.get_weight() == [None] * 4
    net.set_weight([0.5, np.ones((5, 8 * 4 * 4)), 1, 2.0])
    net.set_bias([1.2, 0, np.arange(16.0).reshape(1, 16), np.zeros((1, 3))])
    assert [w.shape for w in net.get_weight()] == [(8, 3 * 8 * 6), (5, 128), (16, 5), (3, 16)]
    assert [b.shape for b in net.get_bias()] == [(1, 8), (1, 5), (1, 16), (1, 3)]
    np.testing.assert_array_equal(net.get_bias()[0], np.full((1, 8), 1.2))


def _ready(name: str = "cnn", random_state: int = 0) -> Net:
    net = _build(hydrograd.factory, RECIPES[name])
    net.initialize(random_state)
    return net


def test_copy_is_independent():
    net = _ready()
    net.history["loss_train"].append(1.0)
    twin = net.copy()
    twin.get_weight()[0][...] = 7.0
    twin.set_bias([0, 0, 0, 0])
    twin.add_dense(2)
    twin.history["loss_train"].append(2.0)
    twin.set_trainable([False] * len(twin.layers))
    assert not np.any(net.get_weight()[0] == 7.0) and np.any(net.get_bias()[2] != 0)
    assert len(net.layers) == len(twin.layers) - 1 and net.history["loss_train"] == [1.0]
    assert all(layer.trainable for layer in net._weighted())


def test_trainable_flags_select_params_and_summary_counts():
    net = _ready("every_activation")
    n_layers = len(net.layers)
    net.set_trainable([i > 4 for i in range(n_layers)])
    total, trainable = re.findall(r"parameters: (\d+)", repr(net))
    assert int(total) == sum(layer.n_params() for layer in net.layers)
    assert int(trainable) == sum(layer.n_params() for layer in net.layers[5:])

    train, frozen, every = net.params(), net.params("frozen"), net.params("all")
    assert len(train) == len(frozen) == n_layers
    assert [p is None for p in train] == [
        not (i > 4 and hasattr(layer, "weight")) for i, layer in enumerate(net.layers)
    ]
    assert frozen[0] is not None and train[0] is None
    merged = core.combine(train, frozen)
    for a, b in zip(jax.tree.leaves(merged), jax.tree.leaves(every), strict=True):
        np.testing.assert_array_equal(a, b)
    assert train[6]["bias"].shape == (9,) and train[6]["weight"].dtype == jnp.float32


def test_params_roundtrip_and_jitted_forward_agree_with_forward_pass():
    net = _ready("cnn")
    spec = net.spec()
    assert hash(spec) == hash(_build(hydrograd.factory, RECIPES["cnn"]).spec())
    x = np.random.default_rng(5).normal(size=(12, 11, 3))
    y32 = core.forward_jit(spec, net.params("all"), jnp.asarray(x, jnp.float32))
    np.testing.assert_allclose(y32, net.forward_pass(x), rtol=2e-5, atol=1e-5)

    trained = jax.tree.map(lambda a: a + 1.0, net.params())
    twin = net.copy()
    twin.set_params(trained)
    for p, layer in zip(trained, twin.layers, strict=True):
        if p is not None:
            np.testing.assert_allclose(layer.weight, p["weight"])
            assert layer.weight.dtype == np.float64 and layer.bias.shape == layer.bias_shape


def test_forward_pass_of_dense_network_takes_a_sample_or_a_batch():
    net = _ready("every_activation")
    net.layers = [layer for layer in net.layers if type(layer).__name__ != "Dropout"]
    x = np.random.default_rng(6).normal(size=(10, 5))
    batch = net.forward_pass(x)
    assert batch.shape == (10, 2) and net.forward_pass(x[3]).shape == (1, 2)
    np.testing.assert_allclose(net.forward_pass(x[3])[0], batch[3], rtol=1e-13)
    lows, highs = np.array([2, 5.5]), np.array([3, 6])
    assert np.all(batch > lows) and np.all(batch < highs)


def test_add_activation_and_silu():
    net = Net()
    net.add_dense(3, input_shape=(2,), activation="SiLU")
    net.add_dense(2)
    net.add_activation("Sigmoid")
    net.add_scale([(0, 1), (1, 2)])
    names = [layer.layer_name() for layer in net.layers]
    assert names == ["Dense", "Activation (SiLU)", "Dense", "Activation (Sigmoid)", "Scale (MinMaxScale)"]
    assert net.spec()[1] == core.Activation("silu") and net.spec()[-1].bound_in == (0.0, 1.0)


def test_dropout_is_off_in_forward_pass():
    net = _ready("cnn")
    x = np.ones((12, 11, 3))
    np.testing.assert_array_equal(net.forward_pass(x), net.forward_pass(x))


def _net_with(*steps) -> Net:
    net = Net()
    for method, args, kwargs in steps:
        getattr(net, method)(*args, **kwargs)
    return net


DENSE = ("add_dense", (3,), {"input_shape": 4, "activation": "tanh"})
CONV = ("add_conv2d", (2, 3), {"input_shape": (5, 5, 2)})

BAD_CALLS = [
    ("unknown activation", [], "add_dense", (3,), {"input_shape": 2, "activation": "rellu"}, ValueError, "'relu'"),
    ("activation type", [], "add_dense", (3,), {"input_shape": 2, "activation": 1}, TypeError, "activation"),
    (
        "unknown kernel init",
        [],
        "add_dense",
        (3,),
        {"input_shape": 2, "kernel_initializer": "glorot"},
        ValueError,
        "kernel_initializer.*glorot_",
    ),
    (
        "unknown bias init",
        [],
        "add_conv2d",
        (3, 2),
        {"input_shape": (4, 4, 1), "bias_initializer": "ones"},
        ValueError,
        "bias_initializer",
    ),
    ("no input_shape", [], "add_dense", (3,), {}, TypeError, "input_shape"),
    ("input_shape on hidden layer", [DENSE], "add_dense", (3,), {"input_shape": 3}, TypeError, "first layer"),
    ("zero neurons", [], "add_dense", (0,), {"input_shape": 2}, ValueError, "neurons"),
    ("negative neurons", [DENSE], "add_dense", (-2,), {}, ValueError, "neurons"),
    ("fractional neurons", [DENSE], "add_dense", (2.5,), {}, ValueError, "neurons"),
    ("neurons type", [DENSE], "add_dense", ("4",), {}, TypeError, "neurons"),
    ("nan neurons", [DENSE], "add_dense", (float("nan"),), {}, ValueError, "neurons"),
    ("bad input_shape entry", [], "add_dense", (3,), {"input_shape": (0,)}, ValueError, "input_shape"),
    ("dense beyond memory", [], "add_dense", (2**40,), {"input_shape": 8}, ValueError, "neurons.*GiB"),
    ("dense input beyond memory", [], "add_dense", (8,), {"input_shape": 2**40}, ValueError, r"8 x 1099511627776"),
    ("conv2d beyond memory", [], "add_conv2d", (2**36, 3), {"input_shape": (4, 4, 2)}, ValueError, "filters.*GiB"),
    ("zero filters", [], "add_conv2d", (0, 2), {"input_shape": (4, 4, 1)}, ValueError, "filters"),
    ("conv2d on 2-D input", [], "add_conv2d", (2, 2), {"input_shape": (4, 4)}, ValueError, "input_shape.*3"),
    ("conv2d on int input", [], "add_conv2d", (2, 2), {"input_shape": 4}, TypeError, "input_shape"),
    ("conv2d after flatten", [CONV, ("add_flatten", (), {})], "add_conv2d", (2, 2), {}, ValueError, "3-D"),
    ("filter_shape size", [], "add_conv2d", (2, (2, 2, 2)), {"input_shape": (4, 4, 1)}, ValueError, "filter_shape"),
    ("filter_shape zero", [], "add_conv2d", (2, (0, 2)), {"input_shape": (4, 4, 1)}, ValueError, "filter_shape"),
    ("flatten first", [], "add_flatten", (), {}, ValueError, "first layer"),
    ("flatten 1-D", [DENSE], "add_flatten", (), {}, ValueError, "3-D"),
    ("activation first", [], "add_activation", ("relu",), {}, ValueError, "first layer"),
    ("unknown add_activation", [DENSE], "add_activation", ("sigmod",), {}, ValueError, "'sigmoid'"),
    ("scale first", [], "add_scale", ([(0, 1)],), {}, ValueError, "first layer"),
    (
        "scale unbounded",
        [("add_dense", (1,), {"input_shape": 2, "activation": "relu"})],
        "add_scale",
        ([(0, 1)],),
        {},
        ValueError,
        "bounded activation",
    ),
    ("scale count", [DENSE], "add_scale", ([(0, 1), (0, 2)],), {}, ValueError, "2 pairs for 3 outputs"),
    ("scale low >= high", [DENSE], "add_scale", ([(0, 1), (2, 2), (0, 1)],), {}, ValueError, r"bounds\[1\]"),
    ("scale not pairs", [DENSE], "add_scale", ([0, 1, 2],), {}, TypeError, r"bounds\[0\]"),
    ("scale dict", [DENSE], "add_scale", ({"a": (0, 1)},), {}, TypeError, "values"),
    ("scale nan", [DENSE], "add_scale", ([(0, np.nan), (0, 1), (0, 1)],), {}, ValueError, "finite"),
    ("drop_rate 1", [DENSE], "add_dropout", (1.0,), {}, ValueError, "drop_rate"),
    ("drop_rate negative", [DENSE], "add_dropout", (-0.1,), {}, ValueError, "drop_rate"),
    ("drop_rate type", [DENSE], "add_dropout", ("0.1",), {}, TypeError, "drop_rate"),
    ("set_weight count", [DENSE], "set_weight", ([1, 2],), {}, ValueError, "one weight per"),
    ("set_weight shape", [DENSE], "set_weight", ([np.ones((4, 3))],), {}, ValueError, r"\(3, 4\)"),
    ("set_weight type", [DENSE], "set_weight", (np.ones((3, 4)),), {}, TypeError, "list"),
    ("set_weight entry", [DENSE], "set_weight", (["a"],), {}, TypeError, r"value\[0\]"),
    ("set_bias shape", [DENSE], "set_bias", ([np.ones(3)],), {}, ValueError, r"\(1, 3\)"),
    ("set_weight empty net", [], "set_weight", (), {"random_state": 0}, ValueError, "no layers"),
    ("random_state range", [DENSE], "set_weight", (), {"random_state": -1}, ValueError, "random_state"),
    ("random_state type", [DENSE], "set_bias", (), {"random_state": "1"}, TypeError, "random_state"),
    ("trainable length", [DENSE], "set_trainable", ([True],), {}, ValueError, "one bool per layer"),
    ("trainable entry", [DENSE], "set_trainable", ([True, "no"],), {}, TypeError, r"trainable\[1\]"),
    ("forward unset", [DENSE], "forward_pass", (np.ones(4),), {}, ValueError, "weights are not set"),
    ("forward empty", [], "forward_pass", (np.ones(4),), {}, ValueError, "no layers"),
    ("params unset", [DENSE], "params", (), {}, ValueError, "initialize"),
    ("params which", [DENSE], "params", ("some",), {}, ValueError, "which"),
]


@pytest.mark.parametrize(
    ("steps", "method", "args", "kwargs", "error", "match"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_CALLS],
)
def test_bad_input_is_rejected_before_any_change(steps, method, args, kwargs, error, match):
    net = _net_with(*steps)
    before = repr(net)
    with pytest.raises(error, match=match):
        getattr(net, method)(*args, **kwargs)
    assert repr(net) == before


def test_bad_forward_and_params_inputs():
    net = _net_with(DENSE)
    net.initialize(0)
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        net.forward_pass(np.ones(5))
    with pytest.raises(TypeError, match="numpy array"):
        net.forward_pass([1, 2, 3, 4])
    with pytest.raises(ValueError, match="one entry per layer"):
        net.set_params(net.params()[:1])
    with pytest.raises(ValueError, match=r"weight \(3, 4\)"):
        net.set_params(({"weight": np.ones((4, 3)), "bias": np.ones(3)}, None))
    with pytest.raises(ValueError, match="must be None"):
        net.set_params((None, {"weight": np.ones((3, 4)), "bias": np.ones(3)}))
    with pytest.raises(ValueError, match="shape"):
        net_from_vector(net, np.ones(3))
    with pytest.raises(ValueError, match="n_out = 2"):
        default_net(6, 2, [(0, 1)], (10, 10))
