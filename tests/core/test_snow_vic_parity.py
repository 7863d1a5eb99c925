"""Parity of the ``ssn`` snow module, smash's precipitation partitioning and the ``vic3l`` structure
with hydro-smash 1.3.0 on Cance (hourly, ten days with two storms), through ``Model.forward_run``.

Cance has no snow data: both packages' models get the same synthetic snowfall and temperature
fields (written into their ``atmos_data`` once built), with missing values among them, and the
same parameter and initial-state maps. ``tests/test_snow_inputs.py`` reads such fields from
files.
"""

from __future__ import annotations

import numpy as np
import pytest

import hydrograd
from hydrograd.core.parameters import RR_PARAMETERS, RR_STATES
from hydrograd.core.registry import get_structure
from hydrograd.core.structures.snow import partition_precipitation

smash = pytest.importorskip("smash")
constant = pytest.importorskip("smash._constant")
HYDROLOGICAL_MODULE, ROUTING_MODULE = constant.HYDROLOGICAL_MODULE, constant.ROUTING_MODULE

pytestmark = pytest.mark.parity

PERIOD = {"start_time": "2014-10-06 00:00", "end_time": "2014-10-16 00:00"}
QUIET = {"verbose": False}
# Ranges narrower than the bounds where vic3l's explicit scheme amplifies rounding, so that the
# last digits of smash's and hydrograd's arithmetic decide the states (an independent float32
# replica of smash's operations lands as far from it): drainage ``ks h^pbc`` oscillates from step
# to step once ``ks pbc h^(pbc - 1) / cusl`` exceeds 2, and the baseflow above ``ws`` is the
# difference of two terms of size ``ds dsm / ws`` (see ``hydrograd.core.structures.vic.baseflow``).
# vic3l's soil layers drift apart by up to a few 1e-4 (in filling ratio) over the ten days: smash
# computes the infiltration as a difference of numbers of the size of the layers' capacity, whose
# single-precision error (about 1e-4 mm a step) hydrograd avoids (see
# ``hydrograd.core.structures.vic.infiltration``; against a float64 run, smash's layers are ten
# times further off than hydrograd's float32 ones).
VIC_STATE_TOLERANCE = 1e-3
RANGES = {
    "ks": (1.0, 20.0),
    "dsm": (1e-3, 1.0),
    "ws": (0.05, 0.95),
    "llr": (0.5, 50.0),
    "hs": (0.0, 50.0),
    "hlr": (1e-6, 10.0),
}


def _pair(snow: str, hydrological: str, routing: str, hidden: tuple[int, ...] | None = None):
    """smash's and hydrograd's models of Cance over ``PERIOD`` with these modules."""
    setup, mesh = smash.factory.load_dataset("Cance")
    setup.update(PERIOD, snow_module=snow, hydrological_module=hydrological, routing_module=routing)
    if hidden is not None:
        setup["hidden_neuron"] = list(hidden)
    return smash.Model(setup, mesh), hydrograd.Model(setup, mesh, verbose=False)


def _snow_and_temperature(shape: tuple[int, int, int], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(nrow, ncol, T)`` snowfall (mm/dt) and temperature (°C): a daily cycle around 0 °C with a
    north-south gradient, snowfall when cold, and about 4 % of each field missing (-99)."""
    rng = np.random.default_rng(seed)
    nrow, _, n = shape
    hours = np.arange(n)
    temp = 1.0 + 6.0 * np.sin(2.0 * np.pi * hours / 24.0) - 4.0 * (np.arange(nrow) / nrow)[:, None, None]
    temp = temp + rng.normal(0.0, 1.0, shape)
    snow = np.where(temp < 1.0, rng.gamma(0.5, 2.0, shape), 0.0)
    snow[rng.uniform(size=shape) < 0.04] = -99.0
    temp[rng.uniform(size=shape) < 0.04] = -99.0
    return snow.astype(np.float32), temp.astype(np.float32)


def _set_snow(models, seed: int) -> None:
    """The same synthetic snowfall and temperature in every model's ``atmos_data``."""
    snow, temp = _snow_and_temperature(models[0].atmos_data.snow.shape, seed)
    for model in models:
        model.atmos_data.snow[...] = snow
        model.atmos_data.temp[...] = temp


def _draw(models, seed: int) -> None:
    """The same in-range random parameter and initial-state maps in every model (``llr`` in 0.5 to
    50 one-hour steps). For the implicit-Euler structures the exchange is drawn non-positive, as in
    ``tests/simulation/test_structures_parity.py`` (a larger exchange gain leaves their implicit
    equation without a root, and both packages' states are rounding noise there)."""
    rng = np.random.default_rng(seed)
    implicit = models[0].setup.hydrological_module in ("gr4_ode", "gr4_ude")
    reference = models[0]
    shape = reference.mesh.flwdir.shape
    for table, keys, setter in (
        (RR_PARAMETERS, reference.rr_parameters.keys, "set_rr_parameters"),
        (RR_STATES, reference.rr_initial_states.keys, "set_rr_initial_states"),
    ):
        for key in keys:
            low, high = RANGES.get(key, table[key].bounds)
            if key == "kexc" and implicit:
                high = 0.0
            value = rng.uniform(low, high, shape).astype(np.float32)
            for model in models:
                getattr(model, setter)(key, value)


def _assert_close(reference, ours, fluxes: tuple[str, ...] = (), state_tolerance: float = 1e-4) -> None:
    """Both models run forward: discharge and ``fluxes`` within 1e-4 of the reference's largest
    value, final states within ``state_tolerance`` of theirs (active cells)."""
    options = {"internal_fluxes": True} if fluxes else None
    ret = reference.forward_run(common_options=QUIET, return_options=options)
    got = ours.forward_run(common_options=QUIET, return_options=options)
    peak = np.abs(reference.response.q).max()
    assert peak > 0
    np.testing.assert_allclose(ours.response.q, reference.response.q, rtol=0, atol=1e-4 * peak)
    active = ours.mesh.active_cell == 1
    for key in ours.rr_final_states.keys:
        expected = reference.get_rr_final_states(key)[active]
        scale = max(float(np.abs(expected).max()), 1e-6)
        value = ours.get_rr_final_states(key)[active]
        np.testing.assert_allclose(value, expected, rtol=0, atol=state_tolerance * scale, err_msg=key)
    for key in fluxes:
        expected = ret.internal_fluxes[key][active]
        scale = max(float(np.abs(expected).max()), 1e-6)
        np.testing.assert_allclose(got.internal_fluxes[key][active], expected, rtol=0, atol=1e-4 * scale, err_msg=key)


@pytest.mark.parametrize(
    ("hydrological", "routing"),
    [(module, ROUTING_MODULE[i % len(ROUTING_MODULE)]) for i, module in enumerate(HYDROLOGICAL_MODULE)],
)
def test_snow_module_matches_reference(hydrological, routing):
    """Every hydrological module of smash (hybrids with a random flux-correction network), each
    with one routing module in turn."""
    hybrid = hydrological.endswith(("mlp", "mlp_exc", "ude"))
    models = _pair("ssn", hydrological, routing, hidden=(8,) if hybrid else None)
    seed = HYDROLOGICAL_MODULE.index(hydrological)
    _set_snow(models, seed)
    _draw(models, seed)
    if hybrid:
        rng = np.random.default_rng(seed)
        reference = models[0]
        weights = [rng.normal(0.0, 0.3, w.shape).astype(np.float32) for w in reference.get_nn_parameters_weight()]
        biases = [rng.normal(0.0, 0.1, b.shape).astype(np.float32) for b in reference.get_nn_parameters_bias()]
        for model in models:
            model.set_nn_parameters_weight(value=weights)
            model.set_nn_parameters_bias(value=biases)
    tolerance = VIC_STATE_TOLERANCE if hydrological == "vic3l" else 1e-4
    _assert_close(*models, fluxes=("mlt",), state_tolerance=tolerance)
    assert models[1].get_rr_final_states("hs").max() > 1.0


def test_precipitation_partitioning_matches_reference():
    from smash.fcore._mw_atmos_statistic import compute_prcp_partitioning

    reference, ours = _pair("ssn", "gr4", "lr")
    data = reference.atmos_data
    data.snow[...], data.temp[...] = _snow_and_temperature(data.snow.shape, 11)
    data.prcp[::5, ::3, 100:110] = -99.0  # missing rainfall, some of it beside snowfall
    prcp, snow, temp = data.prcp.copy(), data.snow.copy(), data.temp.copy()
    compute_prcp_partitioning(reference.setup, reference.mesh, reference._input_data)
    rain, solid = partition_precipitation(prcp, snow, temp, xp=np)
    assert rain.dtype == np.float32 and solid.dtype == np.float32
    # smash's bits but for about one value in 50,000, where smash's ``exp`` is one unit in the last
    # place off: within a unit in the last place of the total
    for got, expected in ((rain, data.prcp), (solid, data.snow)):
        assert (got.view(np.uint32) != expected.view(np.uint32)).mean() < 1e-4
        ulp = np.spacing(np.abs(np.where(snow >= 0, prcp + snow, prcp)))
        assert (np.abs(got - expected) <= ulp).all()
    np.testing.assert_array_equal(solid < 0, data.snow < 0)
    assert (solid > 0).mean() > 0.2 and (rain > 0).any()

    for name in ("prcp", "snow", "temp"):
        getattr(ours.atmos_data, name)[...] = getattr(data, name)
    _draw((reference, ours), 11)
    _assert_close(reference, ours)


def test_snow_module_without_snow_data_runs_as_zero():
    """smash's ``ssn`` without ``read_snow``/``read_temp`` (its snowfall and temperature stay -99):
    the same discharge as ``zero``, its store unchanged; hydrograd's model leaves the two fields
    out of the core's forcing."""
    reference, ours = _pair("ssn", "gr4", "lr")
    without, _ = _pair("zero", "gr4", "lr")
    _draw((reference, ours), 13)
    for key in without.rr_parameters.keys:
        without.set_rr_parameters(key, reference.get_rr_parameters(key))
    for key in without.rr_initial_states.keys:
        without.set_rr_initial_states(key, reference.get_rr_initial_states(key))
    _assert_close(reference, ours, fluxes=("mlt",))
    without.forward_run(common_options=QUIET)
    np.testing.assert_array_equal(reference.response.q, without.response.q)
    active = ours.mesh.active_cell == 1
    for model in (reference, ours):
        hs = model.get_rr_final_states("hs")[active]
        np.testing.assert_array_equal(hs, model.get_rr_initial_states("hs")[active])
        assert (model.atmos_data.mean_snow == -99).all() and (model.atmos_data.mean_temp == -99).all()
    forcing = ours.core_inputs().forcing
    assert forcing.snow is None and forcing.temp is None


@pytest.mark.parametrize("routing", ["zero", "lag0", "lr", "kw"])
def test_vic3l_matches_reference(routing):
    models = _pair("zero", "vic3l", routing)
    assert list(models[0].rr_parameters.keys) == list(get_structure("zero", "vic3l", routing).parameters)
    _draw(models, 20 + len(routing))
    _assert_close(*models, fluxes=("pn", "en", "qr", "qb"), state_tolerance=VIC_STATE_TOLERANCE)


@pytest.mark.parametrize(("kind", "name"), [("snow", "ssn"), ("hydrological", "vic3l")])
def test_tables_match_smash(kind, name):
    """Names and order of parameters, states and fluxes, defaults, bounds and feasible domains."""
    from smash import _constant as constant

    from hydrograd.core.registry import HYDROLOGICAL_MODULES, SNOW_MODULES

    module = (SNOW_MODULES if kind == "snow" else HYDROLOGICAL_MODULES)[name]
    prefix = f"{kind.upper()}_MODULE"
    assert list(module.parameters) == getattr(constant, f"{prefix}_RR_PARAMETERS")[name]
    assert list(module.states) == getattr(constant, f"{prefix}_RR_STATES")[name]
    assert list(module.fluxes) == getattr(constant, f"{prefix}_RR_INTERNAL_FLUXES")[name]
    for table, names, defaults, bounds, feasible in (
        (
            RR_PARAMETERS,
            module.parameters,
            "DEFAULT_RR_PARAMETERS",
            "DEFAULT_BOUNDS_RR_PARAMETERS",
            "FEASIBLE_RR_PARAMETERS",
        ),
        (
            RR_STATES,
            module.states,
            "DEFAULT_RR_INITIAL_STATES",
            "DEFAULT_BOUNDS_RR_INITIAL_STATES",
            "FEASIBLE_RR_INITIAL_STATES",
        ),
    ):
        for key in names:
            spec = table[key]
            assert spec.default == getattr(constant, defaults)[key], key
            assert spec.bounds == tuple(getattr(constant, bounds)[key]), key
            assert spec.feasible == tuple(getattr(constant, feasible)[key]), key
    assert list(RR_PARAMETERS) == constant.RR_PARAMETERS and list(RR_STATES) == constant.RR_STATES
