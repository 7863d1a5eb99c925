"""Hydrological signatures of a discharge series, and the cost components built on them.

Everything here is pure JAX: no Python loop over time, finite gradients with respect to the
discharge, batched over leading axes (gauges, obs/sim pairs). Series have shape ``(..., ntime)``;
values below zero (smash's -99) and NaN are missing.

Signatures are evaluated over *segments*: an integer array of the series' shape labelling each
step 0 (left out) or ``1..n_segments``; each label must cover one contiguous run of steps. A
continuous signature is a single segment spanning the window; a flood-event signature has one
segment per event. As in smash, a signature that cannot be computed is -99.

Definitions (``p``: rainfall in m3/s-equivalent, ``q``: discharge in m3/s, sums over the segment):

- ``rc = sum q / sum p`` over steps where both are known (needs ``sum p > 0``);
- ``rchf = sum qf / sum p``, ``rclf = sum bf / sum p``, ``rch2r = sum qf / sum q``: same steps, at
  least two of them, ``bf``/``qf`` the baseflow/quickflow of those steps taken as one series;
- ``fp(x)``: x-quantile (linear interpolation) of the known discharges, at least two of them;
- ``ff = mean qf``, ``bf = mean bf`` over the known discharges (at least two);
- ``pf``: largest discharge above -99; ``lt``: index of the first largest discharge minus that of
  the first largest rainfall (both taken over values above -99), in time steps.

Baseflow separation: the three-pass recursive digital filter (parameter 0.925) smash uses. On the
known steps ``x_1..x_m`` of a segment, with ``a = 0.925`` and ``h = (1 - a) / 2``:

1. ``b_1 = x_1`` if ``x_1`` is below the 0.25-quantile of ``x``, else ``mean(x) / 1.5``; forward,
   ``b_i = min(a b_{i-1} + h (x_i + x_{i-1}), x_i)``;
2. with ``y = b``: ``b_m = x_m / 1.2`` if ``x_m < mean(y)``, else ``mean(y)``; backward,
   ``b_i = min(a b_{i+1} + h (y_i + y_{i+1}), y_i)``;
3. with ``z = b``: ``b_1 = x_1 / 1.2`` if ``x_1 < mean(z)``, else ``mean(z)``; forward,
   ``b_i = min(a b_{i-1} + h (z_i + z_{i-1}), z_i)``.

Baseflow is the final ``b``; quickflow is ``x - b`` except at the first step, where smash keeps
``x_1`` minus the value ``b_1`` had after the second pass (and zero for a one-step segment).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

Array = jnp.ndarray

MISSING = -99.0
FILTER_PARAMETER = 0.925

CONTINUOUS_SIGNATURES = ("Crc", "Crchf", "Crclf", "Crch2r", "Cfp2", "Cfp10", "Cfp50", "Cfp90")
EVENT_SIGNATURES = ("Eff", "Ebf", "Erc", "Erchf", "Erclf", "Erch2r", "Elt", "Epf")
SIGNATURES = CONTINUOUS_SIGNATURES + EVENT_SIGNATURES

# Signature name -> the quantity it measures (continuous and event names share them).
_KIND = {
    "Crc": "rc",
    "Erc": "rc",
    "Crchf": "rchf",
    "Erchf": "rchf",
    "Crclf": "rclf",
    "Erclf": "rclf",
    "Crch2r": "rch2r",
    "Erch2r": "rch2r",
    "Cfp2": "fp2",
    "Cfp10": "fp10",
    "Cfp50": "fp50",
    "Cfp90": "fp90",
    "Eff": "ff",
    "Ebf": "bf",
    "Elt": "lt",
    "Epf": "pf",
}
_FLOW_QUANTILE = {"fp2": 0.02, "fp10": 0.1, "fp50": 0.5, "fp90": 0.9}


def _f32(x: float) -> np.float32:
    return np.float32(x)


def _filter_step(prev_b: Array, prev_y: Array, y: Array) -> Array:
    """One filter update: ``min(a prev_b + h (y + prev_y), y)``, ties going to the filtered value."""
    a = _f32(FILTER_PARAMETER)
    h = (_f32(1.0) - a) / _f32(2.0)
    filtered = a * prev_b + h * (y + prev_y)
    return jnp.where(filtered > y, y, filtered)


def _filter_pass(y: Array, start: Array, is_start: Array, valid: Array, reverse: bool) -> Array:
    """Run the filter along the last axis over the valid steps of each segment, restarting from
    ``start`` where ``is_start``; invalid steps are skipped (their output is meaningless)."""

    def step(carry, x):
        prev_b, prev_y = carry
        y_t, start_t, is_start_t, valid_t = x
        b = jnp.where(is_start_t, start_t, _filter_step(prev_b, prev_y, y_t))
        carry = (jnp.where(valid_t, b, prev_b), jnp.where(valid_t, y_t, prev_y))
        return carry, b

    batch = y.shape[:-1]
    init = (jnp.zeros(batch, y.dtype), jnp.zeros(batch, y.dtype))
    xs = tuple(jnp.moveaxis(a, -1, 0) for a in (y, start, is_start, valid))
    _, out = jax.lax.scan(step, init, xs, reverse=reverse)
    return jnp.moveaxis(out, 0, -1)


class _Segments:
    """Per-segment reductions over the last axis of ``(B, T)`` arrays, for labels ``0..n``."""

    def __init__(self, labels: Array, n: int):
        self.batch, self.ntime = labels.shape
        self.n = n
        self.labels = labels
        offsets = (jnp.arange(self.batch, dtype=jnp.int32) * (n + 1))[:, None]
        self._flat = (labels + offsets).reshape(-1)
        self._size = self.batch * (n + 1)
        self.time = jnp.broadcast_to(jnp.arange(self.ntime, dtype=jnp.int32), labels.shape)

    def sum(self, x: Array) -> Array:
        out = jax.ops.segment_sum(x.reshape(-1), self._flat, num_segments=self._size)
        return out.reshape(self.batch, self.n + 1)

    def max(self, x: Array) -> Array:
        out = jax.ops.segment_max(x.reshape(-1), self._flat, num_segments=self._size)
        return out.reshape(self.batch, self.n + 1)

    def min(self, x: Array) -> Array:
        out = jax.ops.segment_min(x.reshape(-1), self._flat, num_segments=self._size)
        return out.reshape(self.batch, self.n + 1)

    def spread(self, per_segment: Array) -> Array:
        """Broadcast a ``(B, n + 1)`` per-segment value back onto the ``(B, T)`` steps."""
        return jnp.take_along_axis(per_segment, self.labels, axis=-1)

    def at(self, x: Array, index: Array) -> Array:
        """``x[b, index[b, s]]`` for a ``(B, n + 1)`` array of step indices (clipped into range)."""
        return jnp.take_along_axis(x, jnp.clip(index, 0, self.ntime - 1), axis=-1)

    def first(self) -> Array:
        """Index of the first step of each segment (``ntime`` when empty)."""
        return self.min(jnp.where(self.labels > 0, self.time, self.ntime))

    def last(self) -> Array:
        """Index of the last step of each segment (-1 when empty)."""
        return self.max(jnp.where(self.labels > 0, self.time, -1))

    def quantile(self, x: Array, p: float) -> Array:
        """Per-segment ``p``-quantile with linear interpolation between order statistics, in the
        single-precision arithmetic smash uses; a one-value segment gives that value."""
        key = jnp.where(self.labels > 0, self.labels, self.n + 1)
        _, ordered = jax.lax.sort((key, x), dimension=-1, num_keys=2)
        count = self.sum(jnp.ones_like(x, dtype=jnp.int32))
        count = count.at[:, 0].set(0)
        offset = jnp.cumsum(count, axis=-1) - count
        n_real = count.astype(x.dtype)
        frac = (n_real - _f32(1.0)) * _f32(p) + _f32(1.0)
        k = jnp.floor(frac).astype(jnp.int32)
        lowest = self.at(ordered, offset)
        highest = self.at(ordered, offset + count - 1)
        q1 = self.at(ordered, offset + k - 1)
        q2 = self.at(ordered, offset + k)
        inner = q1 + (q2 - q1) * (frac - k.astype(x.dtype))
        return jnp.where(frac <= 1.0, lowest, jnp.where(frac >= n_real, highest, inner))


def _baseflow(q: Array, seg: _Segments) -> tuple[Array, Array]:
    """Baseflow and quickflow ``(B, T)`` of each segment of ``seg`` (see the module docstring);
    zero outside segments."""
    valid = seg.labels > 0
    x = jnp.where(valid, q, 0.0)
    count = seg.sum(valid.astype(jnp.int32))
    n = jnp.maximum(count, 1).astype(q.dtype)
    first, last = seg.first(), seg.last()
    is_first = valid & (seg.time == seg.spread(first))
    is_last = valid & (seg.time == seg.spread(last))
    x_first, x_last = seg.at(x, first), seg.at(x, last)

    q25 = jax.lax.stop_gradient(seg.quantile(x, 0.25))
    start1 = jnp.where(x_first < q25, x_first, seg.sum(x) / n / _f32(1.5))
    b1 = _filter_pass(x, seg.spread(start1), is_first, valid, reverse=False)

    mean1 = seg.sum(jnp.where(valid, b1, 0.0)) / n
    start2 = jnp.where(x_last < mean1, x_last / _f32(1.2), mean1)
    b2 = _filter_pass(b1, seg.spread(start2), is_last, valid, reverse=True)

    mean2 = seg.sum(jnp.where(valid, b2, 0.0)) / n
    start3 = jnp.where(x_first < mean2, x_first / _f32(1.2), mean2)
    b3 = _filter_pass(b2, seg.spread(start3), is_first, valid, reverse=False)

    single = seg.spread(count) == 1
    quick = jnp.where(is_first, x - b2, x - b3)
    quick = jnp.where(single, 0.0, quick)
    return jnp.where(valid, b3, 0.0), jnp.where(valid, quick, 0.0)


def _safe_ratio(num: Array, den: Array, ok: Array) -> Array:
    """``num / den`` where ``ok`` (which must imply ``den != 0``), -99 elsewhere, NaN-free gradients."""
    return jnp.where(ok, num / jnp.where(ok, den, 1.0), MISSING)


class _SignatureSet:
    """Lazily computed signature kinds for ``(B, T)`` rainfall/discharge over labelled segments,
    sharing the baseflow separations between the kinds that use the same steps."""

    def __init__(self, p: Array, q: Array, labels: Array, n_segments: int):
        self.p, self.q = p, q
        self.labels = jnp.asarray(labels, jnp.int32)
        self.n_segments = n_segments
        self._cache: dict[str, object] = {}

    def _segments(self, keep: Array) -> _Segments:
        return _Segments(jnp.where(keep, self.labels, 0), self.n_segments)

    def _both_known(self) -> tuple[_Segments, Array]:
        if "both" not in self._cache:
            seg = self._segments((self.p >= 0.0) & (self.q >= 0.0))
            self._cache["both"] = (seg, seg.sum((seg.labels > 0).astype(jnp.int32)))
        return self._cache["both"]

    def _q_known(self) -> tuple[_Segments, Array]:
        if "q" not in self._cache:
            seg = self._segments(self.q >= 0.0)
            self._cache["q"] = (seg, seg.sum((seg.labels > 0).astype(jnp.int32)))
        return self._cache["q"]

    def _flow_parts(self, which: str) -> tuple[Array, Array]:
        key = f"baseflow_{which}"
        if key not in self._cache:
            seg, _ = self._both_known() if which == "both" else self._q_known()
            self._cache[key] = _baseflow(self.q, seg)
        return self._cache[key]

    def kind(self, name: str) -> Array:
        """Values ``(B, n_segments)`` of kind ``name`` for segments ``1..n_segments``."""
        if name not in self._cache:
            self._cache[name] = getattr(self, f"_{name}")()[:, 1:]
        return self._cache[name]

    def _sums_over_rain(self) -> tuple[_Segments, Array, Array, Array]:
        seg, count = self._both_known()
        rain = seg.sum(jnp.where(seg.labels > 0, self.p, 0.0))
        return seg, count, rain, rain > 0.0

    def _rc(self) -> Array:
        seg, _, rain, ok = self._sums_over_rain()
        return _safe_ratio(seg.sum(jnp.where(seg.labels > 0, self.q, 0.0)), rain, ok)

    def _rchf(self) -> Array:
        seg, count, rain, ok = self._sums_over_rain()
        _, quick = self._flow_parts("both")
        return _safe_ratio(seg.sum(quick), rain, ok & (count > 1))

    def _rclf(self) -> Array:
        seg, count, rain, ok = self._sums_over_rain()
        base, _ = self._flow_parts("both")
        return _safe_ratio(seg.sum(base), rain, ok & (count > 1))

    def _rch2r(self) -> Array:
        seg, count = self._both_known()
        _, quick = self._flow_parts("both")
        flow = seg.sum(jnp.where(seg.labels > 0, self.q, 0.0))
        return _safe_ratio(seg.sum(quick), flow, (count > 1) & (flow > 0.0))

    def _fp(self, p: float) -> Array:
        seg, count = self._q_known()
        value = seg.quantile(jnp.where(seg.labels > 0, self.q, 0.0), p)
        return jnp.where(count > 1, value, MISSING)

    def _fp2(self) -> Array:
        return self._fp(_FLOW_QUANTILE["fp2"])

    def _fp10(self) -> Array:
        return self._fp(_FLOW_QUANTILE["fp10"])

    def _fp50(self) -> Array:
        return self._fp(_FLOW_QUANTILE["fp50"])

    def _fp90(self) -> Array:
        return self._fp(_FLOW_QUANTILE["fp90"])

    def _ff(self) -> Array:
        seg, count = self._q_known()
        _, quick = self._flow_parts("q")
        return _safe_ratio(seg.sum(quick), count.astype(self.q.dtype), count > 1)

    def _bf(self) -> Array:
        seg, count = self._q_known()
        base, _ = self._flow_parts("q")
        return _safe_ratio(seg.sum(base), count.astype(self.q.dtype), count > 1)

    def _pf(self) -> Array:
        seg = self._segments(jnp.ones_like(self.labels, dtype=bool))
        top = seg.max(jnp.where(seg.labels > 0, self.q, MISSING))
        return jnp.maximum(top, MISSING)

    def _lt(self) -> Array:
        seg = self._segments(jnp.ones_like(self.labels, dtype=bool))
        inside = seg.labels > 0

        def first_max(x: Array) -> Array:
            x = jax.lax.stop_gradient(x)
            candidate = inside & (x > MISSING)
            top = seg.spread(seg.max(jnp.where(candidate, x, -jnp.inf)))
            return seg.min(jnp.where(candidate & (x == top), seg.time, seg.ntime))

        i_p, i_q = first_max(self.p), first_max(self.q)
        ok = (i_p < seg.ntime) & (i_q < seg.ntime)
        return jnp.where(ok, (i_q - i_p).astype(self.q.dtype), MISSING)


def _missing(x: Array) -> Array:
    """NaN marks a missing value as -99 does: both become -99 here."""
    return jnp.where(jnp.isnan(x), jnp.asarray(MISSING, x.dtype), x)


def _flatten(p: Array, q: Array, labels: Array) -> tuple[Array, Array, Array, tuple[int, ...]]:
    q = _missing(jnp.asarray(q))
    p = _missing(jnp.broadcast_to(jnp.asarray(p, q.dtype), q.shape))
    labels = jnp.broadcast_to(jnp.asarray(labels, jnp.int32), q.shape)
    batch = q.shape[:-1]
    ntime = q.shape[-1]
    return p.reshape(-1, ntime), q.reshape(-1, ntime), labels.reshape(-1, ntime), batch


def _check_names(names: Sequence[str], allowed: Sequence[str]) -> None:
    for name in names:
        if name not in allowed:
            raise ValueError(f"Unknown signature '{name}'. Choices: {list(allowed)}")


def baseflow_separation(q: Array) -> tuple[Array, Array]:
    """Baseflow and quickflow (m3/s) of a discharge series ``(..., ntime)``; missing steps are
    skipped (the filter runs over the known ones) and get zero."""
    return _baseflow_jit(jnp.asarray(q))


@jax.jit
def _baseflow_jit(q: Array) -> tuple[Array, Array]:
    flat = _missing(q).reshape(-1, q.shape[-1])
    labels = jnp.where(flat >= 0.0, 1, 0)
    base, quick = _baseflow(flat, _Segments(labels, 1))
    return base.reshape(q.shape), quick.reshape(q.shape)


def continuous_signatures(names: Sequence[str], p: Array, q: Array) -> Array:
    """Continuous signatures ``names`` (among ``CONTINUOUS_SIGNATURES``) of each series.

    ``p``: rainfall (m3/s-equivalent), ``q``: discharge (m3/s), both ``(..., ntime)``.
    Returns ``(..., len(names))``, -99 where a signature cannot be computed.
    """
    _check_names(names, CONTINUOUS_SIGNATURES)
    return _continuous_jit(tuple(names), p, q)


def _continuous(names: tuple[str, ...], p: Array, q: Array) -> Array:
    p2, q2, labels, batch = _flatten(p, q, jnp.ones(jnp.shape(q), jnp.int32))
    sigs = _SignatureSet(p2, q2, labels, 1)
    out = jnp.stack([sigs.kind(_KIND[n])[:, 0] for n in names], axis=-1)
    return out.reshape(*batch, len(names))


_continuous_jit = jax.jit(_continuous, static_argnums=0)


def event_signatures(names: Sequence[str], p: Array, q: Array, labels: Array, n_segments: int) -> Array:
    """Flood-event signatures ``names`` (among ``EVENT_SIGNATURES``) of each labelled event.

    ``labels`` ``(..., ntime)`` int: 0 outside events, ``k`` on the steps of event ``k``
    (``1 <= k <= n_segments``, each a contiguous run). Returns ``(..., n_segments, len(names))``,
    -99 for a signature that cannot be computed or an absent event. ``Elt`` is in time steps.
    """
    _check_names(names, EVENT_SIGNATURES)
    return _event_jit(tuple(names), p, q, labels, int(n_segments))


def _event(names: tuple[str, ...], p: Array, q: Array, labels: Array, n_segments: int) -> Array:
    p2, q2, labels2, batch = _flatten(p, q, labels)
    sigs = _SignatureSet(p2, q2, labels2, n_segments)
    out = jnp.stack([sigs.kind(_KIND[n]) for n in names], axis=-1)
    return out.reshape(*batch, n_segments, len(names))


_event_jit = jax.jit(_event, static_argnums=(0, 4))


def _event_labels(event_mask: Array, n_event: Array) -> Array:
    """Relabel a (possibly window-cut) event mask ``(ng, T)`` as ``1..`` in order of appearance,
    dropping ids above ``n_event``; every id must cover one contiguous run of steps."""
    mask = jnp.asarray(event_mask).astype(jnp.int32)
    mask = jnp.where(mask <= jnp.asarray(n_event, jnp.int32)[..., None], mask, 0)
    previous = jnp.concatenate([jnp.zeros_like(mask[..., :1]), mask[..., :-1]], axis=-1)
    starts = (mask > 0) & (mask != previous)
    return jnp.where(mask > 0, jnp.cumsum(starts.astype(jnp.int32), axis=-1), 0)


def signature_components(
    names: Sequence[str],
    qo: Array,
    qs: Array,
    mprcp: Array,
    event_mask: Array | None = None,
    n_event: Array | None = None,
) -> Array:
    """smash's cost component of each signature in ``names``, per gauge: ``(ng, len(names))``.

    ``qo``, ``qs``: observed and simulated discharge (m3/s), ``mprcp``: catchment-mean rainfall
    converted to m3/s (``mean_prcp * area_dln * 1e-3 / dt``), all ``(ng, T)`` over the cost window.
    Simulated values are dropped where the observation is missing. A continuous signature gives
    ``(S(qs) / S(qo) - 1)^2``, or 0 when ``S(qo) <= 0``. An event signature averages that over
    the events of ``event_mask`` (``(ng, T)`` int, event ids ``1..n_event``; ids above
    ``n_event`` ignored) with ``S(qo) > 0``; with no such event the value is NaN, as in smash
    (gradients stay finite).
    """
    _check_names(names, SIGNATURES)
    events = [n for n in names if n in EVENT_SIGNATURES]
    if events and (event_mask is None or n_event is None):
        raise ValueError(f"Event signature components {events} need 'event_mask' and 'n_event'")
    return _components_jit(tuple(names), qo, qs, mprcp, event_mask, n_event)


def _components(
    names: tuple[str, ...], qo: Array, qs: Array, mprcp: Array, event_mask: Array | None, n_event: Array | None
) -> Array:
    qo = _missing(jnp.asarray(qo))
    qs = jnp.where(qo < 0.0, jnp.asarray(MISSING, qo.dtype), jnp.asarray(qs, qo.dtype))
    p = _missing(jnp.broadcast_to(jnp.asarray(mprcp, qo.dtype), qo.shape))
    ng, ntime = qo.shape
    pair_p = jnp.concatenate([p, p], axis=0)
    pair_q = jnp.concatenate([qo, qs], axis=0)
    columns: dict[str, Array] = {}

    cont = [n for n in names if n in CONTINUOUS_SIGNATURES]
    if cont:
        sigs = _SignatureSet(pair_p, pair_q, jnp.ones(pair_q.shape, jnp.int32), 1)
        for name in cont:
            values = sigs.kind(_KIND[name])[:, 0]
            obs, sim = values[:ng], values[ng:]
            ok = obs > 0.0
            columns[name] = jnp.where(ok, (sim / jnp.where(ok, obs, 1.0) - 1.0) ** 2, 0.0)

    events = [n for n in names if n in EVENT_SIGNATURES]
    if events:
        labels = _event_labels(event_mask, n_event)
        present = jnp.zeros((ng, ntime + 1), bool).at[jnp.arange(ng)[:, None], labels].set(True)[:, 1:]
        sigs = _SignatureSet(pair_p, pair_q, jnp.concatenate([labels, labels], axis=0), ntime)
        for name in events:
            values = sigs.kind(_KIND[name])
            obs, sim = values[:ng], values[ng:]
            ok = present & (obs > 0.0)
            errors = jnp.where(ok, (sim / jnp.where(ok, obs, 1.0) - 1.0) ** 2, 0.0).sum(-1)
            n_ok = ok.sum(-1)
            columns[name] = jnp.where(n_ok > 0, errors / jnp.maximum(n_ok, 1).astype(qo.dtype), jnp.nan)

    return jnp.stack([columns[n] for n in names], axis=-1)


_components_jit = jax.jit(_components, static_argnums=0)


def signature_component(
    name: str,
    qo: Array,
    qs: Array,
    mprcp: Array,
    event_mask: Array | None = None,
    n_event: Array | None = None,
) -> Array:
    """smash's cost component for one signature, per gauge ``(ng,)``; see ``signature_components``."""
    return signature_components((name,), qo, qs, mprcp, event_mask, n_event)[:, 0]
