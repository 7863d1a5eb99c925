"""France-size workloads: the 906,044-cell 1 km mesh of smash's France dataset (32 hourly steps),
with synthetic gauges at the largest outlets and synthetic observations, so that a cost and its
gradient exist (the dataset itself has no gauges)."""

from __future__ import annotations

import numpy as np

import hydrograd

N_GAUGES = 10
TRUTH = {"cp": 300.0, "ct": 150.0, "kexc": -1.0}


def gauged_mesh(mesh: dict) -> dict:
    """The France mesh with gauges on the ``N_GAUGES`` active cells of largest drained area."""
    active = mesh["active_cell"] == 1
    acc = np.where(active, mesh["flwacc"], -1.0).ravel()
    flat = np.argsort(acc)[::-1][:N_GAUGES]
    rows, cols = np.unravel_index(flat, mesh["active_cell"].shape)
    area = mesh["flwacc"][rows, cols].astype(np.float32)
    return {
        **mesh,
        "ng": N_GAUGES,
        "gauge_pos": np.stack([rows, cols], axis=1).astype(np.int32),
        "code": np.array([f"FR{i:04d}" for i in range(N_GAUGES)]),
        "area": area,
        "area_dln": area.copy(),
    }


def synthetic_observations(model) -> np.ndarray:
    """Discharge simulated with ``TRUTH`` parameters, used as observations."""
    twin = model.copy()
    for key, value in TRUTH.items():
        twin.set_rr_parameters(key, value)
    twin.forward_run(common_options={"verbose": False})
    return twin.response.q.copy()


def hydrograd_model() -> hydrograd.Model:
    setup, mesh = hydrograd.factory.load_dataset("France")
    model = hydrograd.Model(setup, gauged_mesh(mesh), verbose=False)
    model.response_data.q[:] = synthetic_observations(model)
    return model


def smash_model():
    import smash

    setup, mesh = smash.factory.load_dataset("France")
    model = smash.Model(setup, gauged_mesh(mesh))
    ours = hydrograd_model()
    model.response_data.q = ours.response_data.q
    return model
