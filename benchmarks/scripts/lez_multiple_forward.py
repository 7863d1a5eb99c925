"""Lez: multiple_forward_run of 1,000 uniform draws (seed 99) of five gr4/lr parameters and states
(364 daily steps), each run scored by the NSE at the outlet.

A user's whole script, run by ``python -m benchmarks --end-to-end`` in a fresh process; alone:
``python benchmarks/scripts/lez_multiple_forward.py [smash|hydrograd]``.
The ``# %%`` lines mark the phases it times.
"""

# %% import
import importlib
import sys

smash = importlib.import_module(sys.argv[1] if len(sys.argv) > 1 else "smash")
quiet = {"verbose": False}

# %% build
model = smash.Model(*smash.factory.load_dataset("Lez"))
problem = {
    "num_vars": 5,
    "names": ["cp", "ct", "kexc", "llr", "hp"],
    "bounds": [(1, 1000), (1, 1000), (-20, 5), (1, 200), (0.1, 0.9)],
}
samples = smash.factory.generate_samples(problem, n=1000, random_state=99)

# %% call
runs = smash.multiple_forward_run(model, samples, common_options=quiet)

# %% close
model.forward_run(common_options=quiet)
q = model.response.q
