"""Lez: Bayesian calibration, distributed mapping, 100 L-BFGS-B iterations.

A user's whole script, run by ``python -m benchmarks --end-to-end`` in a fresh process; alone:
``python benchmarks/scripts/lez_bayesian_distributed.py [smash|hydrograd]``.
The ``# %%`` lines mark the phases it times.
"""

# %% import
import importlib
import sys

smash = importlib.import_module(sys.argv[1] if len(sys.argv) > 1 else "smash")
quiet = {"verbose": False}

# %% build
model = smash.Model(*smash.factory.load_dataset("Lez"))

# %% call
calibrated = smash.bayesian_optimize(model, mapping="distributed", optimizer="lbfgsb", common_options=quiet)

# %% close
calibrated.forward_run(common_options=quiet)
q = calibrated.response.q
