"""GR-family hydrological operators (Génie Rural, INRAE) and the structures built from them.

Every array is 1-D over the active cells (length ``nac``); depths are in mm per time step and
stores are held as filling ratios in [0, 1] of their capacity, as in smash:

- ``ci``, ``cp``, ``ct``: interception, production and transfer store capacities (mm);
- ``kexc``: groundwater exchange coefficient (mm/dt);
- ``hi``, ``hp``, ``ht``: interception, production and transfer filling ratios (-);
- ``pn``, ``en``: neutralised rainfall and evapotranspiration (mm/dt).

A hybrid structure reuses these operators with a flux correction ``fq`` (the output of a small
network, each entry in (-1, 1)); with ``fq = 0`` the operators reduce to the conceptual model.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from hydrograd.core.structures._common import HydroInputs

Array = jnp.ndarray
FluxCorrection = Callable[[Array], Array]


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
    pn = (1.0 - imperviousness) * pn
    tpn = jnp.tanh(pn / cp)
    ten = jnp.tanh(en / cp)
    ps = cp * (1.0 - hp * hp) * tpn / (1.0 + hp * tpn)
    ps = jnp.minimum(pn, (1.0 + fq_ps) * ps)
    es = hp * cp * (2.0 - hp) * ten / (1.0 + (1.0 - hp) * ten)
    es = jnp.minimum(en, (1.0 + fq_es) * es)
    es = (1.0 - imperviousness) * es
    hp_imd = hp + (ps - es) / cp
    pr = jnp.where(pn > 0.0, pn - ps, 0.0)
    perc = hp_imd * cp * _one_minus_inv_fourth_root(_fourth(hp_imd / beta))
    return {"pn": pn, "ps": ps, "es": es, "pr": pr, "perc": perc, "hp": hp_imd - perc / cp}


def exchange(kexc: Array, ht: Array, fq_l: Array | float = 0.0) -> Array:
    """GR4 groundwater exchange ``lexc = kexc * ht^3.5`` (mm/dt), scaled by ``1 + fq_l``."""
    positive = ht > 0.0
    safe_ht = jnp.where(positive, ht, 1.0)
    return (1.0 + fq_l) * kexc * jnp.where(positive, safe_ht * safe_ht * safe_ht * jnp.sqrt(safe_ht), 0.0)


def _fourth(x: Array) -> Array:
    x2 = x * x
    return x2 * x2


def _inv_fourth_root(x: Array) -> Array:
    return jax.lax.rsqrt(jnp.sqrt(x))


def _one_minus_inv_fourth_root(u: Array) -> Array:
    """``1 - (1 + u) ** -0.25`` without the cancellation that loses all digits for small ``u``."""
    return -jnp.expm1(-0.25 * jnp.log1p(u))


def _power_law(x: Array, exponent: float) -> Array:
    """``x ** exponent`` for positive ``x``, by multiplications and roots for GR's exponents."""
    if exponent == -4.0:
        return 1.0 / _fourth(x)
    if exponent == 4.0:
        return _fourth(x)
    if exponent == -0.25:
        return _inv_fourth_root(x)
    return x**exponent


def transfer(n: float, prcp: Array, prr: Array, ct: Array, ht: Array) -> tuple[Array, Array]:
    """Power-law transfer store of exponent ``n``: returns ``(qr, ht_new)``.

    The store keeps ``h = (h_imd^(1-n) + ct^(1-n))^(1/(1-n))``. Written on the filling ratio, the
    release is ``ht_imd * (1 - r)`` with ``r = (1 + ht_imd^(n-1))^(-1/(n-1))``, evaluated with
    ``expm1``/``log1p``: the same law, without overflow for a nearly empty store or a tiny
    capacity, and without the cancellation that makes the difference noisy in single precision.
    The new ratio is ``ht_imd`` minus the release below 1, and ``ht_imd * r`` above, where the
    difference of two large numbers would lose its digits. Where rainfall is
    missing (``prcp < 0``) the store receives the inflow that leaves its level unchanged, as
    smash does.
    """
    m = n - 1.0
    missing = prcp < 0.0
    safe_ht = jnp.where(missing, jnp.clip(ht, 1e-6, 1.0 - 1e-6), 0.5)
    refill = (safe_ht * _power_law(1.0 - _power_law(safe_ht, m), -1.0 / m) - safe_ht) * ct
    inflow = jnp.where(missing, refill, prr)
    ht_imd = jnp.maximum(1e-6, ht + inflow / ct)
    log_ratio = jnp.log1p(_power_law(ht_imd, m)) / -m
    released = ht_imd * -jnp.expm1(log_ratio)
    kept = jnp.where(ht_imd < 1.0, ht_imd - released, ht_imd * jnp.exp(log_ratio))
    return released * ct, kept


def gr4_step(
    params: dict[str, Array],
    states: dict[str, Array],
    inputs: HydroInputs,
    flux_correction: FluxCorrection | None = None,
) -> tuple[dict[str, Array], dict[str, Array]]:
    """One time step of ``gr4``: returns ``(new_states, fluxes)``; ``fluxes["qt"]`` is in mm/dt.

    ``flux_correction`` maps the stacked features ``(hp, ht, pn, en)`` of shape ``(nac, 4)`` to
    four corrections ``(ps, es, split, lexc)`` in (-1, 1); ``None`` gives the conceptual model.
    """
    prcp, pet = inputs.prcp, inputs.pet
    valid = (prcp >= 0.0) & (pet >= 0.0)
    hi, hp, ht = states["hi"], states["hp"], states["ht"]

    pn, en, hi_new = interception(jnp.maximum(prcp, 0.0), jnp.maximum(pet, 0.0), params["ci"], hi)
    if flux_correction is None:
        fq = jnp.zeros((4, *prcp.shape), prcp.dtype)
    else:
        features = jnp.stack([hp, ht, pn, en], axis=-1)
        fq = jnp.where(valid, flux_correction(features).T, 0.0)
    prod = production(pn, en, params["cp"], hp, inputs.beta, inputs.imperviousness, fq[0], fq[1])
    lexc = exchange(params["kexc"], ht, fq[3])

    pr = jnp.where(valid, prod["pr"], 0.0)
    perc = jnp.where(valid, prod["perc"], 0.0)
    lexc = jnp.where(valid, lexc, 0.0)
    split = fq[2] ** 2
    prr = 0.9 * (1.0 - split) * (pr + perc) + lexc
    prd = (0.1 + 0.9 * split) * (pr + perc)
    qr, ht_new = transfer(5.0, prcp, prr, params["ct"], ht)
    qd = jnp.maximum(0.0, prd + lexc)

    new_states = {
        "hi": jnp.where(valid, hi_new, hi),
        "hp": jnp.where(valid, prod["hp"], hp),
        "ht": ht_new,
    }
    fluxes = {
        "pn": jnp.where(valid, prod["pn"], 0.0),
        "en": jnp.where(valid, en, 0.0),
        "pr": pr,
        "perc": perc,
        "ps": jnp.where(valid, prod["ps"], 0.0),
        "es": jnp.where(valid, prod["es"], 0.0),
        "lexc": lexc,
        "prr": prr,
        "prd": prd,
        "qr": qr,
        "qd": qd,
        "qt": qr + qd,
    }
    return new_states, fluxes
