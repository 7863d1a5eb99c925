"""Pure layer functions of ``hydrograd.core.net``: values against smash's numpy layers, shapes,
dropout keying, jit/vmap consistency and gradients against finite differences."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from hydrograd.core import net as core

SMASH_ACTIVATION_CLASS = {
    "sigmoid": "Sigmoid",
    "softmax": "Softmax",
    "tanh": "TanH",
    "relu": "ReLU",
    "leakyrelu": "LeakyReLU",
    "elu": "ELU",
    "selu": "SELU",
    "softplus": "SoftPlus",
    "silu": "SiLU",
}


@pytest.fixture(scope="module")
def smash_layers():
    return pytest.importorskip("smash.factory.net._layers")


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def _inputs(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    x = np.random.default_rng(seed).normal(0, 3, shape)
    x.flat[:7] = [-30.0, -1.0, -1e-3, 0.0, 1e-3, 1.0, 30.0]
    return x


@pytest.mark.parity
@pytest.mark.parametrize("name", sorted(core.ACTIVATIONS))
def test_activation_matches_smash(name, smash_layers, x64):
    x = _inputs(0, (6, 9))
    expected = getattr(smash_layers, SMASH_ACTIVATION_CLASS[name])()(x)
    np.testing.assert_allclose(core.activation(name, jnp.asarray(x)), expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", sorted(core.ACTIVATIONS))
def test_activation_gradient_finite_for_extreme_inputs(name, x64):
    x = jnp.array([-1e4, -80.0, -1e-30, 0.0, 1e-30, 80.0, 1e4])
    g = jax.grad(lambda v: jnp.sum(core.activation(name, v)))(x)
    assert np.all(np.isfinite(g)) and np.all(np.isfinite(core.activation(name, x)))


def test_bounded_activations_stay_in_their_range(x64):
    x = jnp.asarray(_inputs(1, (50, 4)))
    for name, (low, high) in core.BOUNDED_ACTIVATIONS.items():
        y = core.activation(name, x)
        assert float(y.min()) >= low and float(y.max()) <= high


@pytest.mark.parity
def test_dense_matches_smash(smash_layers, x64):
    rng = np.random.default_rng(2)
    layer = smash_layers.Dense(5, (7,), "glorot_uniform", "zeros")
    layer.weight, layer.bias = rng.normal(size=(5, 7)), rng.normal(size=(1, 5))
    x = rng.normal(size=(11, 7))
    params = {"weight": jnp.asarray(layer.weight), "bias": jnp.asarray(layer.bias[0])}
    np.testing.assert_allclose(core.dense(params, jnp.asarray(x)), layer._forward_pass(x), rtol=1e-13)


@pytest.mark.parity
@pytest.mark.parametrize("filter_shape", [(1, 1), (3, 3), (4, 4), (3, 4), (5, 2), (8, 6)])
def test_conv2d_matches_smash(filter_shape, smash_layers, x64):
    rng = np.random.default_rng(3)
    image_shape, filters = (7, 9, 3), 4
    layer = smash_layers.Conv2D(filters, filter_shape, image_shape, "glorot_uniform", "zeros")
    layer.weight = rng.normal(size=layer.weight_shape)
    layer.bias = rng.normal(size=(1, filters))
    x = rng.normal(size=image_shape)
    params = {"weight": jnp.asarray(layer.weight), "bias": jnp.asarray(layer.bias[0])}
    ours = core.conv2d(params, jnp.asarray(x), filter_shape)
    assert ours.shape == (7, 9, filters)
    np.testing.assert_allclose(ours, layer._forward_pass(x), rtol=1e-12, atol=1e-13)


def test_conv2d_batch_axis_equals_single_images(x64):
    rng = np.random.default_rng(4)
    params = {"weight": jnp.asarray(rng.normal(size=(2, 3 * 2 * 3))), "bias": jnp.asarray(rng.normal(size=2))}
    xs = jnp.asarray(rng.normal(size=(5, 6, 4, 3)))
    batched = core.conv2d(params, xs, (2, 3))
    one_by_one = jnp.stack([core.conv2d(params, x, (2, 3)) for x in xs])
    np.testing.assert_allclose(batched, one_by_one, rtol=1e-13)


def test_same_padding_puts_the_extra_row_at_the_bottom():
    assert core.same_padding((4, 3)) == ((1, 2), (1, 1))
    assert core.same_padding((1, 2)) == ((0, 0), (0, 1))


@pytest.mark.parity
def test_flatten_and_scale_match_smash(smash_layers, x64):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(27, 14, 24))
    np.testing.assert_array_equal(core.flatten(jnp.asarray(x)), smash_layers.Flatten()._forward_pass(x))
    assert core.flatten(jnp.asarray(x)).shape == (378, 24)

    bounds = np.array([(1e-6, 1000.0), (-50, 50), (0, 1)])
    y = np.tanh(rng.normal(size=(10, 3)))
    expected = smash_layers.MinMaxScale(bounds, (-1, 1))(y)
    ours = core.scale(jnp.asarray(y), tuple(bounds[:, 0]), tuple(bounds[:, 1]), (-1.0, 1.0))
    np.testing.assert_allclose(ours, expected, rtol=1e-14)


def test_scale_keeps_the_input_dtype():
    y = core.scale(jnp.zeros(3, jnp.float32), (0.0, 1.0, 2.0), (1.0, 2.0, 3.0), (-1.0, 1.0))
    assert y.dtype == jnp.float32
    np.testing.assert_allclose(y, [0.5, 1.5, 2.5])


def _small_spec_and_params(seed: int, dtype=jnp.float64):
    spec = (
        core.Conv2D(3, (2, 3)),
        core.Activation("tanh"),
        core.Flatten(),
        core.Dense(4),
        core.Activation("selu"),
        core.Dropout(0.25),
        core.Dense(2),
        core.Activation("sigmoid"),
        core.Scale((0.0, -5.0), (10.0, 5.0), (0.0, 1.0)),
    )
    shapes = core.param_shapes(spec, (4, 5, 2))
    rng = np.random.default_rng(seed)
    params = tuple(
        None if s is None else {k: jnp.asarray(rng.normal(0, 0.5, v), dtype) for k, v in s.items()} for s in shapes
    )
    return spec, params


def test_shapes_of_a_network():
    spec, _ = _small_spec_and_params(0, jnp.float32)
    assert core.output_shape(spec, (4, 5, 2)) == (20, 2)
    shapes = core.param_shapes(spec, (4, 5, 2))
    assert shapes[0] == {"weight": (3, 2 * 2 * 3), "bias": (3,)}
    assert shapes[3] == {"weight": (4, 3), "bias": (4,)}
    assert shapes[1] is None and len(shapes) == len(spec)


def test_spec_is_hashable_and_jit_matches_eager(x64):
    spec, params = _small_spec_and_params(1)
    assert hash(spec) == hash(_small_spec_and_params(2)[0])
    x = jnp.asarray(np.random.default_rng(0).normal(size=(4, 5, 2)))
    np.testing.assert_allclose(core.forward_jit(spec, params, x), core.forward(spec, params, x), rtol=1e-13)


def test_vmap_over_samples_equals_batched_dense_input(x64):
    rng = np.random.default_rng(6)
    spec = (core.Dense(5), core.Activation("relu"), core.Dense(3), core.Activation("softmax"))
    shapes = core.param_shapes(spec, (4,))
    params = tuple(None if s is None else {k: jnp.asarray(rng.normal(size=v)) for k, v in s.items()} for s in shapes)
    xs = jnp.asarray(rng.normal(size=(8, 4)))
    batched = core.forward(spec, params, xs)
    mapped = jax.vmap(lambda x: core.forward(spec, params, x))(xs)
    np.testing.assert_allclose(mapped, batched, rtol=1e-13)
    np.testing.assert_allclose(batched.sum(axis=-1), 1.0, rtol=1e-13)


def test_dropout_is_keyed_and_training_only(x64):
    spec = (core.Dense(2000), core.Dropout(0.3))
    params = ({"weight": jnp.ones((2000, 1)), "bias": jnp.zeros(2000)}, None)
    x = jnp.ones(1)
    np.testing.assert_array_equal(core.forward(spec, params, x), np.ones(2000))
    key = jax.random.key(0)
    a = core.forward(spec, params, x, train=True, key=key)
    b = core.forward(spec, params, x, train=True, key=key)
    c = core.forward(spec, params, x, train=True, key=jax.random.key(1))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_allclose(np.unique(np.asarray(a)), [0.0, 1 / 0.7], rtol=1e-15)
    assert 0.25 < float(jnp.mean(a == 0)) < 0.35
    with pytest.raises(ValueError, match="key"):
        core.forward(spec, params, x, train=True)
    np.testing.assert_array_equal(core.dropout(x, 0.0, key), x)


def test_forward_checks_params_length():
    spec, params = _small_spec_and_params(0, jnp.float32)
    with pytest.raises(ValueError, match="one entry per layer"):
        core.forward(spec, params[:-1], jnp.zeros((4, 5, 2)))


def test_combine_takes_first_non_none_entry():
    a = ({"weight": 1}, None, None)
    b = ({"weight": 2}, None, {"weight": 3})
    assert core.combine(a, b) == ({"weight": 1}, None, {"weight": 3})
    with pytest.raises(ValueError, match="lengths"):
        core.combine(a, b[:2])


def test_gradient_matches_central_differences(x64):
    spec, params = _small_spec_and_params(7)
    x = jnp.asarray(np.random.default_rng(8).normal(size=(4, 5, 2)))
    weights = jnp.asarray(np.random.default_rng(9).normal(size=(20, 2)))
    key = jax.random.key(3)

    @jax.jit
    def loss(p):
        return jnp.sum(weights * core.forward(spec, p, x, train=True, key=key))

    grad = jax.grad(loss)(params)
    flat, unravel = ravel_pytree(params)
    flat_grad, _ = ravel_pytree(grad)
    assert np.all(np.isfinite(flat_grad)) and np.any(flat_grad != 0)
    eps = 1e-6
    basis = np.eye(flat.size)
    fd = np.array([(loss(unravel(flat + eps * e)) - loss(unravel(flat - eps * e))) / (2 * eps) for e in basis])
    np.testing.assert_allclose(flat_grad, fd, rtol=1e-6, atol=1e-8)
