"""Snow: the degree-day snow store (``ssn``) and the rain/snow partitioning of precipitation.

Arrays are over the active cells (or any shape, element by element). Snowfall ``snow`` and the
melt ``mlt`` are in mm per time step, the snow store level ``hs`` in mm, the temperature
``temp`` in °C and the melt coefficient ``kmlt`` in mm/°C per time step. As in smash, a
snowfall below 0 or a temperature at or below -99 marks missing data.

The snow operator runs before the hydrological one, whose rainfall input is then the liquid
precipitation plus the melt (:func:`hydrograd.core.simulate.simulate` adds them).
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

Array = jnp.ndarray

MISSING_TEMPERATURE = -99.0
"""Temperatures at or below this value (°C) are missing (smash's fill value)."""

# Largest exponent of the partitioning curve worth evaluating: beyond it ``exp`` would overflow
# single precision, and the rain share is 1 to the last digit anyway.
_LARGEST_EXPONENT = 88.0


def ssn_step(params: dict[str, Array], states: dict[str, Array], snow: Array, temp: Array):
    """One time step of the degree-day snow store: returns ``({"hs": hs}, {"mlt": mlt})``.

    The snowfall joins the store, ``hs* = hs + snow``; the store then releases
    ``mlt = min(hs*, max(0, kmlt temp))`` (mm/dt) and keeps ``hs* - mlt``. Where snowfall or
    temperature is missing the store is left as it is and nothing melts.
    """
    hs = states["hs"]
    valid = (snow >= 0.0) & (temp > MISSING_TEMPERATURE)
    filled = hs + snow
    mlt = jnp.minimum(jnp.maximum(0.0, params["kmlt"] * temp), filled)
    return {"hs": jnp.where(valid, filled - mlt, hs)}, {"mlt": jnp.where(valid, mlt, 0.0)}


def liquid_ratio(temp: Any, xp: Any = jnp) -> Any:
    """Share of precipitation that falls as rain at temperature ``temp`` (°C), smash's S-curve
    ``1 - 1 / (1 + exp(2.5 temp - 1))``; 1 where the temperature is missing (all rain).

    ``xp`` is the array module (``numpy`` for host arrays, the input side's case). On the host the
    exponent and its exponential are each computed in double precision and rounded once to
    ``temp``'s precision, as smash's compiled single-precision code gets them (a fused multiply-add,
    and an ``exp`` that is correctly rounded but for about one value in 50,000, where smash's is
    one unit in the last place off): smash's bits elsewhere.
    """
    temp = xp.asarray(temp)
    wide = np.float64 if xp is np else temp.dtype
    exponent = xp.minimum(2.5 * temp.astype(wide) - 1.0, _LARGEST_EXPONENT).astype(temp.dtype)
    growth = xp.exp(exponent.astype(wide)).astype(temp.dtype)
    ratio = 1.0 - 1.0 / (1.0 + growth)
    return xp.where(temp > MISSING_TEMPERATURE, ratio, 1.0).astype(temp.dtype)


def partition_precipitation(prcp: Any, snow: Any, temp: Any, xp: Any = jnp) -> tuple[Any, Any]:
    """smash's ``prcp_partitioning``: the precipitation split into rain and snow by temperature.

    ``prcp`` and ``snow`` (mm/dt) and ``temp`` (°C) have the same shape (smash applies it to the
    grids of every time step, once the inputs are read). Snowfall, where available, is first added
    to the precipitation, ``total = prcp + snow``; then ``snow = (1 - liquid_ratio(temp)) total``
    and ``prcp = total - snow``. Where ``total`` is below 0 (missing), ``prcp`` keeps it and
    ``snow`` is -99. As in smash, a missing ``prcp`` (-99) with a snowfall present gives
    ``total = snow - 99``. Without snow data, pass ``snow`` filled with -99 (smash's fill value).

    Returns the new ``(prcp, snow)``; ``xp`` is the array module (``numpy`` on the host).
    """
    prcp, snow = xp.asarray(prcp), xp.asarray(snow)
    total = xp.where(snow >= 0.0, prcp + snow, prcp)
    solid = (1.0 - liquid_ratio(temp, xp)) * total
    available = total >= 0.0
    rain = xp.where(available, total - solid, total)
    return rain.astype(prcp.dtype), xp.where(available, solid, -99.0).astype(snow.dtype)
