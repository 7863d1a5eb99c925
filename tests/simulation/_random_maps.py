"""Random in-bounds parameter and initial-state maps, the same in a hydro-smash and a hydrograd model."""

from __future__ import annotations

import numpy as np


def randomize(reference, ours, seed: int, exchange_non_positive: bool = False) -> None:
    """Draw the same parameter and initial-state maps, within ``ours``' bounds, into both models.

    ``llr`` is drawn in 0.5 to 50 time steps; ``exchange_non_positive`` caps ``kexc`` at 0; initial
    states are capped at 10.
    """
    rng = np.random.default_rng(seed)
    shape = ours.mesh.flwdir.shape
    for key, (low, high) in ours.get_rr_parameters_bounds().items():
        if key == "llr":
            low, high = 0.5 * reference.setup.dt / 3600, 50.0 * reference.setup.dt / 3600
        if key == "kexc" and exchange_non_positive:
            high = 0.0
        value = rng.uniform(low, high, shape).astype(np.float32)
        reference.set_rr_parameters(key, value)
        ours.set_rr_parameters(key, value)
    for key, (low, high) in ours.get_rr_initial_states_bounds().items():
        value = rng.uniform(low, min(high, 10.0), shape).astype(np.float32)
        reference.set_rr_initial_states(key, value)
        ours.set_rr_initial_states(key, value)
