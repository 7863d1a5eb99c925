"""The control vector an optimizer moves, and its transforms.

Layout, as in smash: the coefficients of the calibrated rainfall-runoff parameters, then those
of the calibrated initial states (both following the mapping), then (Bayesian calibration) the
structural-error parameters of each calibrated gauge, then the hybrid network's weights and
biases. Each entry has a name (``cp-0``, ``cp-12-7``, ``cp-slope-a``, ``weight_1``...),
raw bounds and a bound flag ``nbd`` (0: unbounded, 2: bounded).

Transforms (smash's ``control_tfm``) apply to bounded entries: ``normalize`` maps ``[l, u]`` to
``[0, 1]``; ``sbs`` (for the step-by-step optimizer, on parameters and states only) uses
``asinh`` when the lower bound is negative, ``logit`` for bounds inside ``[0, 1]``, ``log``
otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

from hydrograd.core.mapping import Mapping

KEEP, ASINH, LOGIT, LOG, NORMALIZE = 0, 1, 2, 3, 4


@dataclass
class Control:
    """Raw control vector ``x0`` with its names, bounds, bound flags and per-entry transform."""

    x0: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    nbd: np.ndarray
    names: list[str]
    kinds: np.ndarray
    mapping: Mapping
    n_rr: int

    @property
    def size(self) -> int:
        return self.x0.size

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Raw -> transformed values (float32, as smash stores them)."""
        return _forward(np.asarray(x, np.float32), self.kinds, self.lower, self.upper)

    @property
    def lower_t(self) -> np.ndarray:
        return _forward(self.lower, self.kinds, self.lower, self.upper)

    @property
    def upper_t(self) -> np.ndarray:
        return _forward(self.upper, self.kinds, self.lower, self.upper)


def add_serr(control: Control, entries: list[tuple[str, float, tuple[float, float]]], control_tfm: str) -> Control:
    """Append structural-error entries ``(name, value, bounds)`` (bounded; normalized by the
    ``normalize`` transform, left raw by ``sbs`` as smash leaves them)."""
    n = len(entries)
    kind = NORMALIZE if control_tfm == "normalize" else KEEP
    return Control(
        x0=np.concatenate([control.x0, np.array([e[1] for e in entries], np.float32)]),
        lower=np.concatenate([control.lower, np.array([e[2][0] for e in entries], np.float32)]),
        upper=np.concatenate([control.upper, np.array([e[2][1] for e in entries], np.float32)]),
        nbd=np.concatenate([control.nbd, np.full(n, 2, np.int32)]),
        names=[*control.names, *(e[0] for e in entries)],
        kinds=np.concatenate([control.kinds, np.full(n, kind, np.int32)]),
        mapping=control.mapping,
        n_rr=control.n_rr,
    )


def add_network(control: Control, network: list[tuple[str, np.ndarray]]) -> Control:
    """Append the calibrated weights and biases of a hybrid structure's network (unbounded,
    untransformed), in smash's order and names: a weight ``(n_out, n_in)`` column by column
    (``weight_1-<out>-<in>``), a bias entry by entry (``bias_1-<out>``)."""
    values, names = [control.x0], list(control.names)
    for key, array in network:
        values.append(np.asarray(array, dtype=np.float32).ravel(order="F"))
        if array.ndim == 2:
            names += [f"{key}-{o + 1}-{i + 1}" for i in range(array.shape[1]) for o in range(array.shape[0])]
        else:
            names += [f"{key}-{o + 1}" for o in range(array.shape[0])]
    n = sum(v.size for v in values[1:])
    return Control(
        x0=np.concatenate(values),
        lower=np.concatenate([control.lower, np.full(n, -np.inf, np.float32)]),
        upper=np.concatenate([control.upper, np.full(n, np.inf, np.float32)]),
        nbd=np.concatenate([control.nbd, np.zeros(n, np.int32)]),
        names=names,
        kinds=np.concatenate([control.kinds, np.full(n, KEEP, np.int32)]),
        mapping=control.mapping,
        n_rr=control.n_rr,
    )


def _forward(x, kinds, lower, upper):
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(kinds == ASINH, np.arcsinh(x), x)
        out = np.where(kinds == LOGIT, np.log(x / (1.0 - x)), out)
        out = np.where(kinds == LOG, np.log(x), out)
        out = np.where(kinds == NORMALIZE, (x - lower) / (upper - lower), out)
    return out.astype(np.float32)


def untransform(x_t: jnp.ndarray, kinds: jnp.ndarray, lower: jnp.ndarray, upper: jnp.ndarray) -> jnp.ndarray:
    """Transformed -> raw values, differentiable; each branch only sees inputs it is defined on."""

    def only(kind, fill=0.0):
        return jnp.where(kinds == kind, x_t, fill)

    out = jnp.where(kinds == ASINH, jnp.sinh(only(ASINH)), x_t)
    logit = only(LOGIT)
    out = jnp.where(kinds == LOGIT, jnp.exp(logit) / (1.0 + jnp.exp(logit)), out)
    out = jnp.where(kinds == LOG, jnp.exp(only(LOG)), out)
    normalized = kinds == NORMALIZE
    low = jnp.where(normalized, lower, 0.0)
    high = jnp.where(normalized, upper, 1.0)
    return jnp.where(normalized, x_t * (high - low) + low, out)


def _inv_scaled_sigmoid(y: float, low: float, high: float) -> float:
    """Intercept giving ``y`` everywhere when descriptor coefficients are 0. Like smash, only the
    upper side is kept 1e-3 away from the bound."""
    y = np.float32(min(y, high - 1e-3))
    ratio = np.float32((y - low) / (high - low))
    return float(np.log(ratio / (np.float32(1.0) - ratio)))


def build_control(
    mapping: Mapping,
    current: dict[str, np.ndarray],
    rows: np.ndarray,
    cols: np.ndarray,
    descriptor_names: list[str],
    control_tfm: str,
) -> Control:
    """The control vector of ``mapping`` starting from the ``current`` values on active cells
    (name -> ``(nac,)``); entries for the network, if any, are appended by the caller."""
    x, low, high, nbd, names = [], [], [], [], []

    def add(values, new_names, bounds=None):
        """Entries ``values`` (a number or an array) named ``new_names``, bounded or not."""
        values = np.atleast_1d(np.asarray(values, dtype=np.float32))
        x.append(values)
        names.extend(new_names)
        n = values.size
        low.append(np.full(n, -np.inf if bounds is None else bounds[0], np.float32))
        high.append(np.full(n, np.inf if bounds is None else bounds[1], np.float32))
        nbd.append(np.full(n, 0 if bounds is None else 2, np.int32))

    # 1-based row and column of each cell, for the distributed mapping's names
    row_col = [f"{r}-{c}" for r, c in zip((rows + 1).tolist(), (cols + 1).tolist(), strict=True)]
    for i, name in enumerate(mapping.names):
        bounds = mapping.bounds[i]
        values = np.asarray(current[name], dtype=np.float32)
        mean = float(values.sum(dtype=np.float32) / np.float32(values.size))
        if mapping.kind == "uniform":
            add(mean, [f"{name}-0"], bounds)
        elif mapping.kind == "distributed":
            add(values, [f"{name}-{rc}" for rc in row_col], bounds)
        else:
            add(_inv_scaled_sigmoid(mean, *bounds), [f"{name}-0"])
            for d in mapping.descriptors[i]:
                add(0.0, [f"{name}-{descriptor_names[d]}-a"])
                if mapping.kind == "multi-power":
                    add(1.0, [f"{name}-{descriptor_names[d]}-b"], (0.5, 2.0))

    def joined(parts, dtype):
        return np.concatenate(parts) if parts else np.zeros(0, dtype)

    x0 = joined(x, np.float32)
    lower = joined(low, np.float32)
    upper = joined(high, np.float32)
    nbd_arr = joined(nbd, np.int32)
    kinds = np.zeros(x0.size, dtype=np.int32)
    if control_tfm == "normalize":
        kinds[nbd_arr == 2] = NORMALIZE
    elif control_tfm == "sbs":
        bounded = nbd_arr == 2
        kinds[bounded & (lower < 0)] = ASINH
        kinds[bounded & (lower >= 0) & (upper <= 1)] = LOGIT
        kinds[bounded & (lower >= 0) & (upper > 1)] = LOG
    return Control(x0, lower, upper, nbd_arr, names, kinds, mapping, x0.size)
