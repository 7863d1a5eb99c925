"""smash's float32 arithmetic (``HYDROGRAD_FLOAT32=smash``): glibc's tanhf and powf, smash's fused
multiply-adds and roundings, true divisions; XLA's own arithmetic otherwise."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hydrograd.core.structures._common import stored
from hydrograd.core.structures._rounding import divide, expf, fused, logf, powf, settled, smash_arithmetic, tanh
from tests._float32 import libm_function, vectorized

# glibc 2.36's tanhf (fdlibm's algorithm, which smash's Fortran calls on Debian 12), recorded on inputs
# where it differs from both the correctly rounded value and XLA's tanh; one per branch of its expm1f.
GLIBC_TANHF = [
    (0.0004452969296835363, 0.0004452969296835363),
    (2.982833535725149e-08, 2.982833890996517e-08),
    (0.0026326521765440702, 0.0026326458901166916),
    (0.22253815829753876, 0.21893587708473206),
    (0.4486069083213806, 0.42075324058532715),
    (0.3878428339958191, 0.3694990873336792),
    (0.9547469019889832, 0.7419245839118958),
    (0.831494927406311, 0.6812778115272522),
    (1.0068745613098145, 0.7644661664962769),
    (1.099945306777954, 0.8004794120788574),
    (1.144789695739746, 0.8160206079483032),
]


def test_tanh_gives_glibc_fdlibm_values(smash_float32):
    x, expected = (np.array(column, np.float32) for column in zip(*GLIBC_TANHF, strict=True))
    np.testing.assert_array_equal(np.asarray(jax.jit(lambda v: tanh(v))(x)), expected)
    np.testing.assert_array_equal(np.asarray(jax.jit(lambda v: tanh(v))(-x)), -expected)


def test_tanh_is_this_machine_tanhf_bit_for_bit(smash_float32):
    """Over every branch of the algorithm (``|x|`` from 1e-30 to 30, both signs, 0, infinities, NaN)."""
    tanhf = libm_function("tanhf", 1)
    probe, fdlibm = GLIBC_TANHF[3]
    if np.float32(tanhf(probe)) != np.float32(fdlibm):
        pytest.skip("this machine's tanhf is not fdlibm's (a newer glibc rounds it correctly)")
    rng = np.random.default_rng(0)
    x = np.concatenate(
        [rng.uniform(0.0, 1.0, 40000), rng.uniform(1.0, 30.0, 20000), 10.0 ** rng.uniform(-30.0, 0.0, 20000)]
    ).astype(np.float32)
    x = np.concatenate([x, -x, np.array([0.0, 22.0, np.inf, -np.inf, np.nan], np.float32)])
    expected = vectorized("tanhf", 1)(x)
    np.testing.assert_array_equal(np.asarray(jax.jit(lambda v: tanh(v))(x)), expected)


def test_tanh_derivative_is_one_minus_its_square(smash_float32):
    x = jnp.asarray(np.linspace(-3.0, 3.0, 13), jnp.float32)
    grad = jax.vmap(jax.grad(lambda v: tanh(v)))(x)
    np.testing.assert_allclose(grad, 1.0 - np.tanh(np.asarray(x, np.float64)) ** 2, rtol=1e-6, atol=1e-6)


def test_tanh_in_float64_is_jax_tanh(float64):
    wide = jnp.asarray(np.linspace(-3.0, 3.0, 13))
    np.testing.assert_array_equal(tanh(wide), jnp.tanh(wide))


@pytest.mark.parametrize("exponent", [-4.0, -3.0, -0.25, 3.5, float(np.float32(-1.0 / 3.0))])
def test_powf_is_glibc_powf_bit_for_bit(smash_float32, exponent):
    rng = np.random.default_rng(1)
    x = (10.0 ** rng.uniform(-6.0, 6.0, 20000)).astype(np.float32)
    x = np.concatenate([x, np.array([0.0, 1.0, np.inf], np.float32)])
    got = np.asarray(jax.jit(lambda v: powf(v, exponent))(x))
    np.testing.assert_array_equal(got, vectorized("powf", 2)(x, exponent))
    # glibc's is not correctly rounded everywhere, which is why it is emulated and not taken from float64
    assert 0 < np.mean(got[:-3] != (x[:-3].astype(np.float64) ** exponent).astype(np.float32)) < 3e-3


def test_powf_with_an_array_exponent_and_its_derivative(smash_float32):
    rng = np.random.default_rng(6)
    x = rng.uniform(0.0, 1.0, 5000).astype(np.float32)
    y = rng.uniform(0.05, 5.0, x.size).astype(np.float32)
    got = np.asarray(jax.jit(lambda a, b: powf(a, b))(x, y))
    expected = vectorized("powf", 2)(x, y)
    np.testing.assert_array_equal(got, expected)
    dx, dy = jax.grad(lambda a, b: powf(a, b), argnums=(0, 1))(np.float32(0.7), np.float32(2.5))
    np.testing.assert_allclose([dx, dy], [2.5 * 0.7**1.5, 0.7**2.5 * np.log(0.7)], rtol=1e-6)


def test_divide_by_a_constant_is_a_true_division(smash_float32):
    """XLA would multiply by the rounded reciprocal (about a third of these quotients one unit off)."""
    x = np.random.default_rng(2).uniform(0.0, 2.0, 20000).astype(np.float32)
    beta = 4.980068683624268
    np.testing.assert_array_equal(np.asarray(jax.jit(lambda v: divide(v, beta))(x)), x / np.float32(beta))


def test_settled_product_is_rounded_before_the_sum(smash_float32):
    """``settled(a b) + c`` rounds twice, as numpy does, where XLA would fuse one multiply-add."""
    a, b, c = (np.random.default_rng(s).uniform(-1.0, 1.0, 20000).astype(np.float32) for s in (3, 4, 5))
    got = np.asarray(jax.jit(lambda a, b, c: settled(a * b) + c)(a, b, c))
    np.testing.assert_array_equal(got, a * b + c)


def test_fused_rounds_once(smash_float32):
    a, b, c = (np.random.default_rng(s).uniform(-1.0, 1.0, 20000).astype(np.float32) for s in (7, 8, 9))
    got = np.asarray(jax.jit(lambda a, b, c: fused(a, b, c))(a, b, c))
    np.testing.assert_array_equal(got, (a.astype(np.float64) * b + c).astype(np.float32))
    assert (got != a * b + c).any()


def test_native_arithmetic_is_xla_own():
    """Without ``HYDROGRAD_FLOAT32=smash`` the functions are the plain operations (float32 models as fast as before)."""
    x = jnp.asarray(np.linspace(0.1, 3.0, 50), jnp.float32)
    np.testing.assert_array_equal(tanh(x), jnp.tanh(x))
    np.testing.assert_array_equal(settled(x * x), x * x)
    np.testing.assert_array_equal(divide(x, 3.0), x / 3.0)


@pytest.mark.parametrize("name", ["expf", "logf"])
def test_exp_and_log_are_glibc_bit_for_bit(smash_float32, name):
    """gr4_ri's ``gamma``, gr6's exponential store (normal results; XLA flushes subnormal ones)."""
    rng = np.random.default_rng(10)
    if name == "expf":
        x = np.concatenate([rng.uniform(-87.0, 88.0, 20000), rng.uniform(-8.0, 8.0, 20000), [0.0, 89.0, -104.0]])
        ours = expf
    else:
        x = np.concatenate([10.0 ** rng.uniform(-37.0, 38.0, 20000), rng.uniform(0.5, 2.0, 20000), [1.0, 0.0]])
        ours = logf
    x = x.astype(np.float32)
    got = np.asarray(jax.jit(lambda v: ours(v))(x))
    np.testing.assert_array_equal(got, vectorized(name, 1)(x))


def test_smash_arithmetic_is_refused_in_programs_for_an_accelerator(smash_float32, monkeypatch):
    """On a GPU smash's bits are out of reach: tracing a float32 step there names the setting and the
    way out; float64 values, and the native arithmetic, are not concerned."""
    assert smash_arithmetic(jnp.ones(2, jnp.float32))
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    with pytest.raises(ValueError, match=r"HYDROGRAD_FLOAT32=smash .* CPU only.*'gpu'.*JAX_PLATFORMS=cpu"):
        smash_arithmetic(jnp.ones(2, jnp.float32))
    with jax.enable_x64(True):
        assert not smash_arithmetic(jnp.ones(2, jnp.float64))


@pytest.mark.parametrize(("backend", "primitive"), [("cpu", "reduce_precision"), ("gpu", "optimization_barrier")])
def test_stored_keeps_its_rounding_from_the_compiler_on_every_backend(backend, primitive, monkeypatch):
    """A rounding no compiler folds away: on an accelerator, whose compiler saw through
    ``reduce_precision``, an optimization barrier; the same values either way."""
    monkeypatch.setattr(jax, "default_backend", lambda: backend)
    shift = np.float32(1.5 * 2**23)
    z = jnp.asarray(np.random.default_rng(0).uniform(-100, 100, 64), jnp.float32)
    assert primitive in str(jax.make_jaxpr(lambda z: stored(z))(z))  # a new function: no cached trace
    rounded = jax.jit(lambda z: stored(z + shift) - shift)(z)
    np.testing.assert_array_equal(rounded, np.rint(np.asarray(z)))
