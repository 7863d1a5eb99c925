"""Seed tutorial 1: gr4_mlp on Lez (12 hidden neurons), conceptual parameters pre-calibrated by 2 SBS
iterations, He-uniform weights scaled by 0.1, then 100 L-BFGS-B iterations on parameters and weights
jointly (the call).

A user's whole script, run by ``python -m benchmarks --end-to-end`` in a fresh process; alone:
``python benchmarks/scripts/lez_hybrid_lbfgsb.py [smash|hydrograd]``.
The ``# %%`` lines mark the phases it times.
"""

# %% import
import importlib
import sys

smash = importlib.import_module(sys.argv[1] if len(sys.argv) > 1 else "smash")
quiet = {"verbose": False}

# %% build
setup, mesh = smash.factory.load_dataset("Lez")
setup.update(hydrological_module="gr4_mlp", hidden_neuron=12)
model = smash.Model(setup, mesh)
options = smash.default_optimize_options(model)
options["parameters"] = [p for p in options["parameters"] if "weight" not in p and "bias" not in p]
options["termination_crit"]["maxiter"] = 2
model.optimize(optimize_options=options, common_options=quiet)
model.set_nn_parameters_weight(initializer="he_uniform", random_state=23)
model.set_nn_parameters_weight([w * 0.1 for w in model.get_nn_parameters_weight()])

# %% call
trained = smash.optimize(model, optimizer="lbfgsb", common_options=quiet)

# %% close
trained.forward_run(common_options=quiet)
q = trained.response.q
