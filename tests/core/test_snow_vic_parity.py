"""Parity of the ``ssn`` snow module, smash's precipitation partitioning and the ``vic3l`` structure
with hydro-smash 1.3.0 on Cance (hourly, ten days with two storms), at the core level.

Cance has no snow data: both packages get the same synthetic snowfall and temperature fields
(written into smash's input arrays after its model is built), with missing values among them.
hydrograd's core ``simulate`` runs on smash's forcing, parameters and initial states, taken on
the active cells in the flow graph's order.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

import hydrograd
from hydrograd.core.parameters import RR_PARAMETERS, RR_STATES
from hydrograd.core.registry import get_structure
from hydrograd.core.simulate import Forcing, Record, is_complete, simulate_jit
from hydrograd.core.structures.hybrid import make_flux_correction
from hydrograd.core.structures.snow import partition_precipitation

smash = pytest.importorskip("smash")

pytestmark = pytest.mark.parity

PERIOD = {"start_time": "2014-10-06 00:00", "end_time": "2014-10-16 00:00"}
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


@pytest.fixture(scope="module")
def cance():
    """smash's Cance setup and mesh over ``PERIOD``, and a hydrograd model for the flow graph and
    the active-cell order."""
    setup, mesh = smash.factory.load_dataset("Cance")
    ours_setup, ours_mesh = hydrograd.factory.load_dataset("Cance")
    ours = hydrograd.Model({**ours_setup, **PERIOD}, ours_mesh, verbose=False)
    return {**setup, **PERIOD}, mesh, ours


def _reference(cance, snow: str, hydrological: str, routing: str, hidden: tuple[int, ...] | None = None):
    setup, mesh, _ = cance
    keys = {"snow_module": snow, "hydrological_module": hydrological, "routing_module": routing}
    if hidden is not None:
        keys["hidden_neuron"] = list(hidden)
    return smash.Model({**setup, **keys}, mesh)


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


def _draw(reference, seed: int) -> None:
    """In-range random parameter and initial-state maps, set into ``reference`` (``llr`` in 0.5 to 50
    one-hour steps)."""
    rng = np.random.default_rng(seed)
    shape = reference.mesh.flwdir.shape
    for table, keys, setter in (
        (RR_PARAMETERS, reference.rr_parameters.keys, reference.set_rr_parameters),
        (RR_STATES, reference.rr_initial_states.keys, reference.set_rr_initial_states),
    ):
        for key in keys:
            low, high = RANGES.get(key, table[key].bounds)
            setter(key, rng.uniform(low, high, shape).astype(np.float32))


def _core_run(cance, reference, structure, *, snow=True, flux_correction=None):
    """hydrograd's core run on ``reference``'s forcing, parameters and initial states."""
    _, _, ours = cance
    data = reference.atmos_data
    layout = ours.layout
    fields = {name: layout.series_to_active(getattr(data, name)) for name in ("prcp", "pet")}
    if snow:
        fields.update({name: layout.series_to_active(getattr(data, name)) for name in ("snow", "temp")})
    forcing = Forcing(**fields, complete=is_complete(fields["prcp"], fields["pet"]))
    inputs = ours.core_inputs().replace(
        structure=structure,
        params={k: layout.to_active(reference.get_rr_parameters(k)) for k in structure.parameters},
        initial_states={k: layout.to_active(reference.get_rr_initial_states(k)) for k in structure.states},
        forcing=forcing,
        flux_correction=flux_correction,
    )
    return simulate_jit(inputs, Record(fluxes=True))


def _assert_close(out, reference, cance, fluxes: tuple[str, ...] = (), state_tolerance: float = 1e-4) -> None:
    """Discharge and ``fluxes`` within 1e-4 of the reference's largest value, final states within
    ``state_tolerance`` of theirs."""
    _, _, ours = cance
    ret = reference.forward_run(common_options={"verbose": False}, return_options={"internal_fluxes": True})
    peak = np.abs(reference.response.q).max()
    assert peak > 0
    np.testing.assert_allclose(np.asarray(out.q), reference.response.q, rtol=0, atol=1e-4 * peak)
    for key, value in out.final_states.items():
        expected = ours.layout.to_active(reference.get_rr_final_states(key))
        scale = max(float(np.abs(expected).max()), 1e-6)
        np.testing.assert_allclose(value, expected, rtol=0, atol=state_tolerance * scale, err_msg=key)
    for key in fluxes:
        expected = ours.layout.series_to_active(ret.internal_fluxes[key])
        scale = max(float(np.abs(expected).max()), 1e-6)
        np.testing.assert_allclose(out.fluxes[key], expected, rtol=0, atol=1e-4 * scale, err_msg=key)


@pytest.mark.parametrize(
    ("hydrological", "routing"),
    [("gr4", "zero"), ("gr4", "lag0"), ("gr4", "lr"), ("gr4", "kw"), ("grd", "lr"), ("vic3l", "kw")],
)
def test_snow_module_matches_reference(cance, hydrological, routing):
    reference = _reference(cance, "ssn", hydrological, routing)
    seed = len(hydrological) + len(routing)
    reference.atmos_data.snow[...], reference.atmos_data.temp[...] = _snow_and_temperature(
        reference.atmos_data.snow.shape, seed
    )
    _draw(reference, seed)
    out = _core_run(cance, reference, get_structure("ssn", hydrological, routing))
    assert float(jnp.max(out.fluxes["mlt"])) > 1.0
    tolerance = VIC_STATE_TOLERANCE if hydrological == "vic3l" else 1e-4
    _assert_close(out, reference, cance, fluxes=("mlt",), state_tolerance=tolerance)


def test_snow_module_with_a_hybrid_structure_matches_reference(cance):
    reference = _reference(cance, "ssn", "gr4_mlp", "lr", hidden=(8,))
    reference.atmos_data.snow[...], reference.atmos_data.temp[...] = _snow_and_temperature(
        reference.atmos_data.snow.shape, 7
    )
    _draw(reference, 7)
    rng = np.random.default_rng(7)
    weights = [rng.normal(0.0, 0.3, w.shape).astype(np.float32) for w in reference.get_nn_parameters_weight()]
    biases = [rng.normal(0.0, 0.1, b.shape).astype(np.float32) for b in reference.get_nn_parameters_bias()]
    reference.set_nn_parameters_weight(value=weights)
    reference.set_nn_parameters_bias(value=biases)
    hook = make_flux_correction(weights, biases)
    out = _core_run(cance, reference, get_structure("ssn", "gr4_mlp", "lr"), flux_correction=hook)
    _assert_close(out, reference, cance, fluxes=("mlt",))


def test_precipitation_partitioning_matches_reference(cance):
    from smash.fcore._mw_atmos_statistic import compute_prcp_partitioning

    reference = _reference(cance, "ssn", "gr4", "lr")
    data = reference.atmos_data
    data.snow[...], data.temp[...] = _snow_and_temperature(data.snow.shape, 11)
    data.prcp[::5, ::3, 100:110] = -99.0  # missing rainfall, some of it beside snowfall
    prcp, snow, temp = data.prcp.copy(), data.snow.copy(), data.temp.copy()
    compute_prcp_partitioning(reference.setup, reference.mesh, reference._input_data)
    rain, solid = partition_precipitation(prcp, snow, temp, xp=np)
    assert rain.dtype == np.float32 and solid.dtype == np.float32
    # Within a few units in the last place of the total (``exp`` may round differently).
    ulp = np.spacing(np.abs(np.where(snow >= 0, prcp + snow, prcp)))
    assert (np.abs(rain - data.prcp) <= 4 * ulp).all() and (np.abs(solid - data.snow) <= 4 * ulp).all()
    np.testing.assert_array_equal(solid < 0, data.snow < 0)
    assert (solid > 0).mean() > 0.2 and (rain > 0).any()

    _draw(reference, 11)
    out = _core_run(cance, reference, get_structure("ssn", "gr4", "lr"))
    _assert_close(out, reference, cance)


def test_snow_module_without_snow_data_runs_as_zero(cance):
    """smash's ``ssn`` without ``read_snow``/``read_temp`` (its snowfall and temperature stay -99):
    the same discharge as ``zero``, its store unchanged; hydrograd's core without the two fields."""
    with_ssn = _reference(cance, "ssn", "gr4", "lr")
    without = _reference(cance, "zero", "gr4", "lr")
    _draw(with_ssn, 13)
    for key in without.rr_parameters.keys:
        without.set_rr_parameters(key, with_ssn.get_rr_parameters(key))
    for key in without.rr_initial_states.keys:
        without.set_rr_initial_states(key, with_ssn.get_rr_initial_states(key))
    with_ssn.forward_run(common_options={"verbose": False})
    without.forward_run(common_options={"verbose": False})
    np.testing.assert_array_equal(with_ssn.response.q, without.response.q)
    active = with_ssn.mesh.active_cell == 1
    np.testing.assert_array_equal(
        with_ssn.get_rr_final_states("hs")[active], with_ssn.get_rr_initial_states("hs")[active]
    )
    assert (with_ssn.atmos_data.mean_snow == -99).all() and (with_ssn.atmos_data.mean_temp == -99).all()

    _, _, ours = cance
    out = _core_run(cance, with_ssn, get_structure("ssn", "gr4", "lr"), snow=False)
    np.testing.assert_array_equal(out.final_states["hs"], ours.layout.to_active(with_ssn.get_rr_initial_states("hs")))
    np.testing.assert_array_equal(out.fluxes["mlt"], 0.0)
    _assert_close(out, with_ssn, cance)


@pytest.mark.parametrize("routing", ["zero", "lag0", "lr", "kw"])
def test_vic3l_matches_reference(cance, routing):
    reference = _reference(cance, "zero", "vic3l", routing)
    assert list(reference.rr_parameters.keys) == list(get_structure("zero", "vic3l", routing).parameters)
    _draw(reference, 20 + len(routing))
    out = _core_run(cance, reference, get_structure("zero", "vic3l", routing), snow=False)
    _assert_close(out, reference, cance, fluxes=("pn", "en", "qr", "qb"), state_tolerance=VIC_STATE_TOLERANCE)


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
