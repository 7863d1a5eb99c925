"""Calibration parity with hydro-smash 1.3.0: same search, same numbers."""

from __future__ import annotations

import re

import numpy as np
import pytest

import hydrograd

smash = pytest.importorskip("smash")

LINE = re.compile(r"At iterate\s+(\d+)\s+nfg =\s+(\d+)\s+J =\s+(\S+)")


def _iterates(text: str) -> list[tuple[int, int, float]]:
    return [(int(i), int(n), float(j)) for i, n, j in LINE.findall(text)]


@pytest.fixture(scope="module")
def lez_models():
    reference = smash.Model(*smash.factory.load_dataset("Lez"))
    ours = hydrograd.Model(*hydrograd.factory.load_dataset("Lez"), verbose=False)
    return reference, ours


@pytest.mark.parity
def test_sbs_iterates_and_parameters_match_reference(lez_models, capsys):
    reference, ours = (m.copy() for m in lez_models)
    options = {"termination_crit": {"maxiter": 10}}
    reference.optimize(optimize_options=smash.default_optimize_options(reference) | options)
    ref_lines = _iterates(capsys.readouterr().out)
    ours.optimize(optimize_options=hydrograd.default_optimize_options(ours) | options)
    our_lines = _iterates(capsys.readouterr().out)
    assert len(our_lines) == len(ref_lines) == 11
    for (i, n, j), (ri, rn, rj) in zip(our_lines, ref_lines, strict=True):
        assert (i, n) == (ri, rn)
        assert f"{j:.4g}" == f"{rj:.4g}"
    for key in ("cp", "ct", "kexc", "llr"):
        np.testing.assert_allclose(ours.get_rr_parameters(key), reference.get_rr_parameters(key), rtol=1e-3)


@pytest.mark.parity
def test_multilinear_lbfgsb_reaches_the_reference_cost(lez_models):
    reference, ours = lez_models
    quiet = {"verbose": False}
    _, ref = smash.optimize(
        reference, mapping="multi-linear", optimizer="lbfgsb", common_options=quiet, return_options={"cost": True}
    )
    _, got = hydrograd.optimize(
        ours, mapping="multi-linear", optimizer="lbfgsb", common_options=quiet, return_options={"cost": True}
    )
    assert got.cost <= 1.01 * ref.cost


@pytest.mark.parity
def test_lbfgsb_first_iterates_follow_reference(lez_models, capsys):
    reference, ours = (m.copy() for m in lez_models)
    options = {"termination_crit": {"maxiter": 5}}
    reference.optimize(mapping="distributed", optimizer="lbfgsb", optimize_options=options)
    ref_lines = _iterates(capsys.readouterr().out)
    ours.optimize(mapping="distributed", optimizer="lbfgsb", optimize_options=options)
    our_lines = _iterates(capsys.readouterr().out)
    assert [n for _, n, _ in our_lines] == [n for _, n, _ in ref_lines]
    np.testing.assert_allclose([j for *_, j in our_lines], [j for *_, j in ref_lines], rtol=2e-3)


@pytest.mark.parity
def test_adam_trajectory_follows_reference(lez_models, capsys):
    reference, ours = (m.copy() for m in lez_models)
    options = {"termination_crit": {"maxiter": 8}, "learning_rate": 0.01}
    reference.optimize(optimizer="adam", optimize_options=options)
    ref_lines = _iterates(capsys.readouterr().out)
    ours.optimize(optimizer="adam", optimize_options=options)
    our_lines = _iterates(capsys.readouterr().out)
    np.testing.assert_allclose([j for *_, j in our_lines], [j for *_, j in ref_lines], rtol=1e-3)


@pytest.mark.parity
@pytest.mark.parametrize("auto", ["fast", "lcurve"])
def test_automatic_regularization_weight_matches_reference(lez_models, capsys, auto):
    """``wjreg="fast"``/``"lcurve"``: same cycles, same weight, same calibrated parameters. With the
    ``keep`` transform, smash 1.3.0's prior term is the documented one (with ``sbs``/``normalize``
    its code subtracts the raw starting control from the transformed control; hydrograd follows the
    documentation), so the cycles can be compared number for number."""
    reference, ours = (m.copy() for m in lez_models)
    options = {"termination_crit": {"maxiter": 2}, "control_tfm": "keep"}
    cost = {"wjreg": auto, "jreg_cmpt": "prior"}
    wanted = {"cost": True, "jreg": True, "lcurve_wjreg": auto == "lcurve"}
    ref = reference.optimize(optimize_options=options, cost_options=cost, return_options=wanted)
    ref_text = capsys.readouterr().out
    got = ours.optimize(optimize_options=options, cost_options=cost, return_options=wanted)
    our_text = capsys.readouterr().out
    weight = re.compile(r"WJREG LAST CYCLE\. wjreg: (\S+)")
    assert float(weight.search(our_text).group(1)) == pytest.approx(float(weight.search(ref_text).group(1)), rel=1e-4)
    cycles = re.compile(r"WJREG CYCLE \d+")
    assert cycles.findall(our_text) == cycles.findall(ref_text)
    assert len(cycles.findall(our_text)) == (1 if auto == "fast" else 6)
    assert got.cost == pytest.approx(ref.cost, rel=1e-5) and got.jreg == pytest.approx(ref.jreg, rel=1e-5)
    if auto == "lcurve":
        for key in ("cost", "jobs", "jreg", "wjreg"):
            np.testing.assert_allclose(got.lcurve_wjreg[key], ref.lcurve_wjreg[key], rtol=1e-4)
        np.testing.assert_allclose(got.lcurve_wjreg["distance"], ref.lcurve_wjreg["distance"], rtol=1e-3)
        assert got.lcurve_wjreg["wjreg_opt"] == pytest.approx(ref.lcurve_wjreg["wjreg_opt"], rel=1e-4)
    for key in ("cp", "ct", "kexc", "llr"):
        np.testing.assert_allclose(ours.get_rr_parameters(key), reference.get_rr_parameters(key), rtol=1e-4)


REGULARIZED = {"cost": True, "jobs": True, "jreg": True, "control_vector": True}


@pytest.mark.parity
@pytest.mark.parametrize(
    ("optimizer", "cost_options"),
    [
        ("sbs", {}),
        ("sbs", {"wjreg": 0.001}),
        ("sbs", {"wjreg": 0.001, "jreg_cmpt": ["prior", "smoothing"]}),
        ("lbfgsb", {"wjreg": 1e-4}),
    ],
)
def test_prior_regularization_is_smash_s(lez_models, optimizer, cost_options):
    """smash 1.3.0's prior: the distance of the untransformed control to its start, reported as
    ``jreg`` even when it does not weigh in the cost."""
    reference, ours = lez_models
    options = {"termination_crit": {"maxiter": 2}}
    quiet = {"verbose": False}
    _, expected = smash.optimize(reference, "uniform", optimizer, options, dict(cost_options), quiet, REGULARIZED)
    _, got = hydrograd.optimize(ours, "uniform", optimizer, options, dict(cost_options), quiet, REGULARIZED)
    # hydrograd's L-BFGS-B runs its model in float64 (smash's in float32): its steps differ in the
    # last digits, which the squared displacements of jreg amplify a little
    tolerance = 2e-4 if optimizer == "sbs" else 1e-3
    for key in ("cost", "jobs", "jreg"):
        assert getattr(got, key) == pytest.approx(getattr(expected, key), rel=tolerance), key
    np.testing.assert_allclose(got.control_vector, expected.control_vector, rtol=1e-4, atol=1e-5)


@pytest.mark.parity
@pytest.mark.parametrize("auto", ["fast", "lcurve"])
def test_automatic_regularization_weight_is_smash_s(lez_models, auto):
    reference, ours = lez_models
    options = {"termination_crit": {"maxiter": 2}}
    quiet = {"verbose": False}
    returns = {**REGULARIZED, "lcurve_wjreg": True}
    _, expected = smash.optimize(reference, "uniform", "sbs", options, {"wjreg": auto}, quiet, returns)
    _, got = hydrograd.optimize(ours, "uniform", "sbs", options, {"wjreg": auto}, quiet, returns)
    for key in ("cost", "jobs", "jreg"):
        assert getattr(got, key) == pytest.approx(getattr(expected, key), rel=1e-3), key
    if auto == "lcurve":
        for key in ("wjreg", "jobs", "jreg"):
            np.testing.assert_allclose(got.lcurve_wjreg[key], expected.lcurve_wjreg[key], rtol=1e-3)
        assert got.lcurve_wjreg["wjreg_opt"] == pytest.approx(expected.lcurve_wjreg["wjreg_opt"], rel=1e-3)


@pytest.mark.parity
def test_the_opt_in_prior_measures_in_the_transformed_space(lez_models):
    _, ours = lez_models
    options = {"termination_crit": {"maxiter": 2}}
    quiet = {"verbose": False}
    returns = {"jreg": True, "control_vector": True}
    _, got = hydrograd.optimize(ours, "uniform", "sbs", options, {"jreg_cmpt": "prior-transformed"}, quiet, returns)
    start = hydrograd.optimize(ours, "uniform", "sbs", {"termination_crit": {"maxiter": 0}}, None, quiet, returns)[1]
    assert got.jreg == pytest.approx(float(np.sum((got.control_vector - start.control_vector) ** 2)), rel=1e-5)


@pytest.mark.parity
def test_a_descriptor_mapping_without_a_defined_start_is_refused():
    """``alpha1``'s default bounds (1e-6, 5e-4) are narrower than the 1e-3 margin below the upper
    bound that the multi-linear mapping's start keeps: smash calibrates NaN parameters there, hydrograd
    refuses with the reason."""
    setup, mesh = smash.factory.load_dataset("Lez")
    setup.update(hydrological_module="gr4_ri", end_time="2012-09-30")
    reference = smash.Model(setup, mesh)
    calibrated = smash.optimize(
        reference,
        "multi-linear",
        optimize_options={"termination_crit": {"maxiter": 1}},
        common_options={"verbose": False},
    )
    assert np.isnan(calibrated.get_rr_parameters("alpha1")[reference.mesh.active_cell == 1]).all()
    setup, mesh = hydrograd.factory.load_dataset("Lez")
    setup.update(hydrological_module="gr4_ri", end_time="2012-09-30")
    ours = hydrograd.Model(setup, mesh, verbose=False)
    with pytest.raises(ValueError, match=r"no defined start for \['alpha1', 'alpha2'\]"):
        ours.optimize("multi-linear", common_options={"verbose": False})
