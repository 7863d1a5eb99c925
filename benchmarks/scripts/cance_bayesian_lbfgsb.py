"""Cance: Bayesian calibration, uniform mapping, L-BFGS-B until convergence.

A user's whole script, run by ``python -m benchmarks --end-to-end`` in a fresh process; alone:
``python benchmarks/scripts/cance_bayesian_lbfgsb.py [smash|hydrograd]``.
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
calibrated = smash.bayesian_optimize(model, mapping="uniform", optimizer="lbfgsb", common_options=quiet)

# %% close
calibrated.forward_run(common_options=quiet)
q = calibrated.response.q
