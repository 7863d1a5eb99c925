"""France: gradient of the NSE at 10 synthetic gauges (the 10 cells of largest drained area, observed
discharge simulated with cp = 300, ct = 150, kexc = -1) with respect to the four distributed gr4/lr
parameter maps (906,044 cells, 32 hourly steps), by backward_run.

A user's whole script, run by ``python -m benchmarks --end-to-end`` in a fresh process; alone:
``python benchmarks/scripts/france_gradient.py [smash|hydrograd]``. The ``# %%`` lines mark the
phases it times.
"""

# %% import
import importlib
import sys

import numpy as np

smash = importlib.import_module(sys.argv[1] if len(sys.argv) > 1 else "smash")
quiet = {"verbose": False}

# %% build
setup, mesh = smash.factory.load_dataset("France")
drained = np.where(mesh["active_cell"] == 1, mesh["flwacc"], -1.0).ravel()
rows, cols = np.unravel_index(np.argsort(drained)[::-1][:10], mesh["active_cell"].shape)
area = mesh["flwacc"][rows, cols].astype(np.float32)
mesh.update(
    ng=10,
    gauge_pos=np.stack([rows, cols], axis=1).astype(np.int32),
    code=np.array([f"FR{i:04d}" for i in range(10)]),
    area=area,
    area_dln=area.copy(),
)
model = smash.Model(setup, mesh)
truth = model.copy()
for name, value in {"cp": 300.0, "ct": 150.0, "kexc": -1.0}.items():
    truth.set_rr_parameters(name, value)
truth.forward_run(common_options=quiet)
model.response_data.q = truth.response.q.copy()

# %% call
_, derivative = smash.backward_run(
    model,
    mapping="distributed",
    optimizer="lbfgsb",
    cost_options={"gauge": "all"},
    common_options=quiet,
    return_options={"grad": True},
)

# %% close
model.forward_run(common_options=quiet)
q = model.response.q
