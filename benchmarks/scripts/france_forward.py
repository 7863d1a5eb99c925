"""France: one forward run of gr4/lr over 32 hourly steps (906,044 cells).

A user's whole script, run by ``python -m benchmarks --end-to-end`` in a fresh process; alone:
``python benchmarks/scripts/france_forward.py [smash|hydrograd]``.
The ``# %%`` lines mark the phases it times.
"""

# %% import
import importlib
import sys

smash = importlib.import_module(sys.argv[1] if len(sys.argv) > 1 else "smash")
quiet = {"verbose": False}

# %% build
model = smash.Model(*smash.factory.load_dataset("France"))

# %% call
model.forward_run(common_options=quiet)

# %% close
model.forward_run(common_options=quiet)
q = model.response.q
