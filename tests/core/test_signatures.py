"""Signatures and signature cost components against smash's compiled signatures and costs."""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import hydrograd
from hydrograd.config.cost_options import observation_cost_spec
from hydrograd.config.facts import ModelFacts
from hydrograd.core import signatures as sig
from hydrograd.core.cost import CostData, ObservationCost, component_values, observation_cost
from hydrograd.simulation.cost import cost_data

fsig = pytest.importorskip("smash.fcore._mwd_signatures")
smash = pytest.importorskip("smash")

FLOW_QUANTILES = {"Cfp2": 0.02, "Cfp10": 0.1, "Cfp50": 0.5, "Cfp90": 0.9}


def _reference(name: str, p: np.ndarray, q: np.ndarray) -> float:
    """smash's compiled signature ``name`` of ``(p, q)``."""
    kind = name[1:]
    if name in FLOW_QUANTILES:
        return float(fsig.cfp(q, FLOW_QUANTILES[name]))
    if kind in ("ff", "bf", "pf"):
        return float(getattr(fsig, "e" + kind)(q))
    if kind == "lt":
        return float(fsig.elt(p, q))
    return float(getattr(fsig, kind)(p, q))


def _series(seed: int, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Rain (m3/s, sparse) and discharge with missing values (-99) in both."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 300)) if n is None else n
    q = rng.gamma(0.8, 5.0, n).astype(np.float32)
    p = (rng.gamma(0.5, 8.0, n) * (rng.uniform(size=n) < 0.4)).astype(np.float32)
    q[rng.uniform(size=n) < 0.1] = -99.0
    p[rng.uniform(size=n) < 0.05] = -99.0
    return p, q


SEEDS = range(12)


@pytest.fixture(scope="module")
def random_batch():
    """Series of one length (one compilation) and a few short ones."""
    pairs = [_series(s, 240) for s in SEEDS]
    return np.stack([p for p, _ in pairs]), np.stack([q for _, q in pairs])


@pytest.mark.parity
def test_baseflow_separation_matches_smash():
    for seed in range(5):
        _, q = _series(seed, 200)
        known = q[q >= 0]
        base, quick = np.zeros_like(known), np.zeros_like(known)
        fsig.baseflow_separation(known, base, quick, 0.925, 3)
        got_base, got_quick = sig.baseflow_separation(jnp.asarray(q))
        np.testing.assert_allclose(np.asarray(got_base)[q >= 0], base, rtol=2e-6, atol=1e-6 * known.max())
        np.testing.assert_allclose(np.asarray(got_quick)[q >= 0], quick, rtol=2e-6, atol=1e-6 * known.max())
        assert np.all(np.asarray(got_base)[q < 0] == 0)


@pytest.mark.parity
def test_continuous_signatures_match_smash_on_random_series_with_gaps(random_batch):
    p, q = random_batch
    got = np.asarray(sig.continuous_signatures(sig.CONTINUOUS_SIGNATURES, p, q))
    for row in range(p.shape[0]):
        expected = [_reference(n, p[row], q[row]) for n in sig.CONTINUOUS_SIGNATURES]
        np.testing.assert_allclose(got[row], expected, rtol=2e-5, atol=1e-7, err_msg=f"series {row}")


@pytest.mark.parity
def test_event_signatures_match_smash_per_event(random_batch):
    p, q = random_batch
    labels = np.zeros(q.shape, np.int32)
    bounds = [(0, 30), (31, 31), (35, 100), (140, 239)]  # includes a one-step event
    for k, (a, b) in enumerate(bounds, start=1):
        labels[:, a : b + 1] = k
    got = np.asarray(sig.event_signatures(sig.EVENT_SIGNATURES, p, q, labels, len(bounds) + 1))
    for row in range(p.shape[0]):
        for k, (a, b) in enumerate(bounds):
            expected = [_reference(n, p[row, a : b + 1], q[row, a : b + 1]) for n in sig.EVENT_SIGNATURES]
            np.testing.assert_allclose(got[row, k], expected, rtol=2e-5, atol=1e-7, err_msg=f"{row}, event {k}")
        assert np.all(got[row, len(bounds)] == -99.0)  # absent event


@pytest.mark.parity
def test_short_and_degenerate_series_match_smash():
    cases = [
        (np.array([1.0, 2.0], np.float32), np.array([3.0, 1.0], np.float32)),
        (np.array([1.0, -99.0, 2.0], np.float32), np.array([-99.0, 1.0, 1.0], np.float32)),
        (np.zeros(5, np.float32), np.zeros(5, np.float32)),
        (np.full(4, -99.0, np.float32), np.full(4, -99.0, np.float32)),
        (np.ones(6, np.float32), np.full(6, 2.0, np.float32)),
    ]
    # padding with missing values leaves every signature unchanged: one batch, one compilation
    p = np.stack([np.pad(a, (0, 6 - a.size), constant_values=-99.0) for a, _ in cases])
    q = np.stack([np.pad(b, (0, 6 - b.size), constant_values=-99.0) for _, b in cases])
    cont = np.asarray(sig.continuous_signatures(sig.CONTINUOUS_SIGNATURES, p, q))
    event = np.asarray(sig.event_signatures(sig.EVENT_SIGNATURES, p, q, np.ones(p.shape, np.int32), 1))[:, 0]
    for row, (a, b) in enumerate(cases):
        expected = [_reference(n, a, b) for n in sig.CONTINUOUS_SIGNATURES]
        np.testing.assert_allclose(cont[row], expected, rtol=2e-6, err_msg=f"{a}, {b}")
        expected = [_reference(n, a, b) for n in sig.EVENT_SIGNATURES]
        np.testing.assert_allclose(event[row], expected, rtol=2e-6, err_msg=f"{a}, {b}")


def _reference_component(name, qo, qs, mprcp, mask, n_event):
    """smash's cost component for one gauge, following its definition step by step."""
    qs = np.where(qo < 0, np.float32(-99.0), qs)
    if name in sig.CONTINUOUS_SIGNATURES:
        obs = _reference(name, mprcp, qo)
        return (_reference(name, mprcp, qs) / obs - 1) ** 2 if obs > 0 else 0.0
    total, count = 0.0, 0
    for k in range(1, n_event + 1):
        where = np.flatnonzero(mask == k)
        if where.size == 0:
            continue
        window = slice(where[0], where[-1] + 1)
        obs = _reference(name, mprcp[window], qo[window])
        if obs > 0:
            total += (_reference(name, mprcp[window], qs[window]) / obs - 1) ** 2
            count += 1
    return total / count if count else np.nan


@pytest.mark.parity
def test_signature_components_follow_smash_cost_definition():
    rng = np.random.default_rng(3)
    ng, n = 3, 200
    pq = [_series(s, n) for s in (20, 21, 22)]
    mprcp = np.stack([p for p, _ in pq])
    qo = np.stack([q for _, q in pq])
    qs = np.where(qo >= 0, qo, 5.0) * rng.uniform(0.6, 1.4, qo.shape).astype(np.float32)
    mask = np.zeros((ng, n), np.int32)
    mask[0, 0:20], mask[0, 30:80], mask[0, 120:190] = 3, 4, 5  # ids 1, 2 cut off by the window
    mask[1, 10:60], mask[1, 70:150] = 1, 2
    mask[1, 160:200] = 3  # above n_event: ignored
    n_event = np.array([5, 2, 0], np.int32)
    got = np.asarray(sig.signature_components(sig.SIGNATURES, qo, qs, mprcp, mask, n_event))
    for g in range(ng):
        expected = [_reference_component(n, qo[g], qs[g], mprcp[g], mask[g], n_event[g]) for n in sig.SIGNATURES]
        np.testing.assert_allclose(got[g], expected, rtol=5e-5, atol=1e-7, err_msg=f"gauge {g}")
    assert np.isnan(got[2, len(sig.CONTINUOUS_SIGNATURES) :]).all()  # no event: NaN, as smash
    one = np.asarray(sig.signature_component("Erc", qo, qs, mprcp, mask, n_event))
    np.testing.assert_array_equal(one, got[:, sig.SIGNATURES.index("Erc")])


def test_signature_gradients_are_finite():
    p, qo = _series(5, 150)
    qo[:10] = 0.0  # zero flow
    qo[40:50] = 3.0  # flat stretch
    mask = np.zeros_like(qo, dtype=np.int32)
    mask[20:70], mask[100:140] = 1, 2
    qo, p, mask = qo[None], p[None], mask[None]
    n_event = np.array([2], np.int32)
    qs0 = jnp.asarray(np.where(qo >= 0, qo, 1.0) * 1.1 + 0.05)

    def loss(qs, n):
        return jnp.nansum(sig.signature_components(sig.SIGNATURES, qo, qs, p, mask, n))

    gradient = jax.jit(jax.grad(loss))
    for n in (n_event, n_event * 0):  # with events, and none (NaN event components)
        grad = gradient(qs0, n)
        assert np.all(np.isfinite(np.asarray(grad)))
        assert np.any(np.asarray(grad) != 0)
        assert np.all(np.asarray(grad)[qo < 0] == 0)  # missing observations do not count

    def crc(qs):
        return sig.signature_component("Crc", qo, qs, p)[0]

    direction = jnp.asarray(np.random.default_rng(0).normal(size=qo.shape).astype(np.float32))
    eps = 1e-2
    numeric = (crc(qs0 + eps * direction) - crc(qs0 - eps * direction)) / (2 * eps)
    analytic = jnp.vdot(jax.grad(crc)(qs0), direction)
    assert float(analytic) == pytest.approx(float(numeric), rel=1e-2)


def test_signature_components_batch_under_vmap():
    p, qo = _series(7, 120)
    mask = np.zeros((1, 120), np.int32)
    mask[0, 10:50], mask[0, 60:110] = 1, 2
    names = ("Crc", "Crchf", "Eff", "Epf")
    sims = jnp.asarray(np.where(qo >= 0, qo, 1.0)[None, None] * np.array([0.8, 1.3], np.float32)[:, None, None])

    def one(qs):
        return sig.signature_components(names, qo[None], qs, p[None], mask, np.array([2], np.int32))

    batched = np.asarray(jax.vmap(one)(sims))
    np.testing.assert_allclose(batched, np.stack([np.asarray(one(s)) for s in sims]), rtol=1e-6)


def test_component_values_need_cost_data():
    obs = jnp.asarray(_series(1, 50)[1].clip(0.5).reshape(2, 25))
    spec = ObservationCost(("nse", "Crc"), (0.5, 0.5), ("keep", "keep"), 0, (0, 1), (0.5, 0.5))
    with pytest.raises(ValueError, match="Crc"):
        component_values(obs, obs, spec)
    data = CostData(jnp.ones((2, 25)), jnp.zeros((2, 25), jnp.int32), jnp.zeros(2, jnp.int32))
    assert np.isfinite(np.asarray(component_values(obs * 1.1, obs, spec, data))).all()
    jitted = jax.jit(observation_cost, static_argnums=2)
    assert float(jitted(obs * 1.1, obs, spec, data)) == pytest.approx(
        float(observation_cost(obs * 1.1, obs, spec, data))
    )


def _spec(cost_options):
    start, end = pd.Timestamp("2020-01-01"), pd.Timestamp("2020-02-01")
    facts = ModelFacts(
        structure="zero-gr4-lr",
        hydrological_module="gr4",
        rr_parameters=("ci", "cp", "ct", "kexc", "llr"),
        rr_states=("hi", "hp", "ht", "hlr"),
        nn_parameters=(),
        nn_shapes={},
        current={},
        descriptor_names=(),
        grid_shape=(2, 2),
        nac=4,
        gauge_codes=("A", "B"),
        outlet_gauges=np.array([True, False]),
        start=start,
        end=end,
        dt=86400.0,
        time_index=pd.date_range(start, end, freq="D")[1:],
    )
    return observation_cost_spec(cost_options, facts)


def test_cost_options_accept_signatures_and_event_seg():
    spec = _spec({"jobs_cmpt": ["NSE", "crc", "EPF"], "event_seg": {"peak_quant": 0.9, "max_duration": 48}})
    assert spec.components == ("nse", "Crc", "Epf")
    assert spec.event_seg == (0.9, 0.0, 48.0)
    assert spec.needs_data and spec.needs_events
    assert not _spec({"jobs_cmpt": "kge"}).needs_data


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"jobs_cmpt": ["nse", "Crcc"]}, "Crcc.*Did you mean 'Crc'"),
        ({"jobs_cmpt": "Epf", "event_seg": {"peak_quantt": 0.9}}, "peak_quantt.*Did you mean 'peak_quant'"),
        ({"jobs_cmpt": "Epf", "event_seg": {"by": "obs"}}, "'by'"),
        ({"jobs_cmpt": "Epf", "event_seg": {"peak_quant": 1.5}}, "peak_quant"),
        ({"jobs_cmpt": "Epf", "event_seg": {"peak_value": -1}}, "peak_value"),
        ({"jobs_cmpt": "Epf", "event_seg": {"max_duration": 0}}, "max_duration"),
        ({"jobs_cmpt": ["nse", "Crc"], "jobs_cmpt_tfm": ["keep", "sqrt"]}, "sqrt.*Crc"),
    ],
)
def test_bad_signature_cost_options_are_rejected(options, message):
    with pytest.raises(ValueError, match=message):
        _spec(options)


def test_bad_event_seg_types_are_rejected():
    with pytest.raises(TypeError, match="event_seg"):
        _spec({"jobs_cmpt": "Epf", "event_seg": [0.9]})
    with pytest.raises(TypeError, match="peak_quant"):
        _spec({"jobs_cmpt": "Epf", "event_seg": {"peak_quant": "high"}})


@pytest.fixture(scope="module")
def lez_pair():
    setup, mesh = smash.factory.load_dataset("Lez")
    reference = smash.Model(setup, mesh)
    setup, mesh = hydrograd.factory.load_dataset("Lez")
    return reference, hydrograd.Model(setup, mesh, verbose=False)


@pytest.mark.parity
def test_signatures_on_lez_observations_match_smash(lez_pair):
    _, ours = lez_pair
    spec = observation_cost_spec({"jobs_cmpt": "Crc", "gauge": "all"}, ours.facts())
    codes = list(ours.mesh.code)
    data = cost_data(spec, ours.response_data.q, ours.atmos_data.mean_prcp, ours.mesh.area_dln, ours.setup.dt, codes)
    p, q = np.asarray(data.mean_prcp), ours.response_data.q
    got = np.asarray(sig.continuous_signatures(sig.CONTINUOUS_SIGNATURES, p, q))
    for g in range(q.shape[0]):
        expected = [_reference(n, p[g], q[g]) for n in sig.CONTINUOUS_SIGNATURES]
        np.testing.assert_allclose(got[g], expected, rtol=2e-6)


COST_CASES = [
    {"jobs_cmpt": ["nse", "Crc", "Epf"]},
    {"jobs_cmpt": ["nse", "Crc", "Epf"], "gauge": "all", "end_warmup": "2012-10-01", "event_seg": {"peak_quant": 0.9}},
    {"jobs_cmpt": list(sig.SIGNATURES), "gauge": "all", "wgauge": "median", "event_seg": {"peak_quant": 0.95}},
    {"jobs_cmpt": ["kge", "nse", "Crchf", "Eff"], "jobs_cmpt_tfm": ["sqrt", "keep", "keep", "keep"], "gauge": "all"},
]


@pytest.mark.parity
def test_forward_run_cost_with_signatures_matches_smash(lez_pair):
    reference, ours = lez_pair
    quiet = {"verbose": False}
    for options in COST_CASES:
        _, expected = smash.forward_run(reference, dict(options), quiet, {"cost": True})
        _, got = hydrograd.forward_run(ours, dict(options), quiet, {"cost": True})
        assert got.cost == pytest.approx(expected.cost, rel=2e-5), options


@pytest.mark.parity
def test_forward_run_without_events_is_nan_like_smash(lez_pair):
    reference, ours = lez_pair
    options = {"jobs_cmpt": ["nse", "Epf"], "event_seg": {"peak_value": 1e6}}
    _, expected = smash.forward_run(reference, dict(options), {"verbose": False}, {"cost": True})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, got = hydrograd.forward_run(ours, dict(options), {"verbose": False}, {"cost": True})
    assert np.isnan(expected.cost) and np.isnan(got.cost)
    assert any("No flood event" in str(w.message) for w in caught)
