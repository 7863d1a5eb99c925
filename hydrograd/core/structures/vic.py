"""Three-layer variable infiltration capacity structure ``vic3l``, after VIC (Liang et al., 1994)
as smash 1.3.0 computes it.

Every array is 1-D over the active cells; depths are in mm per time step and the four stores are
held as filling ratios in [0, 1] of their capacity:

- ``hcl``: canopy store, of capacity 1 mm (smash fixes it; VIC takes 0.2 times the leaf area index);
- ``husl``, ``hmsl``, ``hbsl``: upper, medium and bottom soil layers, of capacities ``cusl``,
  ``cmsl``, ``cbsl`` (mm);
- ``b`` (-): shape of the variable infiltration curve (the share of the cell whose capacity is
  below ``i`` is ``1 - (1 - i / im)^b``);
- ``ks`` (mm/dt), ``pbc`` (-): drainage between layers, ``ks h^pbc`` (Brooks and Corey);
- ``ds`` (mm/dt), ``dsm`` (-), ``ws`` (-): the ARNO baseflow of the bottom layer (see :func:`baseflow`).

A step runs canopy interception, evaporation from the upper layer, infiltration into the upper
two layers (what does not infiltrate runs off, ``qr``), drainage down the three layers and the
baseflow ``qb`` of the bottom layer; the cell's runoff is ``qt = qr + qb``. Where rainfall or
evapotranspiration is missing only the baseflow runs. As in smash, a store that an update takes
beyond ``[1e-6, 1 - 1e-6]`` is put back on that edge after interception and infiltration.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from hydrograd.core.structures._common import HydroInputs, safe_pow
from hydrograd.core.structures._rounding import fused, powf, powi, smash_arithmetic
from hydrograd.core.structures.gr import FluxCorrection, StepOutput, valid_inputs

Array = jnp.ndarray

CANOPY_CAPACITY = 1.0
"""Capacity of the canopy store (mm)."""

RATIO_FLOOR = 1e-6
"""Smallest filling ratio left by interception and infiltration (and its distance to 1 the largest)."""

# Terms of the power series of the ARNO evaporation's beta function (VIC's ``arno_evap``).
_ARNO_TERMS = 5


def _clip_ratio(h: Array) -> Array:
    return jnp.clip(h, RATIO_FLOOR, 1.0 - RATIO_FLOOR)


def canopy_interception(prcp: Array, pet: Array, hcl: Array) -> tuple[Array, Array, Array]:
    """Canopy store of 1 mm: returns ``(pn, en, hcl_new)``.

    The canopy evaporates ``ec = min(pet hcl^(2/3), prcp + hcl)`` (mm/dt), rainfall beyond its free
    space ``1 - hcl`` passes through, ``pn = max(0, prcp - (1 - hcl) - ec)``, and ``en = pet - ec``
    is left for the soil.
    """
    capacity = CANOPY_CAPACITY
    wet = powf(hcl, float(np.float32(2.0 / 3.0))) if smash_arithmetic(hcl) else safe_pow(hcl, 2.0 / 3.0)
    ec = jnp.minimum(pet * wet, prcp + hcl * capacity)
    pn = jnp.maximum(0.0, prcp - capacity * (1.0 - hcl) - ec)
    hcl_new = hcl + (prcp - ec - pn) / capacity
    return pn, pet - ec, _clip_ratio(hcl_new)


def _unsaturated_share(free: Array, b: Array) -> Array:
    """Share of the cell whose point capacity a layer with free fraction ``free = 1 - h`` has not
    reached, ``(1 - h)^(1 / (1 + b))``: ``1 - i0 / im`` with ``i0`` the point of the infiltration
    curve the layer has reached and ``im`` its largest point capacity."""
    return safe_pow(free, 1.0 / (1.0 + b))


def upper_layer_evaporation(en: Array, b: Array, cusl: Array, husl: Array) -> tuple[Array, Array]:
    """ARNO evaporation from the upper layer (Todini, 1996; VIC's ``arno_evap``): returns ``(es, husl_new)``.

    With ``r`` the unsaturated share of the layer's infiltration curve (:func:`_unsaturated_share`),
    the saturated area ``as = 1 - r^b`` evaporates at the full rate and the rest at a rate given by
    the first five terms of a power series, ``beta = as + (1 - as) (1 - r) (1 + sum_i b r^i / (b + i))``;
    ``es = beta en`` (``en`` on a saturated layer), at most what the layer holds.
    """
    if smash_arithmetic(husl):
        return _smash_upper_layer_evaporation(en, b, cusl, husl)
    ratio = _unsaturated_share(1.0 - husl, b)
    area = 1.0 - safe_pow(ratio, b)
    series = 1.0
    power = 1.0
    for i in range(1, _ARNO_TERMS + 1):
        power = power * ratio
        series = series + b * power / (b + i)
    beta = area + (1.0 - area) * (1.0 - ratio) * series
    es = jnp.minimum(jnp.where(ratio > 0.0, en * beta, en), husl * cusl)
    return es, husl - es / cusl


def _smash_upper_layer_evaporation(en: Array, b: Array, cusl: Array, husl: Array) -> tuple[Array, Array]:
    """:func:`upper_layer_evaporation` in float32 as smash computes it, operation for operation: the
    unsaturated share as ``1 - i0 / im``, the powers of the series by :func:`powi`."""
    largest = (1.0 + b) * cusl
    reached = largest * (1.0 - powf(1.0 - husl, 1.0 / (1.0 + b)))
    ratio = 1.0 - reached / largest
    area = 1.0 - powf(ratio, b)
    series = 1.0 + b * ratio / (1.0 + b)
    for i in range(2, _ARNO_TERMS + 1):
        series = series + b * powi(ratio, i) / (b + float(i))
    beta = fused((1.0 - area) * (1.0 - ratio), series, area)
    es = jnp.minimum(jnp.where(reached >= largest, en, en * beta), husl * cusl)
    return es, husl - es / cusl


def infiltration(pn: Array, b: Array, cusl: Array, cmsl: Array, husl: Array, hmsl: Array) -> tuple[Array, Array, Array]:
    """Infiltration of ``pn`` into the upper two layers by the variable infiltration curve:
    returns ``(qr, husl_new, hmsl_new)``.

    The two layers share one curve of capacity ``c = cusl + cmsl`` and largest point capacity
    ``im = (1 + b) c``, at level ``w``. With ``r`` its unsaturated share (:func:`_unsaturated_share`),
    rainfall ``pn`` below ``im r`` infiltrates ``(c - w) (1 - (1 - pn / (im r))^(1 + b))``, and any
    more fills the whole free space ``c - w``; the infiltration fills the upper layer first, then
    the medium one. The runoff ``qr`` is what did not enter either layer.

    smash writes the infiltration ``c - w - c (1 - (i0 + pn) / im)^(1 + b)``, the same function
    written as a difference of two numbers of the size of ``c``: in single precision it carries
    an error of about ``1e-7 c`` (1e-4 mm for ``c = 1000`` mm) at every step, which dominates low
    flows. The form here (with ``expm1`` and ``log1p``) is exact to rounding of the result; with
    smash's float32 arithmetic (``HYDROGRAD_FLOAT32=smash``), smash's own form and numbers.
    """
    if smash_arithmetic(husl):
        infiltrated = _smash_infiltration(pn, b, cusl, cmsl, husl, hmsl)
    else:
        infiltrated = _accurate_infiltration(pn, b, cusl, cmsl, husl, hmsl)
    infiltrated = jnp.minimum(pn, infiltrated)
    to_upper = jnp.minimum((1.0 - husl) * cusl, infiltrated)
    to_medium = jnp.minimum((1.0 - hmsl) * cmsl, infiltrated - to_upper)
    qr = pn - (to_upper + to_medium)
    return qr, _clip_ratio(husl + to_upper / cusl), _clip_ratio(hmsl + to_medium / cmsl)


def _accurate_infiltration(pn: Array, b: Array, cusl: Array, cmsl: Array, husl: Array, hmsl: Array) -> Array:
    """What :func:`infiltration` lets in before the layers' free space caps it, with ``expm1`` and ``log1p``."""
    capacity = cusl + cmsl
    free = (1.0 - husl) * cusl + (1.0 - hmsl) * cmsl
    saturating = (1.0 + b) * capacity * _unsaturated_share(free / capacity, b)
    fills = pn >= saturating
    part = jnp.where(fills, 0.0, pn / jnp.where(fills, 1.0, saturating))
    return jnp.where(fills, free, -free * jnp.expm1((1.0 + b) * jnp.log1p(-part)))


def _smash_infiltration(pn: Array, b: Array, cusl: Array, cmsl: Array, husl: Array, hmsl: Array) -> Array:
    """:func:`_accurate_infiltration` in float32 as smash computes it, operation for operation: the
    level ``w``, the point ``i0`` reached on the curve, ``c - w - c (1 - (i0 + pn) / im)^(1 + b)``."""
    capacity = cusl + cmsl
    level = fused(husl, cusl, hmsl * cmsl)
    largest = (1.0 + b) * capacity
    reached = fused(1.0 - powf(1.0 - level / capacity, 1.0 / (1.0 + b)), largest, pn)
    fills = reached > largest
    part = 1.0 - jnp.where(fills, 0.0, reached / largest)
    return jnp.where(fills, capacity - level, fused(-capacity, powf(part, b + 1.0), capacity - level))


def drainage(
    upper_capacity: Array, lower_capacity: Array, ks: Array, pbc: Array, upper: Array, lower: Array
) -> tuple[Array, Array]:
    """Gravity drainage from one layer to the next: returns the two new filling ratios.

    The flow is ``ks max(1e-6, h^pbc)`` (mm/dt) from the upper layer at ratio ``h``, at most what
    that layer holds and what the lower one can take.
    """
    flow = ks * jnp.maximum(RATIO_FLOOR, powf(upper, pbc) if smash_arithmetic(upper) else safe_pow(upper, pbc))
    if smash_arithmetic(lower):
        room = fused(-lower, lower_capacity, lower_capacity)
    else:
        room = lower_capacity - lower * lower_capacity
    flow = jnp.minimum(flow, jnp.minimum(upper * upper_capacity, room))
    return upper - flow / upper_capacity, lower + flow / lower_capacity


def baseflow(cbsl: Array, ds: Array, dsm: Array, ws: Array, hbsl: Array) -> tuple[Array, Array]:
    """ARNO baseflow of the bottom layer: returns ``(qb, hbsl_new)``.

    With ``v`` the largest baseflow (mm/dt), ``f`` the share of it reached linearly and ``ws`` the
    filling ratio where the flow turns nonlinear, ``qb = f v / ws hbsl``, plus
    ``v (1 - f / ws) ((hbsl - ws) / (1 - ws))^2`` above ``ws``; at most what the layer holds.

    smash 1.3.0 (the reference) passes ``ds`` where VIC's ``v`` goes and ``dsm`` where its ``f``
    goes, against the names (VIC's ``Ds`` is the share and ``Dsmax`` the largest flow) and its
    documentation (which also writes the condition on ``ws`` the other way round). This follows
    smash's numbers: ``v = ds`` and ``f = dsm``.

    For ``hbsl`` in [0, 1] the flow is nonnegative. But where ``f / ws`` is large (up to 1e11 in
    the bounds) the two terms, each of size ``v f / ws``, nearly cancel, and single-precision
    rounding decides the result: smash then lets a negative ``qb`` fill the layer beyond its
    capacity, a feedback that overflows within a few steps. Here the baseflow is floored at 0,
    which changes nothing where smash's is nonnegative.
    """
    largest, linear_share = ds, dsm
    linear = largest * linear_share / ws * hbsl
    above = hbsl > ws
    excess = jnp.where(above, (hbsl - ws) / (1.0 - ws), 0.0)
    if smash_arithmetic(hbsl):
        qb = jnp.where(above, fused(largest * (1.0 - linear_share / ws), excess * excess, linear), linear)
    else:
        qb = linear + jnp.where(above, largest * (1.0 - linear_share / ws) * (excess * excess), 0.0)
    qb = jnp.clip(qb, 0.0, hbsl * cbsl)
    return qb, hbsl - qb / cbsl


def vic3l_step(
    params: dict[str, Array],
    states: dict[str, Array],
    inputs: HydroInputs,
    flux_correction: FluxCorrection | None = None,
) -> StepOutput:
    """One time step of ``vic3l``: returns ``(new_states, fluxes)``, fluxes ``pn, en, qr, qb, qt``
    in mm/dt (``qt = qr + qb``). The structure has no flux-correction network: ``flux_correction``
    must be ``None``. The impervious fraction is not used (as in smash)."""
    if flux_correction is not None:
        raise ValueError("vic3l has no flux-correction network: flux_correction must be None")
    p = params
    valid = valid_inputs(inputs)
    hcl, husl, hmsl, hbsl = states["hcl"], states["husl"], states["hmsl"], states["hbsl"]
    prcp, pet = jnp.maximum(inputs.prcp, 0.0), jnp.maximum(inputs.pet, 0.0)
    pn, en, hcl_new = canopy_interception(prcp, pet, hcl)
    _, husl_new = upper_layer_evaporation(en, p["b"], p["cusl"], husl)
    qr, husl_new, hmsl_new = infiltration(pn, p["b"], p["cusl"], p["cmsl"], husl_new, hmsl)
    husl_new, hmsl_new = drainage(p["cusl"], p["cmsl"], p["ks"], p["pbc"], husl_new, hmsl_new)
    hmsl_new, hbsl_new = drainage(p["cmsl"], p["cbsl"], p["ks"], p["pbc"], hmsl_new, hbsl)
    hbsl_new = jnp.where(valid, hbsl_new, hbsl)
    qb, hbsl_new = baseflow(p["cbsl"], p["ds"], p["dsm"], p["ws"], hbsl_new)
    qr = jnp.where(valid, qr, 0.0)
    new_states = {
        "hcl": jnp.where(valid, hcl_new, hcl),
        "husl": jnp.where(valid, husl_new, husl),
        "hmsl": jnp.where(valid, hmsl_new, hmsl),
        "hbsl": hbsl_new,
    }
    fluxes = {"pn": jnp.where(valid, pn, 0.0), "en": jnp.where(valid, en, 0.0), "qr": qr, "qb": qb, "qt": qr + qb}
    return new_states, fluxes
