"""Continuous state-space GR4 (``gr4_ode``) and its neural-ODE variant (``gr4_ode_mlp``, smash's
``gr4_ude``), integrated over one time step by implicit Euler.

After interception, the production and transfer ratios ``h = (hp, ht)`` follow

    dhp/dt = ((1 - hp^2) pn - hp (2 - hp) en) / cp
    dht/dt = (0.9 pn hp^2 - 0.25 ct ht^5 + kexc ht^3.5) / ct

with ``pn`` the neutralised rainfall over the pervious fraction and ``en`` the remaining
evapotranspiration (mm/dt), ``cp``, ``ct`` the store capacities (mm) and ``kexc`` the exchange
coefficient (mm/dt); time is counted in steps. The step's discharge is
``qt = 0.25 ct ht^5 + 0.1 pn hp^2 + lexc`` with ``lexc = kexc ht^3.5`` (mm/dt), on the new states.
There is no percolation term and, where inputs are missing, no discharge and no state change.

Solver. The implicit equation ``h - h0 - f(h) = 0`` is solved by Newton's method from ``h0``,
with smash's rules: after each update a ratio at or below 0 is set to 1e-6 and one at or above
1 to 1 - 1e-6, and a cell stops once ``|dh / h| < 1e-6`` (after at most 10 iterations). The
Jacobian comes from ``jax.jvp`` of the same residual, not from hand-written derivatives.
Reverse-mode autodiff cannot go through a ``lax.while_loop``, so the loop runs its 10 iterations
in a ``fori_loop`` and a converged cell keeps its value (a mask). Its gradient is the derivative
of the iterations actually computed, clamping included, like smash's Tapenade adjoint and
unlike an implicit-function adjoint, which would be wrong where a clamp fired or the iteration
stopped before converging; ten 2x2 solves per cell are cheap.

Hybrid. ``gr4_ode_mlp``'s network sees ``(hp, ht, pn, en)`` at the start of the step (``pn``
before the impervious fraction is removed) and returns four corrections held fixed during the
step, each rescaling by ``1 + fq``: (0) the rainfall terms (``pn`` in ``dhp/dt``, ``dht/dt`` and
``qt``), (1) evaporation, (2) the exchange, (3) the transfer release ``0.25 ct ht^5``. As in
smash, the Newton matrix also carries the network's derivative with respect to ``(hp, ht)`` at
the start of the step (obtained with ``jax.linearize`` of the network), as if the corrections
followed the states linearly; only the convergence path depends on it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from hydrograd.core.structures._common import HydroInputs, safe_pow
from hydrograd.core.structures.gr import FluxCorrection, StepOutput, interception, valid_inputs

Array = jnp.ndarray

MAX_ITERATIONS = 10
TOLERANCE = 1e-6
RATIO_FLOOR = 1e-6


def _rates(hp: Array, ht: Array, fq: Array, pn: Array, en: Array, cp: Array, ct: Array, kexc: Array):
    """``(dhp/dt, dht/dt)`` of the production and transfer ratios, with the corrections ``fq``."""
    hp2 = hp * hp
    ht5 = ht * ht * ht * ht * ht
    fhp = ((1.0 - hp2) * pn * (1.0 + fq[0]) - hp * (2.0 - hp) * en * (1.0 + fq[1])) / cp
    fht = (
        0.9 * (1.0 + fq[0]) * pn * hp2 - 0.25 * (1.0 + fq[3]) * ct * ht5 + kexc * safe_pow(ht, 3.5) * (1.0 + fq[2])
    ) / ct
    return fhp, fht


def _clamp_ratio(h: Array) -> Array:
    """smash's guard after each Newton update: ratios at or beyond 0 or 1 go back just inside."""
    return jnp.where(h <= 0.0, RATIO_FLOOR, jnp.where(h >= 1.0, 1.0 - RATIO_FLOOR, h))


def _solve_2x2(j11: Array, j12: Array, j21: Array, j22: Array, r1: Array, r2: Array) -> tuple[Array, Array]:
    """Solve ``J x + r = 0`` cell by cell; a singular ``J`` gives ``x = 0``."""
    det = j11 * j22 - j12 * j21
    regular = jnp.abs(det) > 0.0
    safe_det = jnp.where(regular, det, 1.0)
    x1 = jnp.where(regular, (r2 * j12 - r1 * j22) / safe_det, 0.0)
    x2 = jnp.where(regular, (r1 * j21 - r2 * j11) / safe_det, 0.0)
    return x1, x2


def implicit_euler(
    hp0: Array,
    ht0: Array,
    pn: Array,
    en: Array,
    cp: Array,
    ct: Array,
    kexc: Array,
    fq: Array,
    dfq_dhp: Array,
    dfq_dht: Array,
) -> tuple[Array, Array]:
    """One implicit Euler step of the production/transfer system: returns ``(hp, ht)``.

    ``fq`` (``(4, nac)``) are the corrections and ``dfq_dhp``, ``dfq_dht`` their derivatives with
    respect to the states, used in the Newton matrix only (zeros for the conceptual model).
    """

    def residual(hp, ht, fq):
        fhp, fht = _rates(hp, ht, fq, pn, en, cp, ct, kexc)
        return hp - hp0 - fhp, ht - ht0 - fht

    ones, zeros = jnp.ones_like(hp0), jnp.zeros_like(hp0)

    def iterate(_, carry):
        hp, ht, done = carry
        (r1, r2), (j11, j21) = jax.jvp(residual, (hp, ht, fq), (ones, zeros, dfq_dhp))
        _, (j12, j22) = jax.jvp(residual, (hp, ht, fq), (zeros, ones, dfq_dht))
        dhp, dht = _solve_2x2(j11, j12, j21, j22, r1, r2)
        new_hp = _clamp_ratio(hp + dhp)
        new_ht = _clamp_ratio(ht + dht)
        converged = (dhp / new_hp) ** 2 + (dht / new_ht) ** 2 < TOLERANCE**2
        return jnp.where(done, hp, new_hp), jnp.where(done, ht, new_ht), done | converged

    hp, ht, _ = lax.fori_loop(0, MAX_ITERATIONS, iterate, (hp0, ht0, jnp.zeros(hp0.shape, bool)))
    return hp, ht


def gr4_ode_step(
    params: dict[str, Array],
    states: dict[str, Array],
    inputs: HydroInputs,
    flux_correction: FluxCorrection | None = None,
) -> StepOutput:
    """One time step of ``gr4_ode``: returns ``(new_states, fluxes)`` with fluxes ``pn, en, lexc, qt``.

    ``flux_correction`` (``gr4_ode_mlp``/``gr4_ude``) maps ``(hp, ht, pn, en)`` to the four
    corrections described in the module docstring.
    """
    valid = valid_inputs(inputs)
    hi, hp, ht = states["hi"], states["hp"], states["ht"]
    cp, ct, kexc = params["cp"], params["ct"], params["kexc"]
    pn, en, hi_new = interception(jnp.maximum(inputs.prcp, 0.0), jnp.maximum(inputs.pet, 0.0), params["ci"], hi)
    pn = jnp.where(valid, pn, 0.0)
    en = jnp.where(valid, en, 0.0)

    zeros = jnp.zeros((4, *hp.shape), hp.dtype)
    if flux_correction is None:
        fq, dfq_dhp, dfq_dht = zeros, zeros, zeros
    else:
        features = jnp.stack([hp, ht, pn, en])
        fq, tangent_map = jax.linearize(flux_correction, features)
        if fq.shape[0] != 4:
            raise ValueError(
                f"flux_correction returned {fq.shape[0]} corrections per cell where gr4_ode uses 4: "
                "size the network's output layer to 4"
            )
        unit = jnp.eye(4, dtype=features.dtype)
        dfq_dhp = tangent_map(jnp.broadcast_to(unit[0][:, None], features.shape))
        dfq_dht = tangent_map(jnp.broadcast_to(unit[1][:, None], features.shape))
        fq, dfq_dhp, dfq_dht = (jnp.where(valid, a, 0.0) for a in (fq, dfq_dhp, dfq_dht))

    pn_pervious = (1.0 - inputs.imperviousness) * pn
    hp_new, ht_new = implicit_euler(hp, ht, pn_pervious, en, cp, ct, kexc, fq, dfq_dhp, dfq_dht)
    hp_new = jnp.where(valid, hp_new, hp)
    ht_new = jnp.where(valid, ht_new, ht)
    lexc = jnp.where(valid, (1.0 + fq[2]) * kexc * safe_pow(ht_new, 3.5), 0.0)
    release = 0.25 * (1.0 + fq[3]) * ct * ht_new**5
    qt = jnp.where(valid, release + 0.1 * (1.0 + fq[0]) * pn_pervious * hp_new * hp_new + lexc, 0.0)
    new_states = {"hi": jnp.where(valid, hi_new, hi), "hp": hp_new, "ht": ht_new}
    return new_states, {"pn": pn_pervious, "en": en, "lexc": lexc, "qt": qt}
