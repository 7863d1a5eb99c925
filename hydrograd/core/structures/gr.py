"""GR-family hydrological operators (Génie Rural, INRAE) and the structures built from them.

Every array is 1-D over the active cells (length ``nac``); depths are in mm per time step and
stores are held as filling ratios in [0, 1] of their capacity, as in smash:

- ``ci``, ``cp``, ``ct``: interception, production and transfer store capacities (mm);
- ``cl``: capacity of ``grc``'s slow transfer store (mm); ``be``: recession scale of ``gr6``'s
  exponential store (mm), whose level ``he`` (mm, unbounded) is held as a depth, not a ratio;
- ``ca``, ``cc``, ``kb``: ``loieau``'s soil and routing store capacities (mm) and its runoff
  multiplier (-);
- ``kexc``: groundwater exchange coefficient (mm/dt; positive brings water in); ``aexc``: filling
  ratio of the transfer store at which the exchange of ``gr5``/``gr6`` changes sign (-);
- ``alpha1`` (dt/mm), ``alpha2`` (dt/mm): rain-intensity coefficients of the ``*_ri`` structures;
- ``hi``, ``hp``, ``ht``, ``hl``, ``ha``, ``hc``: filling ratios of those stores (-);
- ``pn``, ``en``: neutralised rainfall and evapotranspiration (mm/dt).

A structure's step is ``(params, states, inputs, flux_correction=None) -> (new_states, fluxes)``.
Where smash's hybrid ``*_mlp`` variant runs its network, the step calls ``flux_correction`` on
the features that network sees (``(n_in, nac)``, one row per feature in smash's order) and uses its outputs
(``(n_out, nac)``, each in (-1, 1)) to rescale fluxes; ``None`` (or a network returning zeros)
gives the conceptual structure. Where rainfall or evapotranspiration is missing the corrections
are zero, as in smash.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from hydrograd.core.structures._common import HydroInputs, guarded_ratio, stored
from hydrograd.core.structures._rounding import divide, expf, fused, logf, powf, settled, smash_arithmetic, tanh

Array = jnp.ndarray
FluxCorrection = Callable[[Array], Array]
StepOutput = tuple[dict[str, Array], dict[str, Array]]

# Percolation scale of the structures whose percolation does not depend on the time step.
FIXED_PERCOLATION_BETA = 1000.0


def percolation_beta(dt: float) -> float:
    """Percolation scale of the production store, which depends on the time step ``dt`` (s)."""
    return (9.0 / 4.0) * (86400.0 / dt) ** 0.25


def interception(prcp: Array, pet: Array, ci: Array, hi: Array) -> tuple[Array, Array, Array]:
    """Interception store: returns ``(pn, en, hi_new)``."""
    ei = jnp.minimum(pet, prcp + hi * ci)
    pn = jnp.maximum(0.0, prcp - ci * (1.0 - hi) - ei)
    en = pet - ei
    hi_new = hi + (prcp - ei - pn) / ci
    return pn, en, hi_new


def direct_interception(prcp: Array, pet: Array) -> tuple[Array, Array, Array]:
    """Interception without a store (``grd``, ``loieau``): returns ``(ei, pn, en)``.

    Evapotranspiration ``ei = min(pet, prcp)`` takes what it can from the rainfall of the step.
    """
    ei = jnp.minimum(pet, prcp)
    return ei, jnp.maximum(0.0, prcp - ei), pet - ei


@partial(jax.custom_jvp, nondiff_argnums=(2,))
def percolation(hp_imd: Array, cp: Array, beta: float) -> Array:
    """Percolation from the production store, ``perc = hp cp (1 - (1 + (hp / beta)^4)^(-1/4))`` (mm/dt).

    ``hp_imd`` (-) is the store's filling ratio, ``cp`` (mm) its capacity, ``beta`` (-) the scale.
    In float32, for a nearly empty store (see :data:`_QUANTIZED_ABOVE`), computed as
    ``(hp cp) (1 - r)`` with ``r`` rounded as smash rounds it (see :func:`_rounded_release`): a
    store below about ``0.015 beta`` percolates exactly nothing, as in smash. Otherwise, and in
    other precisions, the exact law to a few units in the last place. The derivative is
    the exact law's (see :func:`_release_derivative`).

    With smash's float32 arithmetic (:func:`~hydrograd.core.structures._rounding.smash_arithmetic`)
    computed as smash computes it: ``hp / beta`` divided, its square squared and added to 1 in one
    fused multiply-add, the power by glibc's ``powf`` and ``1 - r``.
    """
    if smash_arithmetic(hp_imd):
        x2 = jnp.square(divide(hp_imd, beta))
        total = fused(x2, x2, 1.0)
        return settled((hp_imd * cp) * (1.0 - powf(total, -0.25)))
    r, drained, _, _ = _rounded_release(hp_imd / beta, 4)
    return (hp_imd * cp) * _released_share(r, drained)


@percolation.defjvp
def _percolation_jvp(beta: float, primals: tuple, tangents: tuple) -> tuple[Array, Array]:
    (hp_imd, cp), (d_hp, d_cp) = primals, tangents
    _, drained, v, u = _rounded_release(hp_imd / beta, 4)
    one_minus_r, d_release = _release_derivative(drained, v, u, 4)
    return percolation(hp_imd, cp, beta), cp * d_release * d_hp + hp_imd * one_minus_r * d_cp


def _store_evaporation(hp: Array, cp: Array, ten: Array) -> Array:
    """Evaporation of the production store, ``hp cp (2 - hp) ten / (1 + (1 - hp) ten)`` (mm/dt)."""
    return guarded_ratio(hp * cp * (2.0 - hp) * ten, 1.0 + (1.0 - hp) * ten, hp * cp * ten)


def production(
    pn: Array,
    en: Array,
    cp: Array,
    hp: Array,
    beta: float,
    imperviousness: Array,
    fq_ps: Array | float = 0.0,
    fq_es: Array | float = 0.0,
) -> dict[str, Array]:
    """Production store: infiltration ``ps``, evaporation ``es``, runoff ``pr``, percolation ``perc``.

    ``fq_ps`` and ``fq_es`` scale infiltration and evaporation by ``1 + fq`` (hybrid structures).
    The impervious fraction of a cell neither infiltrates nor evaporates. Returns the fluxes and
    the new filling ratio under key ``hp``.
    """
    if smash_arithmetic(hp):
        return _smash_production(pn, en, cp, hp, beta, imperviousness, fq_ps, fq_es)
    pn = (1.0 - imperviousness) * pn
    tpn = jnp.tanh(pn / cp)
    ten = jnp.tanh(en / cp)
    ps = guarded_ratio(cp * (1.0 - hp * hp) * tpn, 1.0 + hp * tpn, cp * (1.0 - hp) * tpn)
    ps = jnp.minimum(pn, (1.0 + fq_ps) * ps)
    es = _store_evaporation(hp, cp, ten)
    es = jnp.minimum(en, (1.0 + fq_es) * es)
    es = (1.0 - imperviousness) * es
    hp_imd = hp + (ps - es) / cp
    pr = jnp.where(pn > 0.0, pn - ps, 0.0)
    perc = percolation(hp_imd, cp, beta)
    return {"pn": pn, "ps": ps, "es": es, "pr": pr, "perc": perc, "hp": hp_imd - perc / cp}


def _smash_production(
    pn: Array,
    en: Array,
    cp: Array,
    hp: Array,
    beta: float,
    imperviousness: Array,
    fq_ps: Array | float,
    fq_es: Array | float,
) -> dict[str, Array]:
    """:func:`production` as smash's float32 build computes it: depths over the capacity as products
    by ``1 / cp``, glibc's ``tanhf``, one rounding for the sums its compiler fuses with a product
    (``1 - hp^2``, ``1 + hp tanh``, the store's new levels), two for the impervious shares of ``pn``
    and ``es``, which it does not fuse."""
    inv_cp = 1.0 / cp
    pn = settled((1.0 - imperviousness) * pn)
    tpn = tanh(pn * inv_cp)
    ten = tanh(en * inv_cp)
    ps = guarded_ratio(cp * fused(-hp, hp, 1.0) * tpn, fused(hp, tpn, 1.0), cp * (1.0 - hp) * tpn)
    ps = jnp.minimum(pn, (1.0 + fq_ps) * ps)
    es = _smash_store_evaporation(hp, cp, ten)
    es = jnp.minimum(en, (1.0 + fq_es) * es)
    es = settled((1.0 - imperviousness) * es)
    hp_imd = fused(ps - es, inv_cp, hp)
    pr = jnp.where(pn > 0.0, pn - ps, 0.0)
    perc = percolation(hp_imd, cp, beta)
    return {"pn": pn, "ps": ps, "es": es, "pr": pr, "perc": perc, "hp": fused(-perc, inv_cp, hp_imd)}


def _smash_store_evaporation(hp: Array, cp: Array, ten: Array) -> Array:
    """:func:`_store_evaporation` with smash's fused ``1 + (1 - hp) ten``."""
    return guarded_ratio(hp * cp * (2.0 - hp) * ten, fused(1.0 - hp, ten, 1.0), hp * cp * ten)


def rain_intensity_production(
    pn: Array,
    en: Array,
    cp: Array,
    hp: Array,
    beta: float,
    imperviousness: Array,
    alpha1: Array,
    dt: float,
) -> dict[str, Array]:
    """Production store of the ``*_ri`` structures, whose infiltration falls with rain intensity.

    With ``gamma = 1 - exp(-alpha1 pn)`` (computed on the rainfall before the impervious fraction
    is removed) and ``lambda = sqrt(1 - gamma)``, infiltration is
    ``ps = cp / lambda tanh(lambda pn / cp) (1 - (lambda hp)^2) / (1 + lambda hp tanh(lambda pn / cp))
    - gamma dt``; where ``pn > 0`` the runoff ``pr`` is what did not change the store,
    ``pn - (ps - es)``. As in smash 1.3.0, ``dt`` is the time step in seconds, so ``gamma dt`` can
    exceed the rainfall and make ``ps`` negative. ``gamma`` is rounded as smash rounds it
    (``1 - exp``, not ``expm1``), since ``dt`` magnifies its last digits into the store's level.
    Same keys as :func:`production`.
    """
    if smash_arithmetic(hp):
        return _smash_rain_intensity_production(pn, en, cp, hp, beta, imperviousness, alpha1, dt)
    gamma = 1.0 - jnp.exp(-alpha1 * pn)
    lam = jnp.exp(-0.5 * alpha1 * pn)
    pn = (1.0 - imperviousness) * pn
    tpn = jnp.tanh(lam * pn / cp)
    ten = jnp.tanh(en / cp)
    ps = cp / lam * tpn * (1.0 - (lam * hp) ** 2) / (1.0 + lam * hp * tpn) - gamma * dt
    es = _store_evaporation(hp, cp, ten)
    es = (1.0 - imperviousness) * es
    hp_imd = hp + (ps - es) / cp
    pr = jnp.where(pn > 0.0, pn - (hp_imd - hp) * cp, 0.0)
    perc = percolation(hp_imd, cp, beta)
    return {"pn": pn, "ps": ps, "es": es, "pr": pr, "perc": perc, "hp": hp_imd - perc / cp}


def _smash_rain_intensity_production(
    pn: Array,
    en: Array,
    cp: Array,
    hp: Array,
    beta: float,
    imperviousness: Array,
    alpha1: Array,
    dt: float,
) -> dict[str, Array]:
    """:func:`rain_intensity_production` as smash's float32 build computes it: ``gamma`` from glibc's
    ``expf``, ``lambda = sqrt(1 - gamma)``, depths over the capacity as products by ``1 / cp``, glibc's
    ``tanhf``, smash's fused multiply-adds (``1 - (lambda hp)^2``, ``1 + lambda hp tanh``,
    ``... - gamma dt``, the store's level and ``pr``)."""
    inv_cp = 1.0 / cp
    gamma = 1.0 - expf(-(pn * alpha1))
    lam = jnp.sqrt(1.0 - gamma)
    pn = settled((1.0 - imperviousness) * pn)
    tpn = tanh(pn * lam * inv_cp)
    ten = tanh(en * inv_cp)
    lam_hp = hp * lam
    ratio = cp * (1.0 / lam) * tpn * fused(-lam_hp, lam_hp, 1.0) / fused(lam_hp, tpn, 1.0)
    ps = fused(-gamma, dt, ratio)
    es = settled((1.0 - imperviousness) * _smash_store_evaporation(hp, cp, ten))
    hp_imd = fused(ps - es, inv_cp, hp)
    pr = jnp.where(pn > 0.0, fused(-(hp_imd - hp), cp, pn), 0.0)
    perc = percolation(hp_imd, cp, beta)
    return {"pn": pn, "ps": ps, "es": es, "pr": pr, "perc": perc, "hp": fused(-perc, inv_cp, hp_imd)}


def exchange(kexc: Array, ht: Array, fq_l: Array | float = 0.0) -> Array:
    """GR4 groundwater exchange ``lexc = kexc * ht^3.5`` (mm/dt), scaled by ``1 + fq_l``."""
    positive = ht > 0.0
    safe_ht = jnp.where(positive, ht, 1.0)
    if smash_arithmetic(ht):
        return settled((1.0 + fq_l) * kexc * jnp.where(positive, powf(safe_ht, 3.5), 0.0))
    return (1.0 + fq_l) * kexc * jnp.where(positive, safe_ht * safe_ht * safe_ht * jnp.sqrt(safe_ht), 0.0)


def threshold_exchange(kexc: Array, aexc: Array, ht: Array, fq_l: Array | float = 0.0) -> Array:
    """GR5 groundwater exchange ``lexc = kexc * (ht - aexc)`` (mm/dt), scaled by ``1 + fq_l``."""
    return settled((1.0 + fq_l) * kexc * (ht - aexc))


def routing_split(fq_split: Array | float = 0.0) -> tuple[Array, Array]:
    """Shares of ``pr + perc`` sent to the stores (0.9) and straight to the outlet (0.1).

    The correction ``fq`` moves water towards the direct branch: ``(0.9 (1 - fq^2), 0.1 + 0.9 fq^2)``.
    """
    squared = fq_split * fq_split
    return 0.9 * (1.0 - squared), 0.1 + 0.9 * squared


def rain_intensity_split(alpha2: Array, pn: Array) -> tuple[Array, Array]:
    """Shares of the ``*_ri`` structures: the direct one ``0.9 tanh(alpha2 pn)^2 + 0.1`` grows with ``pn``."""
    direct = fused(0.9, tanh(alpha2 * pn) ** 2, 0.1)
    return 1.0 - direct, direct


def store_split(fq_share: Array | float = 0.0) -> tuple[Array, Array]:
    """Shares of the routed water between ``gr6``/``grc``'s two stores: ``(0.6 - 0.4 fq, 0.4 (1 + fq))``."""
    return 0.6 - 0.4 * fq_share, 0.4 * (1.0 + fq_share)


def two_store_shares(fq_split: Array | float, fq_share: Array | float) -> tuple[Array, Array, Array]:
    """``gr6``/``grc``: the shares of ``pr + perc`` sent to the first store, the second store and the
    direct branch, by :func:`routing_split` then :func:`store_split`."""
    routed, direct = routing_split(fq_split)
    to_first, to_second = store_split(fq_share)
    return to_first * routed, to_second * routed, direct


def _fourth(x: Array) -> Array:
    x2 = x * x
    return x2 * x2


def _inv_fourth_root(x: Array) -> Array:
    return jax.lax.rsqrt(jnp.sqrt(x))


def _root_release(u: Array, m: int) -> tuple[Array, Array]:
    """``(1 - r, r)`` with ``r = (1 + u)^(-1/m)``, ``u >= 0``, for an integer ``m >= 2``.

    ``1 - r`` is written as ``(1 - r^m) / (1 + r + ... + r^(m-1))`` with ``1 - r^m = u / (1 + u)``
    (``1 - 1 / (1 + u)`` for ``u >= 1``, which stays finite when ``u`` overflows): no cancellation
    for small ``u``, so the result is accurate to a few units in its last place. For ``m = 4``
    (GR's percolation and transfer store) ``r`` is two square roots, a fraction of the cost of
    ``log1p``/``expm1`` in float64.
    """
    total = 1.0 + u
    r = _inv_fourth_root(total) if m == 4 else jnp.exp(jnp.log(total) / -m)
    geometric = 1.0 + r
    power = r
    for _ in range(m - 2):
        power = power * r
        geometric = geometric + power
    small = u < 1.0
    small_u = jnp.where(small, u, 0.0)
    drained = jnp.where(small, small_u / (1.0 + small_u), 1.0 - 1.0 / jnp.where(small, 2.0, total))
    return drained / geometric, r


SERIES_LIMIT = 2.0**-11
"""Below this ``v``, :func:`_rounded_release` rounds ``r`` from the series of ``(1 + v)^(-1/m)``."""


def _smash_rounding(x: Array) -> bool:
    """Whether GR's power-law releases of ``x``'s dtype are rounded as smash rounds them: in float32,
    smash's precision. A float64 model (gradient-based calibrations on a CPU) evaluates the exact
    law accurately instead: emulating float32 rounding there would only lose digits."""
    return x.dtype == jnp.float32


def _released_share(r: Array, drained: Array) -> Array:
    """The share ``1 - r`` a store releases, from :func:`_rounded_release`'s ``(r, drained)``: for a
    nearly empty float32 store the complement of the rounded ``r`` (exact, ``r >= 1/2``), as in
    smash; otherwise the accurate ``drained``."""
    if not _smash_rounding(r):
        return drained
    return jnp.where(r > _QUANTIZED_ABOVE, 1.0 - r, drained)


_QUANTIZED_ABOVE = 1.0 - SERIES_LIMIT / 8.0
"""Above this ``r`` (a nearly empty store, ``v`` below about :data:`SERIES_LIMIT` / 2), float32
releases are smash's differences of rounded values, which go to exact zeros as smash's do; below,
the accurate ones. smash's releases of fuller stores move in steps of a unit in the last place of
the store's level (1.5e-5 mm for a 250 mm store half full): without bit-identical levels, the
smooth release stays within half a step of smash's where the stepped one would be a whole step
off (smash's suite compares its internal fluxes to 1e-5)."""


def _rounded_release(x: Array, m: int) -> tuple[Array, Array, Array, Array]:
    """GR's power law ``r = (1 + x^m)^(-1/m)`` (``x >= 0``, ``m`` an integer) rounded as smash's
    single-precision arithmetic rounds it: ``1 + x^m`` is rounded first, and ``r`` is the correctly
    rounded power of that sum. Returns ``(r, 1 - r, v, u)``: the rounded ``r``, an accurate
    ``1 - r`` of the same sum, ``u = x^m`` and ``v = (1 + u) - 1``, the part of ``u`` that survives
    the first rounding. In precisions other than float32 (see :func:`_smash_rounding`) nothing is
    rounded on purpose: ``(r, 1 - r, u, u)`` of the exact law, from :func:`_root_release`.

    Below ``x^m`` of about one unit in the last place of 1 (``2^-24`` in float32) the sum rounds to
    1 and so does ``r``; above, ``r`` takes the steps of its grid. In smash the stores' releases are
    differences of such rounded values, which is what makes a nearly empty store release exactly
    nothing (and the discharge of a long dry spell decay to zero); the exact law would leave a
    small positive release at every step.

    Near 1, ``v`` is a small multiple of the grid's step and ``r = 1 - v/m + b`` lies just above a
    midpoint of the grid of ``r``, by ``b ~ v^2``, below the error of any single-precision ``1 - r``:
    below :data:`SERIES_LIMIT` ``r`` is rounded from the series ``1 - a + b`` (``a = v/m``, ``b``
    its next term, ``(1 + 1/m) v^2 / (2m)``; ``1/m`` is rounded to float32, as smash's exponent
    ``-1/m`` is), ``1 - a`` being split exactly into a rounded part and its error (Fast2Sum), so
    that the one rounding is the last. Above, ``b`` outweighs the error of the accurate ``1 - r`` of
    :func:`_root_release`, from which ``r`` is rounded once (the correctly rounded value in all but
    a few cases in a thousand, one unit in the last place from it otherwise), and beyond
    ``v = 1`` ``r`` is that function's root itself (within one unit as well). Further terms of the
    series would cost the whole time step a factor of 4 on a CPU (XLA's fused loop then stops
    being vectorized), for rounding changes rarer than one in a thousand.
    """
    if not _smash_rounding(x):
        u = _power_law(x, float(m))
        drained, root = _root_release(u, m)
        return root, drained, u, u
    # u >= 0, so the maximum is u itself; it keeps XLA from fusing u's last product with the sum
    # into one fused multiply-add, a single rounding where smash rounds twice.
    u = jnp.maximum(_power_law(x, float(m)), 0.0)
    v = stored(1.0 + u) - 1.0
    k = float(np.float32(1.0 / m))
    a = v * k
    b = v * v * (0.5 * k * (1.0 + k))
    upper = stored(1.0 - a)
    error = -a - (upper - 1.0)
    series = v < SERIES_LIMIT
    accurate, root = _root_release(v, m)
    r = jnp.where(series, upper + (error + b), jnp.where(v < 1.0, 1.0 - accurate, root))
    return r, jnp.where(series, a - b, accurate), v, u


def _release_derivative(drained: Array, v: Array, u: Array, m: int) -> tuple[Array, Array]:
    """``(1 - r, d(h (1 - r))/dh)`` of the exact law ``r = (1 + (h / scale)^m)^(-1/m)``, from the
    accurate ``drained = 1 - r(v)``, ``v`` and ``u`` of :func:`_rounded_release` at ``x = h / scale``
    (the derivative does not depend on ``scale`` otherwise).

    The rounding of ``1 + u`` is undone to first order, ``1 - r(u) = 1 - r(v) + (u - v) r / (m (1 + u))``,
    so the derivative is the exact law's, ``1 - r + r u / (1 + u)`` (written without dividing by ``h``,
    which may be 0), and not that of the steps the rounded values take.
    """
    total = 1.0 + u
    one_minus_r = drained + (u - v) * (1.0 - drained) / (m * total)
    return one_minus_r, one_minus_r + (1.0 - one_minus_r) * u / total


@partial(jax.custom_jvp, nondiff_argnums=(2,))
def _transfer_release(h: Array, capacity: Array, m: int) -> tuple[Array, Array]:
    """``(q, h_new)``: what a power-law store of ``capacity`` (mm) at filling ratio ``h`` (-)
    releases (mm/dt), ``q = capacity h (1 - r)`` with ``r = (1 + h^m)^(-1/m)``, and the ratio it
    keeps, ``h r``.

    In float32, for a nearly empty store (see :data:`_QUANTIZED_ABOVE`), computed as smash
    computes it: the kept level ``(h capacity) r / capacity`` first, with ``r`` rounded as in
    :func:`_rounded_release`, and the release as the difference ``(h - h_new) capacity``. A store
    with ``h^m`` below about ``2^-24`` keeps ``(h capacity) / capacity``, so that it releases
    exactly nothing, or the rounding error of that quotient, as in smash (a unit in the last place
    of ``h`` times ``capacity``, of either sign). Otherwise, and in other precisions, the exact law
    without cancellation: the release ``h (1 - r) capacity`` from the accurate ``1 - r``, the kept
    ratio ``h`` minus it below 1 and ``h r`` above (where the difference of two large numbers would
    lose its digits). The derivative is the exact law's
    (see :func:`_release_derivative`).

    With smash's float32 arithmetic (:func:`~hydrograd.core.structures._rounding.smash_arithmetic`)
    computed as smash computes it on the level ``h capacity``: the kept level
    ``((h c)^-m + c^-m)^(-1/m)`` by glibc's ``powf``, the kept ratio that level over ``c``, the
    release ``(h - h_new) c``.
    """
    if smash_arithmetic(h):
        exponent = -float(m)
        level = powf(powf(h * capacity, exponent) + powf(capacity, exponent), float(np.float32(-1.0 / m)))
        kept = level / capacity
        return settled((h - kept) * capacity), kept
    r, drained, _, _ = _rounded_release(h, m)
    return _released_and_kept(h, capacity, r, drained)


def _released_and_kept(h: Array, capacity: Array, r: Array, drained: Array) -> tuple[Array, Array]:
    """:func:`_transfer_release`'s ``(q, h_new)`` from :func:`_rounded_release`'s ``r`` and ``drained``."""
    released = h * drained
    accurate = released * capacity, jnp.where(h < 1.0, h - released, h * r)
    if not _smash_rounding(h):
        return accurate
    kept = (h * capacity) * r / capacity
    quantized = r > _QUANTIZED_ABOVE
    return jnp.where(quantized, (h - kept) * capacity, accurate[0]), jnp.where(quantized, kept, accurate[1])


@_transfer_release.defjvp
def _transfer_release_jvp(m: int, primals: tuple, tangents: tuple) -> tuple[tuple, tuple]:
    (h, capacity), (dh, d_capacity) = primals, tangents
    _, drained, v, u = _rounded_release(h, m)
    one_minus_r, d_release = _release_derivative(drained, v, u, m)
    d_q = capacity * d_release * dh + h * one_minus_r * d_capacity
    return _transfer_release(h, capacity, m), (d_q, (1.0 - d_release) * dh)


def _power_law(x: Array, exponent: float) -> Array:
    """``x ** exponent`` for positive ``x``, by multiplications and roots for GR's exponents."""
    if exponent == -4.0:
        return 1.0 / _fourth(x)
    if exponent == 4.0:
        return _fourth(x)
    if exponent == -0.25:
        return _inv_fourth_root(x)
    if exponent == 3.0:
        return x * x * x
    return jnp.exp(jnp.log(x) * exponent)


def transfer(n: float, missing: Array | None, prr: Array, ct: Array, ht: Array) -> tuple[Array, Array]:
    """Power-law transfer store of exponent ``n``: returns ``(qr, ht_new)``.

    ``prr`` (mm/dt) is the inflow, ``ct`` (mm) the capacity, ``ht`` (-) the filling ratio, all
    ``(nac,)``; ``qr`` is in mm/dt. The store keeps ``h = (h_imd^(1-n) + ct^(1-n))^(1/(1-n))`` of
    its level ``h_imd`` after the inflow (at least ``1e-6 ct``). Written on the filling ratio, it
    keeps ``ht_imd * r`` with ``r = (1 + ht_imd^(n-1))^(-1/(n-1))``, which cannot overflow for a
    nearly empty store or a tiny capacity, and releases the difference, in float32 rounded as
    smash rounds it (see :func:`_transfer_release`): a nearly empty store releases exactly nothing,
    or the rounding error of its level (either sign), so that the discharge of a long dry spell
    decays to zero as smash's does. Where rainfall is ``missing`` (see
    :func:`missing_rainfall`; ``None`` when no cell's is) the store receives the inflow that
    leaves its level unchanged, as smash does.
    """
    m = n - 1.0
    inflow = prr
    if missing is not None:
        safe_ht = jnp.where(missing, jnp.clip(ht, 1e-6, 1.0 - 1e-6), 0.5)
        if smash_arithmetic(safe_ht):
            level = safe_ht * ct
            refill = powf(powf(level, -m) - powf(ct, -m), float(np.float32(-1.0 / m))) - level
        else:
            refill = (safe_ht * _power_law(1.0 - _power_law(safe_ht, m), -1.0 / m) - safe_ht) * ct
        inflow = jnp.where(missing, refill, prr)
    level = ht + inflow / ct
    # At the floor itself the derivative is taken from the floor's side (zero), not split as
    # ``maximum`` splits ties: a store pinned there would otherwise pass a large factor back each step.
    ht_imd = jnp.where(level > 1e-6, level, 1e-6)
    return _transfer_release(ht_imd, ct, int(m))


def exponential_transfer(pre: Array, be: Array, he: Array) -> tuple[Array, Array]:
    """Exponential store of ``gr6``: returns ``(qe, he_new)`` (mm/dt, mm).

    After the inflow, ``he* = he + pre``, the store releases ``qe = be ln(1 + exp(he* / be))``
    (a softplus, so the level ``he`` may be negative). smash evaluates the same law through its
    asymptotes beyond ``|he* / be| > 7``; the exact softplus used here differs from them by less
    than ``5e-4 qe`` there and keeps the derivative smooth. With smash's float32 arithmetic, smash's
    three pieces with glibc's ``expf`` and ``logf``.
    """
    he_star = he + pre
    if smash_arithmetic(he_star):
        ratio = he_star / be
        # Above 80 smash's he* + be / exp(ratio) rounds to he* as well; the bound keeps exp finite, and
        # with it the derivative of the branches left out.
        grown = expf(jnp.minimum(ratio, 80.0))
        middle = be * logf(grown + 1.0)
        qe = settled(jnp.where(ratio < -7.0, be * grown, jnp.where(ratio > 7.0, he_star + be / grown, middle)))
        return qe, he_star - qe
    qe = be * jnp.logaddexp(he_star / be, 0.0)
    return qe, he_star - qe


def valid_inputs(inputs: HydroInputs) -> Array:
    """Cells whose rainfall and evapotranspiration are both available at this step (a constant
    when the forcing is complete, which the compiler folds away with every ``where`` it feeds)."""
    if inputs.complete:
        return jnp.ones(inputs.prcp.shape, bool)
    return (inputs.prcp >= 0.0) & (inputs.pet >= 0.0)


def missing_rainfall(inputs: HydroInputs) -> Array | None:
    """Cells whose rainfall is missing at this step (``prcp < 0``), or None when the forcing is complete."""
    return None if inputs.complete else inputs.prcp < 0.0


def _corrections(
    flux_correction: FluxCorrection | None, features: tuple[Array, ...], valid: Array, n_out: int
) -> Array:
    """The network's corrections as ``(n_out, nac)``, zero where inputs are missing or without network."""
    reference = features[0]
    if flux_correction is None:
        return jnp.zeros((n_out, *reference.shape), reference.dtype)
    fq = flux_correction(jnp.stack(features))
    if fq.shape[0] != n_out:
        raise ValueError(
            f"flux_correction returned {fq.shape[0]} corrections per cell where this structure uses {n_out}: "
            f"size the network's output layer to {n_out}"
        )
    return jnp.where(valid, fq, 0.0)


def _soil(
    states: dict[str, Array],
    inputs: HydroInputs,
    flux_correction: FluxCorrection | None,
    valid: Array,
    *,
    ci: Array | None,
    feature_states: tuple[str, ...],
    n_out: int,
    produce: Callable[[Array, Array, Array], dict[str, Array]],
) -> tuple[dict[str, Array], dict[str, Array], Array]:
    """Interception, network corrections and production: the front every GR structure shares.

    ``ci`` is the interception store capacity, or ``None`` for the structures without the store;
    ``feature_states`` name the states the network sees before ``(pn, en)``; ``produce(pn, en, fq)``
    runs the production store. Returns ``(new_states, fluxes, fq)`` with the fluxes zero and the
    states unchanged where inputs are missing.
    """
    prcp, pet = jnp.maximum(inputs.prcp, 0.0), jnp.maximum(inputs.pet, 0.0)
    new_states = {}
    fluxes = {}
    if ci is None:
        ei, pn, en = direct_interception(prcp, pet)
        fluxes["ei"] = jnp.where(valid, ei, 0.0)
    else:
        pn, en, hi = interception(prcp, pet, ci, states["hi"])
        new_states["hi"] = jnp.where(valid, hi, states["hi"])
    fq = _corrections(flux_correction, (*(states[k] for k in feature_states), pn, en), valid, n_out)
    prod = produce(pn, en, fq)
    store = feature_states[0]
    new_states[store] = jnp.where(valid, prod["hp"], states[store])
    fluxes["pn"] = jnp.where(valid, prod["pn"], 0.0)
    fluxes["en"] = jnp.where(valid, en, 0.0)
    for key in ("pr", "perc", "ps", "es"):
        fluxes[key] = jnp.where(valid, prod[key], 0.0)
    return new_states, fluxes, fq


def _standard_production(
    params: dict[str, Array],
    states: dict[str, Array],
    inputs: HydroInputs,
    beta: float,
    capacity: str = "cp",
    store: str = "hp",
) -> Callable[[Array, Array, Array], dict[str, Array]]:
    """``produce`` for :func:`_soil`: the GR production store, corrected by the network's first two outputs."""

    def produce(pn, en, fq):
        return production(pn, en, params[capacity], states[store], beta, inputs.imperviousness, fq[0], fq[1])

    return produce


def _gr4_like_step(
    params: dict[str, Array],
    states: dict[str, Array],
    inputs: HydroInputs,
    flux_correction: FluxCorrection | None,
    *,
    rain_intensity: bool,
    threshold: bool,
) -> StepOutput:
    """``gr4``, ``gr5`` and their ``*_ri`` variants: one transfer store and a direct branch.

    The rain-intensity variants' network corrects the exchange only (one output); the others' four
    outputs correct infiltration, evaporation, the routing split and the exchange.
    """
    valid = valid_inputs(inputs)
    ht = states["ht"]
    if rain_intensity:

        def produce(pn, en, fq):
            return rain_intensity_production(
                pn, en, params["cp"], states["hp"], inputs.beta, inputs.imperviousness, params["alpha1"], inputs.dt
            )

        n_out, lexc_index = 1, 0
    else:
        produce = _standard_production(params, states, inputs, inputs.beta)
        n_out, lexc_index = 4, 3
    new_states, fluxes, fq = _soil(
        states,
        inputs,
        flux_correction,
        valid,
        ci=params["ci"],
        feature_states=("hp", "ht"),
        n_out=n_out,
        produce=produce,
    )
    if rain_intensity:
        routed, direct = rain_intensity_split(params["alpha2"], fluxes["pn"])
    else:
        routed, direct = routing_split(fq[2])
    if threshold:
        lexc = threshold_exchange(params["kexc"], params["aexc"], ht, fq[lexc_index])
    else:
        lexc = exchange(params["kexc"], ht, fq[lexc_index])
    lexc = jnp.where(valid, lexc, 0.0)
    runoff = fluxes["pr"] + fluxes["perc"]
    prr = fused(routed, runoff, lexc)
    prd = settled(direct * runoff)
    qr, new_states["ht"] = transfer(5.0, missing_rainfall(inputs), prr, params["ct"], ht)
    qd = jnp.maximum(0.0, prd + lexc)
    fluxes.update(lexc=lexc, prr=prr, prd=prd, qr=qr, qd=qd, qt=qr + qd)
    return new_states, fluxes


def gr4_step(
    params: dict[str, Array],
    states: dict[str, Array],
    inputs: HydroInputs,
    flux_correction: FluxCorrection | None = None,
) -> StepOutput:
    """One time step of ``gr4``: returns ``(new_states, fluxes)``; ``fluxes["qt"]`` is in mm/dt.

    ``flux_correction`` (``gr4_mlp``) maps the features ``(hp, ht, pn, en)`` of shape ``(4, nac)``
    to four corrections: infiltration ``ps`` and evaporation ``es`` scaled by ``1 + fq``, the
    routing split (:func:`routing_split`) and the exchange ``lexc`` scaled by ``1 + fq``.
    """
    return _gr4_like_step(params, states, inputs, flux_correction, rain_intensity=False, threshold=False)


def gr4_ri_step(
    params: dict[str, Array],
    states: dict[str, Array],
    inputs: HydroInputs,
    flux_correction: FluxCorrection | None = None,
) -> StepOutput:
    """One time step of ``gr4_ri``: ``gr4`` with rain-intensity production and split.

    ``flux_correction`` (``gr4_ri_mlp_exc``) maps ``(hp, ht, pn, en)`` to one correction that
    scales the exchange ``lexc`` by ``1 + fq``.
    """
    return _gr4_like_step(params, states, inputs, flux_correction, rain_intensity=True, threshold=False)


def gr5_step(
    params: dict[str, Array],
    states: dict[str, Array],
    inputs: HydroInputs,
    flux_correction: FluxCorrection | None = None,
) -> StepOutput:
    """One time step of ``gr5``: ``gr4`` with the threshold exchange ``kexc (ht - aexc)``.

    ``flux_correction`` (``gr5_mlp``): as for ``gr4``, the fourth output scaling the threshold exchange.
    """
    return _gr4_like_step(params, states, inputs, flux_correction, rain_intensity=False, threshold=True)


def gr5_ri_step(
    params: dict[str, Array],
    states: dict[str, Array],
    inputs: HydroInputs,
    flux_correction: FluxCorrection | None = None,
) -> StepOutput:
    """One time step of ``gr5_ri``: ``gr4_ri`` with the threshold exchange.

    ``flux_correction`` (``gr5_ri_mlp_exc``): one output scaling the threshold exchange by ``1 + fq``.
    """
    return _gr4_like_step(params, states, inputs, flux_correction, rain_intensity=True, threshold=True)


def gr6_step(
    params: dict[str, Array],
    states: dict[str, Array],
    inputs: HydroInputs,
    flux_correction: FluxCorrection | None = None,
) -> StepOutput:
    """One time step of ``gr6``: ``gr5`` whose routed water feeds a transfer store (60 %) and an
    exponential store ``he`` (40 %); the exchange enters the transfer store, the exponential store
    and the direct branch.

    ``flux_correction`` (``gr6_mlp``) maps ``(hp, ht, he, pn, en)`` to five corrections: ``ps``,
    ``es``, the routing split, the share between the two stores (:func:`store_split`) and the
    exchange.
    """
    valid = valid_inputs(inputs)
    produce = _standard_production(params, states, inputs, inputs.beta)
    new_states, fluxes, fq = _soil(
        states,
        inputs,
        flux_correction,
        valid,
        ci=params["ci"],
        feature_states=("hp", "ht", "he"),
        n_out=5,
        produce=produce,
    )
    lexc = jnp.where(valid, threshold_exchange(params["kexc"], params["aexc"], states["ht"], fq[4]), 0.0)
    runoff = fluxes["pr"] + fluxes["perc"]
    first, second, direct = two_store_shares(fq[2], fq[3])
    prd = settled(direct * runoff)
    prr = fused(first, runoff, lexc)
    pre = fused(second, runoff, lexc)
    qr, new_states["ht"] = transfer(5.0, missing_rainfall(inputs), prr, params["ct"], states["ht"])
    qe, new_states["he"] = exponential_transfer(pre, params["be"], states["he"])
    qd = jnp.maximum(0.0, prd + lexc)
    fluxes.update(lexc=lexc, prr=prr, prd=prd, pre=pre, qr=qr, qd=qd, qe=qe, qt=qr + qd + qe)
    return new_states, fluxes


def grc_step(
    params: dict[str, Array],
    states: dict[str, Array],
    inputs: HydroInputs,
    flux_correction: FluxCorrection | None = None,
) -> StepOutput:
    """One time step of ``grc``: ``gr4`` whose routed water feeds a transfer store (60 %) and a slow
    transfer store ``hl`` of capacity ``cl`` (40 %); percolation uses the fixed scale 1000.

    ``flux_correction`` (``grc_mlp``) maps ``(hp, ht, hl, pn, en)`` to five corrections: ``ps``,
    ``es``, the routing split, the share between the two stores and the exchange.
    """
    valid = valid_inputs(inputs)
    produce = _standard_production(params, states, inputs, FIXED_PERCOLATION_BETA)
    new_states, fluxes, fq = _soil(
        states,
        inputs,
        flux_correction,
        valid,
        ci=params["ci"],
        feature_states=("hp", "ht", "hl"),
        n_out=5,
        produce=produce,
    )
    lexc = jnp.where(valid, exchange(params["kexc"], states["ht"], fq[4]), 0.0)
    runoff = fluxes["pr"] + fluxes["perc"]
    first, second, direct = two_store_shares(fq[2], fq[3])
    prl = second * runoff
    prd = settled(direct * runoff)
    prr = fused(first, runoff, lexc)
    qr, new_states["ht"] = transfer(5.0, missing_rainfall(inputs), prr, params["ct"], states["ht"])
    ql, new_states["hl"] = transfer(5.0, missing_rainfall(inputs), prl, params["cl"], states["hl"])
    qd = jnp.maximum(0.0, prd + lexc)
    fluxes.update(lexc=lexc, prr=prr, prd=prd, prl=prl, qr=qr, qd=qd, ql=ql, qt=qr + qd + ql)
    return new_states, fluxes


def grd_step(
    params: dict[str, Array],
    states: dict[str, Array],
    inputs: HydroInputs,
    flux_correction: FluxCorrection | None = None,
) -> StepOutput:
    """One time step of ``grd``: no interception store, no exchange, all of ``pr + perc`` into the
    transfer store; percolation uses the fixed scale 1000.

    ``flux_correction`` (``grd_mlp``) maps ``(hp, ht, pn, en)`` to two corrections: ``ps`` and ``es``.
    """
    valid = valid_inputs(inputs)
    produce = _standard_production(params, states, inputs, FIXED_PERCOLATION_BETA)
    new_states, fluxes, _ = _soil(
        states, inputs, flux_correction, valid, ci=None, feature_states=("hp", "ht"), n_out=2, produce=produce
    )
    prr = fluxes["pr"] + fluxes["perc"]
    qr, new_states["ht"] = transfer(5.0, missing_rainfall(inputs), prr, params["ct"], states["ht"])
    fluxes.update(prr=prr, qr=qr, qt=qr)
    return new_states, fluxes


def loieau_step(
    params: dict[str, Array],
    states: dict[str, Array],
    inputs: HydroInputs,
    flux_correction: FluxCorrection | None = None,
) -> StepOutput:
    """One time step of ``loieau``: soil store ``ha`` (capacity ``ca``), routing store ``hc``
    (capacity ``cc``, exponent 4), no interception store nor exchange; the discharge is
    ``kb (qr + qd)``.

    ``flux_correction`` (``loieau_mlp``) maps ``(ha, hc, pn, en)`` to three corrections: ``ps``,
    ``es`` and the routing split.
    """
    valid = valid_inputs(inputs)
    produce = _standard_production(params, states, inputs, inputs.beta, capacity="ca", store="ha")
    new_states, fluxes, fq = _soil(
        states, inputs, flux_correction, valid, ci=None, feature_states=("ha", "hc"), n_out=3, produce=produce
    )
    routed, direct = routing_split(fq[2])
    runoff = fluxes["pr"] + fluxes["perc"]
    prr = routed * runoff
    prd = direct * runoff
    qr, new_states["hc"] = transfer(4.0, missing_rainfall(inputs), prr, params["cc"], states["hc"])
    qd = jnp.maximum(0.0, prd)
    fluxes.update(prr=prr, prd=prd, qr=qr, qd=qd, qt=params["kb"] * (qr + qd))
    return new_states, fluxes
