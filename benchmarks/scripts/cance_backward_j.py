"""Cance: backward_run of a distributed gr4/lr model at its default parameters (1,440 hourly steps):
the gradient of the cost with respect to every cell's parameters.

A user's whole script, run by ``python -m benchmarks --end-to-end`` in a fresh process; alone:
``python benchmarks/scripts/cance_backward_j.py [smash|hydrograd]``.
The ``# %%`` lines mark the phases it times.
"""

# %% import
import importlib
import sys

smash = importlib.import_module(sys.argv[1] if len(sys.argv) > 1 else "smash")
quiet = {"verbose": False}

# %% build
model = smash.Model(*smash.factory.load_dataset("Cance"))

# %% call
_, derivative = smash.backward_run(
    model, "j", mapping="distributed", common_options=quiet, return_options={"grad": True}
)

# %% close
model.forward_run(common_options=quiet)
q = model.response.q
