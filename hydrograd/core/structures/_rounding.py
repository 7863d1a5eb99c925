"""smash's single-precision arithmetic, operation for operation, for float32 models, on request.

smash's Fortran core computes in float32 and calls the C library for ``tanh`` and real powers
(glibc's ``tanhf``, from fdlibm, and ``powf``); its library is built for CPUs with fused
multiply-add, and its compiler fuses a product into a sum within an operator's subroutine. XLA
evaluates ``tanh`` by its own approximation and powers as ``exp(y log x)``, and fuses products into
sums wherever it sees them: results within float32 rounding of smash's, which over a 1,440-step series
leaves stores' levels a few units in the last place apart (up to a few 1e-6 of a filling ratio).

With the ``"smash"`` arithmetic (``HYDROGRAD_FLOAT32=smash``, see ``hydrograd._process``)
the structures compute float32 as smash does, through the functions here: glibc's results for
``tanh`` and powers, smash's fusions and roundings; their states and fluxes then equal smash's bit
for bit (Cance, 1,440 steps: gr4, gr4_ri, gr5, gr5_ri, gr6, grc, grd, loieau, vic3l), at a higher
cost per float32 time step (``benchmarks/RESULTS.md``, "Fourteenth session"). ``"native"`` (the
default) leaves XLA's arithmetic. Float64 models never emulate float32's roundings.

smash's hybrid structures evaluate their networks' SiLU with glibc's vector ``exp`` (libmvec), which
is not emulated here: their networks' outputs, and so their states, stay within rounding of smash's.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from hydrograd._process import float32_arithmetic, traced_for_accelerator
from hydrograd.core.structures._common import stored

Array = jnp.ndarray

_F32 = np.float32
_LOWEST = _F32(-np.finfo(np.float32).max)


def smash_arithmetic(x: Array) -> bool:
    """Whether ``x`` is computed as smash computes it: float32 under the ``"smash"`` arithmetic
    (:func:`hydrograd._process.float32_arithmetic`). A ``ValueError`` in a program traced for an
    accelerator: a GPU rounds the emulated ``tanh`` and divisions its own way (most likely by
    contracting products into sums), so smash's bits are out of reach there
    (``benchmarks/RESULTS.md``, "Fifteenth session")."""
    if float32_arithmetic() != "smash" or jnp.asarray(x).dtype != jnp.float32:
        return False
    if traced_for_accelerator():
        raise ValueError(
            f"HYDROGRAD_FLOAT32=smash reproduces smash's float32 arithmetic on the CPU only, and this program "
            f"runs on the {jax.default_backend()!r} backend, which rounds tanh and divisions its own way: "
            "run it with JAX_PLATFORMS=cpu, or without HYDROGRAD_FLOAT32"
        )
    return True


def powf(x: Array, exponent: Array | float) -> Array:
    """``x ** exponent`` for float32 ``x >= 0``: glibc's ``powf`` (the algorithm of glibc 2.28 on,
    which smash's Fortran calls), bit for bit but for subnormal results (XLA flushes them to 0).

    glibc computes ``log2 x`` in float64 from a 16-entry table and a polynomial, multiplies it by the
    exponent, and takes ``2^`` of that from a 32-entry table and a cubic, rounding to float32 once:
    within 0.82 units in the last place, correctly rounded in all but about one case in 1,500, which
    over a 1,440-step series moves the stores' levels by a few units. The products and sums here are
    glibc's (XLA fuses them into the same multiply-adds as glibc's build for CPUs with them). ``0``
    gives 0, 1 or infinity as the exponent is positive, zero or negative, as glibc. The derivative is
    the power law's. Otherwise (the native arithmetic, other precisions) ``x ** exponent``.
    """
    if not smash_arithmetic(x):
        return x**exponent
    return _glibc_powf(x, jnp.broadcast_to(jnp.asarray(exponent, jnp.float32), jnp.shape(x)))


@jax.custom_jvp
def _glibc_powf(x: Array, exponent: Array) -> Array:
    with jax.enable_x64(True):
        bits = jax.lax.bitcast_convert_type(x, jnp.uint32)
        offset = bits - jnp.uint32(0x3F330000)
        top = offset & jnp.uint32(0xFF800000)
        scaled = jax.lax.bitcast_convert_type(bits - top, jnp.float32).astype(jnp.float64)
        k = (jax.lax.bitcast_convert_type(top, jnp.int32) >> 23).astype(jnp.float64)
        row = (offset >> 19) % 16
        r = scaled * _table(_LOG2_INV_C, row) - 1.0
        y0 = _table(_LOG2_LOG_C, row) + k
        r2 = r * r
        y = _LOG2_POLY[0] * r + _LOG2_POLY[1]
        p = _LOG2_POLY[2] * r + _LOG2_POLY[3]
        r4 = r2 * r2
        q = _LOG2_POLY[4] * r + y0
        q = p * r2 + q
        log2_x = y * r4 + q
        y_log2_x = exponent.astype(jnp.float64) * log2_x
        y = _exp2(y_log2_x, _EXP2_SHIFT, _EXP2_POLY)
        y = jnp.where(y_log2_x > _OVERFLOW, jnp.inf, jnp.where(y_log2_x <= -150.0, 0.0, y))
        power = y.astype(jnp.float32)
    positive_exponent = exponent > 0.0
    at_zero = jnp.where(positive_exponent, _F32(0.0), jnp.where(exponent < 0.0, _F32(np.inf), _F32(1.0)))
    at_infinity = jnp.where(positive_exponent, _F32(np.inf), jnp.where(exponent < 0.0, _F32(0.0), _F32(1.0)))
    power = jnp.where(x == 0.0, at_zero, jnp.where(x == np.inf, at_infinity, power))
    return jnp.where(exponent == 0.0, _F32(1.0), jnp.where(jnp.isnan(x) | (x < 0.0), _F32(np.nan), power))


@_glibc_powf.defjvp
def _glibc_powf_jvp(primals: tuple[Array, Array], tangents: tuple[Array, Array]) -> tuple[Array, Array]:
    (x, exponent), (dx, d_exponent) = primals, tangents
    power = _glibc_powf(x, exponent)
    positive = x > 0.0
    safe_x = jnp.where(positive, x, 1.0)
    d_power = jnp.where(positive, power * (exponent / safe_x * dx + jnp.log(safe_x) * d_exponent), 0.0)
    return power, d_power


def expf(x: Array) -> Array:
    """``exp(x)`` as smash's Fortran gets it from glibc's ``expf`` (2.27 on): ``x N / ln 2`` split
    into an integer ``k`` and ``r`` in float64, ``2^(k/N)`` from :func:`powf`'s 32-entry table and a
    cubic in ``r``, rounded to float32 once; bit for bit but for subnormal results. Otherwise
    ``jnp.exp``."""
    if not smash_arithmetic(x):
        return jnp.exp(x)
    return _glibc_expf(x)


@jax.custom_jvp
def _glibc_expf(x: Array) -> Array:
    with jax.enable_x64(True):
        y = _exp2(_EXPF_INV_LN2_N * x.astype(jnp.float64), _EXPF_SHIFT, _EXPF_POLY).astype(jnp.float32)
    y = jnp.where(x > _F32(float.fromhex("0x1.62e42ep6")), _F32(np.inf), y)
    return jnp.where(x < _F32(float.fromhex("-0x1.9fe368p6")), _F32(0.0), jnp.where(jnp.isnan(x), x, y))


@_glibc_expf.defjvp
def _glibc_expf_jvp(primals: tuple[Array], tangents: tuple[Array]) -> tuple[Array, Array]:
    y = _glibc_expf(primals[0])
    return y, y * tangents[0]


def logf(x: Array) -> Array:
    """``log(x)`` as smash's Fortran gets it from glibc's ``logf`` (2.27 on): ``x = 2^k z``, ``log z``
    from a 16-entry table of ``1/c`` and ``log c`` and a cubic in ``z/c - 1``, in float64, rounded to
    float32 once; bit for bit for positive normal ``x`` (0 gives ``-inf``, negatives NaN). Otherwise
    ``jnp.log``."""
    if not smash_arithmetic(x):
        return jnp.log(x)
    return _glibc_logf(x)


@jax.custom_jvp
def _glibc_logf(x: Array) -> Array:
    with jax.enable_x64(True):
        bits = jax.lax.bitcast_convert_type(x, jnp.uint32)
        offset = bits - jnp.uint32(0x3F330000)
        row = (offset >> 19) % 16
        k = (jax.lax.bitcast_convert_type(offset, jnp.int32) >> 23).astype(jnp.float64)
        z = jax.lax.bitcast_convert_type(bits - (offset & jnp.uint32(0x1FF << 23)), jnp.float32).astype(jnp.float64)
        r = z * _table(_LOG2_INV_C, row) - 1.0
        y0 = _table(_LOGF_LOG_C, row) + k * _LN2
        r2 = r * r
        y = _LOGF_POLY[0] * r2 + (_LOGF_POLY[1] * r + _LOGF_POLY[2])
        y = (y * r2 + (y0 + r)).astype(jnp.float32)
    y = jnp.where(x == 1.0, _F32(0.0), y)
    return jnp.where(x == 0.0, _F32(-np.inf), jnp.where(x == np.inf, x, jnp.where(x > 0.0, y, _F32(np.nan))))


@_glibc_logf.defjvp
def _glibc_logf_jvp(primals: tuple[Array], tangents: tuple[Array]) -> tuple[Array, Array]:
    (x,), (dx,) = primals, tangents
    return _glibc_logf(x), dx / x


def _table(values: np.ndarray, row: Array) -> Array:
    """``values[row]`` for a row known to be in range (no bounds handling: a quarter of the cost)."""
    return jnp.asarray(values).at[row].get(mode="promise_in_bounds")


def _exp2(z: Array, shift: float, poly: tuple[float, float, float]) -> Array:
    """glibc's float64 ``2^z`` of ``powf`` (``z`` in log2 units, ``shift`` 1.5 2^52 / 32) and of ``expf``
    (``z`` in 1/32 units, ``shift`` 1.5 2^52, ``poly`` scaled): ``z`` rounded to its grid by adding
    ``shift``, ``2^(k/32)`` from the 32-entry table with ``k`` in its exponent, a cubic in the rest."""
    shifted = stored(z + shift)
    ki = jax.lax.bitcast_convert_type(shifted, jnp.uint64)
    r = z - (shifted - shift)
    s = jax.lax.bitcast_convert_type(_table(_EXP2_TABLE, ki % 32) + (ki << 47), jnp.float64)
    return ((poly[0] * r + poly[1]) * (r * r) + (poly[2] * r + 1.0)) * s


def _hexes(text: str) -> np.ndarray:
    """Whitespace-separated C hexadecimal floats (``0x1.8p+52``) as a float64 array."""
    return np.array([float.fromhex(v) for v in text.split()])


def _words(text: str) -> np.ndarray:
    """Whitespace-separated hexadecimal 64-bit words as a uint64 array."""
    return np.array([int(v, 16) for v in text.split()], np.uint64)


# glibc's powf tables (sysdeps/ieee754/flt-32/e_powf_log2_data.c, e_exp2f_data.c): for each of 16
# subintervals of [0x3f330000, 2 x 0x3f330000), 1/c and log2(c) of a point c near its centre; the
# log2(1 + r) polynomial; 2^(i/32) as float64 bits less i << 47; the 2^r cubic.
_LOG2_INV_C = _hexes("""
    0x1.661ec79f8f3bep+0 0x1.571ed4aaf883dp+0 0x1.49539f0f010bp+0 0x1.3c995b0b80385p+0
    0x1.30d190c8864a5p+0 0x1.25e227b0b8eap+0 0x1.1bb4a4a1a343fp+0 0x1.12358f08ae5bap+0
    0x1.0953f419900a7p+0 0x1p+0 0x1.e608cfd9a47acp-1 0x1.ca4b31f026aap-1
    0x1.b2036576afce6p-1 0x1.9c2d163a1aa2dp-1 0x1.886e6037841edp-1 0x1.767dcf5534862p-1
""")
_LOG2_LOG_C = _hexes("""
    -0x1.efec65b963019p-2 -0x1.b0b6832d4fca4p-2 -0x1.7418b0a1fb77bp-2 -0x1.39de91a6dcf7bp-2
    -0x1.01d9bf3f2b631p-2 -0x1.97c1d1b3b7afp-3 -0x1.2f9e393af3c9fp-3 -0x1.960cbbf788d5cp-4
    -0x1.a6f9db6475fcep-5 0x0p+0 0x1.338ca9f24f53dp-4 0x1.476a9543891bap-3
    0x1.e840b4ac4e4d2p-3 0x1.40645f0c6651cp-2 0x1.88e9c2c1b9ff8p-2 0x1.ce0a44eb17bccp-2
""")
_LOG2_POLY = tuple(
    _hexes("0x1.27616c9496e0bp-2 -0x1.71969a075c67ap-2 0x1.ec70a6ca7baddp-2 -0x1.7154748bef6c8p-1 0x1.71547652ab82bp0")
)
_EXP2_TABLE = _words("""
    3ff0000000000000 3fefd9b0d3158574 3fefb5586cf9890f 3fef9301d0125b51 3fef72b83c7d517b 3fef54873168b9aa
    3fef387a6e756238 3fef1e9df51fdee1 3fef06fe0a31b715 3feef1a7373aa9cb 3feedea64c123422 3feece086061892d
    3feebfdad5362a27 3feeb42b569d4f82 3feeab07dd485429 3feea47eb03a5585 3feea09e667f3bcd 3fee9f75e8ec5f74
    3feea11473eb0187 3feea589994cce13 3feeace5422aa0db 3feeb737b0cdc5e5 3feec49182a3f090 3feed503b23e255d
    3feee89f995ad3ad 3feeff76f2fb5e47 3fef199bdd85529c 3fef3720dcef9069 3fef5818dcfba487 3fef7c97337b9b5f
    3fefa4afa2a490da 3fefd0765b6e4540
    """)
_EXP2_POLY = tuple(_hexes("0x1.c6af84b912394p-5 0x1.ebfce50fac4f3p-3 0x1.62e42ff0c52d6p-1"))
_EXP2_SHIFT = float.fromhex("0x1.8p+52") / 32
_OVERFLOW = float.fromhex("0x1.fffffffd1d571p+6")
# expf: x 32 / ln 2 split by the unscaled shift, and the cubic's coefficients scaled by 32^-3, 32^-2, 32^-1.
_EXPF_INV_LN2_N = float.fromhex("0x1.71547652b82fep+0") * 32
_EXPF_SHIFT = float.fromhex("0x1.8p+52")
_EXPF_POLY = (_EXP2_POLY[0] / 32**3, _EXP2_POLY[1] / 32**2, _EXP2_POLY[2] / 32)
# logf (sysdeps/ieee754/flt-32/e_logf_data.c): the same 1/c as powf's log2, log c in nats, ln 2, the cubic.
_LOGF_LOG_C = _hexes("""
    -0x1.57bf7808caadep-2 -0x1.2bef0a7c06ddbp-2 -0x1.01eae7f513a67p-2 -0x1.b31d8a68224e9p-3
    -0x1.6574f0ac07758p-3 -0x1.1aa2bc79c81p-3 -0x1.a4e76ce8c0e5ep-4 -0x1.1973c5a611cccp-4
    -0x1.252f438e10c1ep-5 0x0p+0 0x1.aa5aa5df25984p-5 0x1.c5e53aa362eb4p-4
    0x1.526e57720db08p-3 0x1.bc2860d22477p-3 0x1.1058bc8a07ee1p-2 0x1.4043057b6ee09p-2
""")
_LN2 = float.fromhex("0x1.62e42fefa39efp-1")
_LOGF_POLY = tuple(_hexes("-0x1.00ea348b88334p-2 0x1.5575b0be00b6ap-2 -0x1.ffffef20a4123p-2"))


def powi(x: Array, n: int) -> Array:
    """``x ** n`` for a constant integer ``n >= 1`` by libgcc's ``__powisf2``, which smash's Fortran
    calls for an integer power with a variable exponent: repeated squaring, the odd powers gathered
    in the order that algorithm takes them (``x^5 = x (x^2)^2``), each product rounded as it goes."""
    result = x if n % 2 else None
    n >>= 1
    while n:
        x = x * x
        if n % 2:
            result = x if result is None else result * x
        n >>= 1
    return result


def settled(product: Array) -> Array:
    """``product`` as smash's operators hand it on (smash's arithmetic): rounded on its own, so that XLA does not
    fuse it into the sum it enters next (smash computes each operator's outputs in a subroutine of
    their own, and its compiler fuses products into sums only within one). Otherwise: itself.
    """
    return _rounded(product) if smash_arithmetic(product) else product


def fused(a: Array | float, b: Array | float, c: Array | float) -> Array:
    """``a b + c`` with one rounding, as smash's build computes the sums it fuses with a product
    (smash's arithmetic, float32 arrays: the exact product and the sum in float64, Python numbers
    taken as float32 first, rounded to float32 once), so that the result does not depend on where
    XLA chooses to fuse. Otherwise ``a * b + c``."""
    arrays = [v for v in (a, b, c) if not isinstance(v, (int, float))]
    if not arrays or not all(smash_arithmetic(v) for v in arrays):
        return a * b + c
    with jax.enable_x64(True):
        wide = [jnp.asarray(v, jnp.float32).astype(jnp.float64) for v in (a, b, c)]
        return (wide[0] * wide[1] + wide[2]).astype(jnp.float32)


def divide(x: Array, constant: float) -> Array:
    """``x / constant`` rounded as a division (smash's arithmetic): XLA replaces a division by a constant with a
    product by its rounded reciprocal, a unit in the last place away at times; a divisor it cannot
    see as constant (``constant`` wherever ``x`` is a number) keeps the division. Otherwise
    ``x / constant``."""
    if not smash_arithmetic(x):
        return x / constant
    return x / jnp.where(x == x, _F32(constant), x)


def _rounded(product: Array) -> Array:
    """``product`` rounded on its own before it enters a sum, as glibc's generic ``expm1f`` (built
    without fused multiply-add) rounds it: a maximum with the lowest finite float is the identity on
    it, and XLA cannot fuse through it."""
    return jnp.maximum(product, _LOWEST)


def _bits(x: Array) -> Array:
    return jax.lax.bitcast_convert_type(x, jnp.int32)


def _from_bits(i: Array) -> Array:
    return jax.lax.bitcast_convert_type(i, jnp.float32)


_LN2_HI = _F32(6.9313812256e-01)
_LN2_LO = _F32(9.0580006145e-06)
_INV_LN2 = _F32(1.4426950216e00)
_EXPM1_Q = tuple(
    _F32(q) for q in (-3.3333335072e-02, 1.5873016091e-03, -7.9365076090e-05, 4.0082177293e-06, -2.0109921195e-07)
)


def _expm1f(x: Array) -> Array:
    """fdlibm's single-precision ``exp(x) - 1`` (glibc's ``expm1f`` before its correctly rounded one), for ``|x| < 64``.

    Argument reduction ``x = k ln2 + r`` (``ln2`` in two parts), a rational approximation on
    ``|r| <= ln2 / 2`` with five coefficients, and reconstruction by ``k`` in the exponent, each
    step rounded as the C code rounds it. Every branch is computed and the one for each ``k`` kept.
    """
    negative = x < 0
    word = _bits(jnp.abs(x))
    reduce = word > 0x3EB17218  # |x| > ln2 / 2
    near = word < 0x3F851592  # |x| < 3 ln2 / 2
    k_far = (_rounded(_INV_LN2 * x) + jnp.where(negative, _F32(-0.5), _F32(0.5))).astype(jnp.int32)
    k = jnp.where(reduce, jnp.where(near, jnp.where(negative, -1, 1), k_far), 0)
    t = k.astype(jnp.float32)
    hi = jnp.where(near, x - jnp.where(negative, -_LN2_HI, _LN2_HI), x - _rounded(t * _LN2_HI))
    lo = jnp.where(near, jnp.where(negative, -_LN2_LO, _LN2_LO), t * _LN2_LO)
    r = hi - lo
    c = jnp.where(reduce, (hi - r) - lo, _F32(0.0))
    r = jnp.where(reduce, r, x)
    hfx = _F32(0.5) * r
    hxs = r * hfx
    poly = _rounded(hxs * _EXPM1_Q[4])
    for q in reversed(_EXPM1_Q[:4]):
        poly = _rounded(hxs * (q + poly))
    r1 = _F32(1.0) + poly
    t3 = _F32(3.0) - _rounded(r1 * hfx)
    e = hxs * ((r1 - t3) / (_F32(6.0) - _rounded(r * t3)))
    direct = r - (_rounded(r * e) - hxs)
    e = (_rounded(r * (e - c)) - c) - hxs
    minus_one = _F32(0.5) * (r - e) - _F32(0.5)
    plus_one = jnp.where(r < _F32(-0.25), _F32(-2.0) * (e - (r + _F32(0.5))), _F32(1.0) + _F32(2.0) * (r - e))
    shift = k << 23
    far = _from_bits(_bits(_F32(1.0) - (e - r)) + shift) - _F32(1.0)
    middle = _from_bits(_bits(_from_bits(0x3F800000 - (0x1000000 >> jnp.clip(k, 0, 22))) - (e - r)) + shift)
    high = _from_bits(_bits((r - (e + _from_bits((0x7F - k) << 23))) + _F32(1.0)) + shift)
    y = jnp.where(
        k == 0,
        direct,
        jnp.where(
            k == -1,
            minus_one,
            jnp.where(k == 1, plus_one, jnp.where((k <= -2) | (k > 56), far, jnp.where(k < 23, middle, high))),
        ),
    )
    return jnp.where(word < 0x33000000, x, y)  # |x| < 2^-25: x itself


def tanh(x: Array) -> Array:
    """``tanh(x)``: under smash's arithmetic fdlibm's ``tanhf`` (glibc's before its correctly rounded
    one; Debian 12's 2.36 among them), which smash's Fortran calls, bit for bit through
    :func:`_expm1f` (subnormal results aside: XLA flushes them to zero); otherwise ``jnp.tanh``. The
    derivative is ``1 - tanh(x)^2``."""
    if not smash_arithmetic(x):
        return jnp.tanh(x)
    return _fdlibm_tanh(x)


@jax.custom_jvp
def _fdlibm_tanh(x: Array) -> Array:
    ax = jnp.abs(x)
    word = _bits(ax)
    large = word >= 0x3F800000  # |x| >= 1
    t = _expm1f(jnp.where(large, _F32(2.0) * ax, _F32(-2.0) * ax))
    z = jnp.where(large, _F32(1.0) - _F32(2.0) / (t + _F32(2.0)), -t / (t + _F32(2.0)))
    z = jnp.where(word < 0x24000000, ax * (_F32(1.0) + ax), z)  # |x| < 2^-55
    z = jnp.where(word >= 0x41B00000, _F32(1.0), z)  # |x| >= 22
    return jnp.where(x < 0, -z, jnp.where(jnp.isnan(x), x, z))


@_fdlibm_tanh.defjvp
def _fdlibm_tanh_jvp(primals: tuple[Array], tangents: tuple[Array]) -> tuple[Array, Array]:
    z = _fdlibm_tanh(primals[0])
    return z, (1.0 - z * z) * tangents[0]
