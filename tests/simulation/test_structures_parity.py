"""Parity of every GR structure and its hybrid variant with hydro-smash 1.3.0 on Lez (daily, lr routing).

Conceptual structures run end to end through ``hydrograd.Model``. Hybrid ones are compared at the
core level: the forcing and parameters come from the hydrograd model of the base structure, and
the network, given the same weights as smash's, enters ``simulate`` as ``flux_correction``.
"""

from __future__ import annotations

import numpy as np
import pytest

import hydrograd
from hydrograd.core.registry import HYDROLOGICAL_MODULES, get_structure
from hydrograd.core.simulate import simulate_jit
from hydrograd.core.structures.hybrid import make_flux_correction
from tests.simulation._random_maps import randomize

smash = pytest.importorskip("smash")

pytestmark = pytest.mark.parity

BASES = ("gr4_ri", "gr4_ode", "gr5", "gr5_ri", "gr6", "grc", "grd", "loieau")
# Hybrid -> (smash's name, hidden layers); half of them with two hidden layers.
HYBRIDS = {
    "gr4_mlp": ("gr4_mlp", (16,)),
    "gr4_ri_mlp_exc": ("gr4_ri_mlp_exc", (16,)),
    "gr4_ode_mlp": ("gr4_ude", (8, 4)),
    "gr4_ude": ("gr4_ude", (16,)),
    "gr5_mlp": ("gr5_mlp", (8, 4)),
    "gr5_ri_mlp_exc": ("gr5_ri_mlp_exc", (8, 4)),
    "gr6_mlp": ("gr6_mlp", (16,)),
    "grc_mlp": ("grc_mlp", (8, 4)),
    "grd_mlp": ("grd_mlp", (16,)),
    "loieau_mlp": ("loieau_mlp", (8, 4)),
}
IMPLICIT_EULER = ("gr4_ode", "gr4_ode_mlp", "gr4_ude")


@pytest.fixture(scope="module")
def lez():
    """Lez setups and meshes of both packages, and a cache of the hydrograd models by structure."""
    return smash.factory.load_dataset("Lez"), hydrograd.factory.load_dataset("Lez"), {}


def _reference(lez, module: str, hidden: tuple[int, ...] | None = None):
    (setup, mesh), _, _ = lez
    setup = {**setup, "hydrological_module": module, "routing_module": "lr"}
    if hidden is not None:
        setup["hidden_neuron"] = list(hidden)
    return smash.Model(setup, mesh)


def _ours(lez, module: str):
    _, (setup, mesh), cache = lez
    if module not in cache:
        setup = {**setup, "hydrological_module": module, "routing_module": "lr"}
        cache[module] = hydrograd.Model(setup, mesh, verbose=False)
    return cache[module]


def _randomize(reference, ours, seed: int, module: str) -> None:
    """Draw the same in-bounds parameter and initial-state maps in both models.

    For the implicit-Euler structures the exchange is drawn non-positive: an exchange gain larger
    than the transfer store's release leaves the implicit equation without a root in (0, 1), where
    Newton's ten iterations wander and the state they stop at is rounding noise, here as in smash.
    """
    randomize(reference, ours, seed, exchange_non_positive=module in IMPLICIT_EULER)


def _assert_close(q, final_states, reference, ours) -> None:
    """Discharge within 1e-4 of the reference's peak, each final state within 1e-4 of its largest value."""
    peak = np.abs(reference.response.q).max()
    assert peak > 0
    np.testing.assert_allclose(q, reference.response.q, rtol=0, atol=1e-4 * peak)
    active = ours.mesh.active_cell == 1
    for key, value in final_states.items():
        expected = reference.get_rr_final_states(key)
        scale = max(np.abs(expected[active]).max(), 1e-6)
        np.testing.assert_allclose(value[active], expected[active], rtol=0, atol=1e-4 * scale, err_msg=key)


@pytest.mark.parametrize("module", BASES)
def test_structure_matches_reference(lez, module):
    reference = _reference(lez, module)
    ours = _ours(lez, module)
    assert ours.setup.structure == reference.setup.structure
    assert list(ours.rr_parameters.keys) == list(reference.rr_parameters.keys)
    assert list(ours.rr_initial_states.keys) == list(reference.rr_initial_states.keys)
    _randomize(reference, ours, seed=BASES.index(module), module=module)
    reference.forward_run(common_options={"verbose": False})
    ours.forward_run(common_options={"verbose": False})
    final = {key: ours.get_rr_final_states(key) for key in ours.rr_final_states.keys}
    _assert_close(ours.response.q, final, reference, ours)


@pytest.mark.parametrize("module", list(HYBRIDS))
def test_hybrid_matches_reference(lez, module):
    smash_name, hidden = HYBRIDS[module]
    reference = _reference(lez, smash_name, hidden)
    ours = _ours(lez, HYDROLOGICAL_MODULES[module].base)
    seed = 100 + list(HYBRIDS).index(module)
    _randomize(reference, ours, seed=seed, module=module)
    rng = np.random.default_rng(seed)
    weights = [rng.normal(0.0, 0.3, w.shape).astype(np.float32) for w in reference.get_nn_parameters_weight()]
    biases = [rng.normal(0.0, 0.1, b.shape).astype(np.float32) for b in reference.get_nn_parameters_bias()]
    n_in, n_out = HYDROLOGICAL_MODULES[module].network_io
    assert weights[0].shape == (hidden[0], n_in) and weights[-1].shape == (n_out, hidden[-1])
    reference.set_nn_parameters_weight(value=weights)
    reference.set_nn_parameters_bias(value=biases)
    reference.forward_run(common_options={"verbose": False})

    inputs = ours.core_inputs().replace(
        structure=get_structure("zero", module, "lr"), flux_correction=make_flux_correction(weights, biases)
    )
    out = simulate_jit(inputs)
    final = {key: ours.layout.to_grid(np.asarray(value)) for key, value in out.final_states.items()}
    _assert_close(np.asarray(out.q), final, reference, ours)
