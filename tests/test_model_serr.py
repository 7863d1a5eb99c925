"""The structural-error model at the Model's level (``serr_mu_parameters``, ``serr_sigma_parameters``,
their getters, setters and bounds, ``get_serr_mu``, ``get_serr_sigma``), side by side with the
reference hydro-smash 1.3.0 on its Cance dataset, for every mean and deviation mapping."""

from __future__ import annotations

import contextlib
import io
import itertools

import numpy as np
import pytest

import hydrograd
from hydrograd.core.parameters import SERR_MU_MAPPINGS, SERR_SIGMA_MAPPINGS

QUIET = {"verbose": False}
MAPPINGS = list(itertools.zip_longest(SERR_MU_MAPPINGS, SERR_SIGMA_MAPPINGS, fillvalue="Linear"))
"""Every mean and every deviation mapping, in five pairs."""

RNG = np.random.default_rng(23)
VALUES = {
    "mg0": RNG.uniform(-2.0, 2.0, 3),
    "mg1": RNG.uniform(-0.5, 0.5, 3),
    "sg0": RNG.uniform(0.1, 3.0, 3),
    "sg1": RNG.uniform(0.05, 2.0, 3),
    "sg2": RNG.uniform(0.5, 3.0, 3),
}
"""Per-gauge values away from the defaults (Cance has three gauges)."""


@pytest.fixture(scope="module")
def smash():
    return pytest.importorskip("smash")


def _setups(smash, light: bool, **changes):
    """Cance's setup for smash and for hydrograd; ``light`` reads no input (a fast build)."""
    reading = dict.fromkeys(("read_prcp", "read_pet", "read_qobs", "read_descriptor"), False) if light else {}
    setup, mesh = smash.factory.load_dataset("Cance")
    ours, our_mesh = hydrograd.factory.load_dataset("Cance")
    return ({**setup, **reading, **changes}, mesh), ({**ours, **reading, **changes}, our_mesh)


def _pair(smash, light: bool = True, **changes):
    (setup, mesh), (ours, our_mesh) = _setups(smash, light, **changes)
    with contextlib.redirect_stdout(io.StringIO()):
        reference = smash.Model(setup, mesh)
    return reference, hydrograd.Model(ours, our_mesh, verbose=False)


@pytest.fixture(scope="module")
def run_pair(smash):
    """smash's and hydrograd's Cance models (smash's default mappings, Zero and Linear) after a
    forward run."""
    reference, ours = _pair(smash, light=False)
    reference.forward_run(common_options=QUIET)
    ours.forward_run(common_options=QUIET)
    return reference, ours


@pytest.fixture(scope="module", params=MAPPINGS, ids=lambda p: f"{p[0]}-{p[1]}")
def mapped_pair(request, smash):
    """A light pair per mapping pair (no run: ``response.q`` holds smash's -99)."""
    mu, sigma = request.param
    return _pair(smash, serr_mu_mapping=mu, serr_sigma_mapping=sigma)


def _set_values(model) -> None:
    for key in model.serr_mu_parameters.keys:
        model.set_serr_mu_parameters(str(key), VALUES[str(key)])
    for key in model.serr_sigma_parameters.keys:
        model.set_serr_sigma_parameters(str(key), VALUES[str(key)])


# ---- attributes and defaults ------------------------------------------------------------------


@pytest.mark.parity
def test_attributes_hold_smash_defaults(mapped_pair):
    reference, ours = mapped_pair
    for name in ("serr_mu_parameters", "serr_sigma_parameters"):
        expected, got = getattr(reference, name), getattr(ours, name)
        assert got.keys.tolist() == expected.keys.tolist(), name
        assert got.keys.shape == expected.keys.shape and got.keys.dtype.kind == "U", name
        assert got.values.dtype == np.float32 and got.values.shape == expected.values.shape, name
        np.testing.assert_array_equal(got.values, expected.values, err_msg=name)


@pytest.mark.parity
def test_a_mapping_without_parameters_holds_empty_arrays(run_pair):
    reference, ours = run_pair
    assert ours.setup.serr_mu_mapping == reference.setup.serr_mu_mapping == "Zero"
    assert ours.serr_mu_parameters.keys.shape == reference.serr_mu_parameters.keys.shape == (0,)
    assert ours.serr_mu_parameters.values.shape == reference.serr_mu_parameters.values.shape == (3, 0)
    assert ours.get_serr_mu_parameters_bounds() == reference.get_serr_mu_parameters_bounds() == {}
    with pytest.raises(ValueError, match=r"Unknown serr_mu_parameter 'mg0' for serr_mu_mapping 'Zero'"):
        ours.get_serr_mu_parameters("mg0")
    with pytest.raises(ValueError, match="Unknown model serr_mu_parameters 'mg0'"):
        reference.get_serr_mu_parameters("mg0")


@pytest.mark.parity
def test_bounds_are_smash_bounds(mapped_pair):
    reference, ours = mapped_pair
    for method in ("get_serr_mu_parameters_bounds", "get_serr_sigma_parameters_bounds"):
        assert list(getattr(ours, method)().items()) == list(getattr(reference, method)().items()), method


# ---- mu and sigma ---------------------------------------------------------------------------


@pytest.mark.parity
def test_mu_and_sigma_match_smash_for_every_mapping(mapped_pair, run_pair):
    """Bit for bit, before any run (smash's -99 discharge), and with smash's discharge and per-gauge
    parameters: both compute in double precision and round to single."""
    reference, ours = mapped_pair
    reference, ours = reference.copy(), ours.copy()
    for method in ("get_serr_mu", "get_serr_sigma"):
        got = getattr(ours, method)()
        assert got.dtype == np.float32 and got.shape == (3, ours.setup.ntime_step)
        np.testing.assert_array_equal(got, getattr(reference, method)(), err_msg=method)
    _set_values(reference)
    _set_values(ours)
    q = run_pair[0].response.q
    assert q.max() > 10.0
    reference.response.q = q
    ours.response.q = q
    for method in ("get_serr_mu", "get_serr_sigma"):
        expected = getattr(reference, method)()
        if method == "get_serr_mu" and ours.setup.serr_mu_mapping == "Zero":
            assert not expected.any()
        else:
            assert np.ptp(expected) > 0.1
        np.testing.assert_array_equal(getattr(ours, method)(), expected, err_msg=method)


@pytest.mark.parity
def test_sigma_after_our_forward_run_matches_smash(run_pair):
    """From each model's own run: as close as the two discharges are."""
    reference, ours = (m.copy() for m in run_pair)
    for model in (reference, ours):
        model.set_serr_sigma_parameters("sg0", VALUES["sg0"])
        model.set_serr_sigma_parameters("sg1", VALUES["sg1"])
    peak = np.abs(reference.response.q).max()
    expected = reference.get_serr_sigma()
    np.testing.assert_allclose(ours.get_serr_sigma(), expected, rtol=0, atol=1e-4 * peak * VALUES["sg1"].max())
    np.testing.assert_array_equal(ours.get_serr_mu(), reference.get_serr_mu())  # Zero


# ---- getters and setters --------------------------------------------------------------------

ACCEPTED = [
    ("sigma", "sg0", 3),
    ("sigma", "SG0", 2.5),
    ("sigma", "sg0", 0.0),  # inside the domain give or take smash's tolerance
    ("sigma", "sg0", -1e-6),
    ("sigma", "sg1", np.array([0.5, 1.0, 1.5])),
    ("sigma", "sg2", np.array([1, 2, 3])),
    ("sigma", "sg2", np.ones((1, 1))),
    ("sigma", "sg2", np.array([4.0])),
    ("mu", "mg0", -1e5),
    ("mu", "mg1", np.array([-1.0, 0.0, 2.0])),
]


@pytest.mark.parity
@pytest.mark.parametrize(("kind", "key", "value"), ACCEPTED)
def test_set_then_get_matches_smash(smash, kind, key, value):
    reference, ours = _pair(smash, serr_mu_mapping="Linear", serr_sigma_mapping="Power")
    for model in (reference, ours):
        getattr(model, f"set_serr_{kind}_parameters")(key, value)
    for model in (reference, ours):
        for other in getattr(model, f"serr_{kind}_parameters").keys:
            got = getattr(ours, f"get_serr_{kind}_parameters")(str(other))
            expected = getattr(reference, f"get_serr_{kind}_parameters")(str(other))
            assert got.dtype == np.float32 and got.shape == (3,)
            np.testing.assert_array_equal(got, expected, err_msg=f"{key} {value!r}")
    np.testing.assert_array_equal(ours.serr_mu_parameters.values, reference.serr_mu_parameters.values)
    np.testing.assert_array_equal(ours.serr_sigma_parameters.values, reference.serr_sigma_parameters.values)


REFUSED = [
    ("mu", "sg0", 1.0, ValueError, r"Unknown serr_mu_parameter 'sg0' for serr_mu_mapping 'Linear'"),
    ("sigma", "sg3", 1.0, ValueError, r"Unknown serr_sigma_parameter 'sg3' .*Did you mean 'sg2'"),
    ("sigma", 3, 1.0, TypeError, "serr_sigma_parameter name must be a str"),
    ("mu", "mg0", [1.0, 2.0, 3.0], TypeError, "value of serr_mu_parameter 'mg0' must be a number or an array"),
    ("mu", "mg0", "a", TypeError, "must be a number or an array, got str"),
    ("mu", "mg0", np.array([1.0, 2.0]), ValueError, r"must be a scalar or an array of shape \(3,\), got \(2,\)"),
    ("mu", "mg0", np.ones((3, 1)), ValueError, r"shape \(3,\), got \(3, 1\)"),
    ("sigma", "sg0", np.array([], dtype=float), ValueError, r"shape \(3,\), got \(0,\)"),
    ("sigma", "sg0", -1e-4, ValueError, r"'sg0' spans \[-0.0001, -0.0001\], outside its feasible domain \]0, inf\["),
    ("sigma", "sg1", np.array([1.0, -1.0, 2.0]), ValueError, r"'sg1' spans \[-1.0, 2.0\]"),
    ("sigma", "sg2", np.inf, ValueError, "holds NaN or inf"),
    ("mu", "mg0", 1e39, ValueError, "exceeds the single-precision range"),
]


@pytest.mark.parity
@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")  # smash's cast of 1e39
@pytest.mark.parametrize(("kind", "key", "value", "error", "match"), REFUSED)
def test_bad_values_are_refused_as_smash_refuses_them(smash, kind, key, value, error, match):
    """The same exception type as smash, a message naming the key, the value and what was expected;
    the model unchanged."""
    reference, ours = _pair(smash, serr_mu_mapping="Linear", serr_sigma_mapping="Power")
    before = ours.copy()
    with pytest.raises(error, match=match):
        getattr(ours, f"set_serr_{kind}_parameters")(key, value)
    np.testing.assert_array_equal(ours.serr_mu_parameters.values, before.serr_mu_parameters.values)
    np.testing.assert_array_equal(ours.serr_sigma_parameters.values, before.serr_sigma_parameters.values)
    with pytest.raises(error):
        getattr(reference, f"set_serr_{kind}_parameters")(key, value)


@pytest.mark.parity
@pytest.mark.parametrize(
    ("kind", "key", "error"), [("mu", "sg0", ValueError), ("sigma", "mg0", ValueError), ("mu", 3, TypeError)]
)
def test_bad_keys_are_refused_by_the_getters_as_by_smash(smash, kind, key, error):
    reference, ours = _pair(smash, serr_mu_mapping="Constant")
    with pytest.raises(error, match="Choices" if error is ValueError else "must be a str"):
        getattr(ours, f"get_serr_{kind}_parameters")(key)
    with pytest.raises(error):
        getattr(reference, f"get_serr_{kind}_parameters")(key)


@pytest.mark.parity
def test_where_hydrograd_departs_from_smash(smash):
    """smash accepts NaN and a bool, refuses a numpy float32 scalar, turns a text array into a
    ValueError, and its getters return views into the model; hydrograd refuses NaN and bools (as
    for every parameter), takes any real number, calls text a TypeError and returns copies
    (README, "What still differs")."""
    reference, ours = _pair(smash, serr_mu_mapping="Linear", serr_sigma_mapping="Power")
    reference.set_serr_mu_parameters("mg0", np.nan)
    assert np.isnan(reference.get_serr_mu_parameters("mg0")).all()
    with pytest.raises(ValueError, match="holds NaN or inf"):
        ours.set_serr_mu_parameters("mg0", np.nan)
    reference.set_serr_sigma_parameters("sg2", True)
    assert (reference.get_serr_sigma_parameters("sg2") == 1.0).all()
    with pytest.raises(TypeError, match="got bool"):
        ours.set_serr_sigma_parameters("sg2", True)
    with pytest.raises(TypeError):
        reference.set_serr_sigma_parameters("sg0", np.float32(2.0))
    ours.set_serr_sigma_parameters("sg0", np.float32(2.0))
    assert (ours.get_serr_sigma_parameters("sg0") == 2.0).all()
    with pytest.raises(ValueError, match="could not convert"):
        reference.set_serr_mu_parameters("mg1", np.array(["a", "b", "c"]))
    with pytest.raises(TypeError, match="must hold numbers"):
        ours.set_serr_mu_parameters("mg1", np.array(["a", "b", "c"]))
    view = reference.get_serr_sigma_parameters("sg1")
    view[0] = 7.0
    assert reference.get_serr_sigma_parameters("sg1")[0] == 7.0
    copy = ours.get_serr_sigma_parameters("sg1")
    copy[0] = 7.0
    assert ours.get_serr_sigma_parameters("sg1")[0] == np.float32(0.2)


# ---- value semantics ------------------------------------------------------------------------


def test_assignment_and_copy_take_copies():
    setup, mesh = hydrograd.factory.load_dataset("Lez")
    light = {**setup, "read_prcp": False, "read_pet": False, "read_qobs": False, "read_descriptor": False}
    model = hydrograd.Model({**light, "serr_sigma_mapping": "Gaussian"}, mesh, verbose=False)
    model.set_serr_sigma_parameters("sg2", np.array([4.0, 5.0, 6.0], dtype=np.float32))
    copied = model.copy()
    other = hydrograd.Model({**light, "serr_sigma_mapping": "Gaussian"}, mesh, verbose=False)
    other.serr_sigma_parameters = model.serr_sigma_parameters
    model.set_serr_sigma_parameters("sg2", 1.0)
    for kept in (copied, other):
        np.testing.assert_array_equal(kept.get_serr_sigma_parameters("sg2"), np.float32([4.0, 5.0, 6.0]))
    assert other.serr_sigma_parameters.values is not model.serr_sigma_parameters.values
    linear = hydrograd.Model(light, mesh, verbose=False)
    with pytest.raises(
        ValueError, match=r"model.serr_sigma_parameters cannot take this value: it holds \['sg0', 'sg1'"
    ):
        model.serr_sigma_parameters = linear.serr_sigma_parameters
    with pytest.raises(TypeError, match=r"model\.serr_mu_parameters takes a KeyedMaps, got int"):
        model.serr_mu_parameters = 3


def test_facts_name_the_mappings_and_range_the_values():
    setup, mesh = hydrograd.factory.load_dataset("Lez")
    light = {**setup, "read_prcp": False, "read_pet": False, "read_qobs": False, "read_descriptor": False}
    model = hydrograd.Model({**light, "serr_mu_mapping": "linear", "serr_sigma_mapping": "Power"}, mesh, verbose=False)
    model.set_serr_mu_parameters("mg1", np.array([-1.0, 0.5, 2.0]))
    facts = model.facts()
    assert (facts.serr_mu_mapping, facts.serr_sigma_mapping) == ("Linear", "Power")
    assert (facts.serr_mu_parameters, facts.serr_sigma_parameters) == (("mg0", "mg1"), ("sg0", "sg1", "sg2"))
    assert "mg1" not in facts.current
    current = model.facts(values=True).current
    assert current["mg1"] == (-1.0, 2.0) and current["mg0"] == (0.0, 0.0)
    assert current["sg2"] == (2.0, 2.0) and current["sg1"] == (np.float32(0.2), np.float32(0.2))
    assert facts.default_bounds("sg1") == model.get_serr_sigma_parameters_bounds()["sg1"] == (1e-6, 10.0)
    assert facts.default_bounds("mg0") == (-1e6, 1e6) and facts.default_bounds("cp") == (1e-6, 1000.0)
    default = hydrograd.Model(light, mesh, verbose=False).facts(values=True)
    assert (default.serr_mu_mapping, default.serr_mu_parameters) == ("Zero", ())
    assert sorted(k for k in default.current if k.startswith(("mg", "sg"))) == ["sg0", "sg1"]
