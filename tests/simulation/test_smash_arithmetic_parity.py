"""``HYDROGRAD_FLOAT32=smash``: float32 structures equal hydro-smash 1.3.0 bit for bit.

Cance, 1,440 hourly steps, every internal flux and state of the hydrological module at every step
(routing aside: ``lr``'s reservoir is written as ``Q = a qup + b``, within float32 rounding of smash's).
The setting is process-wide, so the comparison runs in a process of its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("smash")

pytestmark = pytest.mark.parity

REPO = Path(__file__).resolve().parents[2]

# Structures whose every operation is smash's under the setting (not the hybrids: smash's build evaluates
# their networks' SiLU with glibc's vector exp; not gr4_ode: README, What still differs).
EXACT = ("gr4", "gr4_ri", "gr5", "gr5_ri", "gr6", "grc", "grd", "loieau", "vic3l")

COMPARE = textwrap.dedent(
    """
    import json, sys, warnings
    import numpy as np
    import smash
    import hydrograd

    def run(package, setup, mesh, forcing):
        model = package.Model(setup, mesh, **({"verbose": False} if package is hydrograd else {}))
        model.atmos_data.prcp = forcing.atmos_data.prcp
        model.atmos_data.pet = forcing.atmos_data.pet
        if "ci" in model.rr_parameters.keys:  # smash fits it to the rainfall it reads
            model.set_rr_parameters("ci", forcing.get_rr_parameters("ci"))
        returned = model.forward_run(
            common_options={"verbose": False},
            return_options={"time_step": "all", "rr_states": True, "internal_fluxes": True},
        )
        values = {
            f"flux {k}": np.moveaxis(np.asarray(v), -1, 0)  # (steps, rows, columns)
            for k, v in returned.internal_fluxes.items()
            if k not in ("qt", "qup")
        }
        for i, key in enumerate(model.rr_initial_states.keys):
            if key != "hlr":
                values[f"state {key}"] = np.stack([s.values[..., i] for s in returned.rr_states])
        return values, model.mesh.active_cell == 1

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        setup, mesh = smash.factory.load_dataset("Cance")
        forcing = smash.Model(setup, mesh)
    setup = {**setup, "read_prcp": False, "read_pet": False}
    report = {}
    for module in sys.argv[1:]:
        changed = {**setup, "hydrological_module": module}
        ref, active = run(smash, changed, mesh, forcing)
        ours, _ = run(hydrograd, changed, mesh, forcing)
        report[module] = {
            key: int(np.sum(ref[key][:, active] != ours[key][:, active])) if key in ours else "missing"
            for key in ref
        }
    print(json.dumps(report))
    """
)


def test_smash_arithmetic_gives_smash_fluxes_and_states_bit_for_bit():
    env = {**os.environ, "HYDROGRAD_FLOAT32": "smash", "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", COMPARE, *EXACT], env=env, capture_output=True, text=True, timeout=900, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(report) == set(EXACT)
    for module, differing in report.items():
        assert differing and any(key.startswith("state ") for key in differing), module
        assert all(count == 0 for count in differing.values()), (module, differing)
