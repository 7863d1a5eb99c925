"""Seed tutorial 2: 250 Adam iterations training the MLP of a regionalization on Lez.

A user's whole script, run by ``python -m benchmarks --end-to-end`` in a fresh process; alone:
``python benchmarks/scripts/lez_ann_mlp.py [smash|hydrograd]``.
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
    "cp": (1e-06, 1000.0),
    "ct": (1e-06, 1000.0),
    "kexc": (-50, 50),
    "llr": (1e-06, 1000.0),
    "hp": (0, 1),
    "ht": (0, 1),
}
net = smash.factory.Net()
net.add_dense(24, input_shape=model.setup.nd, activation="relu")
net.add_dense(60, activation="relu")
net.add_dense(len(problem), activation="tanh")
net.add_scale(list(problem.values()))
options = {
    "net": net,
    "learning_rate": 0.003,
    "termination_crit": {"maxiter": 250, "early_stopping": 50},
    "random_state": 1,
    "parameters": list(problem),
    "bounds": problem,
}

# %% call
calibrated = smash.optimize(model, mapping="ann", optimize_options=options, common_options=quiet)

# %% close
calibrated.forward_run(common_options=quiet)
q = calibrated.response.q
