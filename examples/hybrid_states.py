"""Hybrid process-parameterization on Lez: pre-calibrate GR4, train the GR4_MLP flux-correction
network jointly with the conceptual parameters, and compare the production and transfer states of
the hybrid and conceptual models at the most downstream gauge (saved as PNG).

    python examples/hybrid_states.py [OUTPUT_FOLDER] [--maxiter N]

Needs smash's Lez dataset (``HYDROGRAD_DATA`` or an installed hydro-smash) and matplotlib.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

import hydrograd as smash


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", nargs="?", default="hybrid-output", help="folder for the PNG file")
    parser.add_argument("--maxiter", type=int, default=100, help="L-BFGS-B iterations of the training")
    args = parser.parse_args()
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)

    setup, mesh = smash.factory.load_dataset("Lez")
    setup["hydrological_module"] = "gr4_mlp"
    setup["hidden_neuron"] = 12
    model = smash.Model(setup, mesh)

    options = smash.default_optimize_options(model)
    options["parameters"] = [p for p in options["parameters"] if "weight" not in p and "bias" not in p]
    options["termination_crit"]["maxiter"] = 2
    model.optimize(optimize_options=options)

    model.set_nn_parameters_weight(initializer="he_uniform", random_state=23)
    model.set_nn_parameters_weight([w * 0.1 for w in model.get_nn_parameters_weight()])
    model.optimize(optimizer="lbfgsb", optimize_options={"termination_crit": {"maxiter": args.maxiter}})

    original = model.copy()
    original.set_nn_parameters_weight(initializer="zeros")
    original.set_nn_parameters_bias(initializer="zeros")
    states = {
        "GR4": original.forward_run(return_options={"rr_states": True}).rr_states,
        "GR4_MLP": model.forward_run(return_options={"rr_states": True}).rr_states,
    }
    row, col = model.mesh.gauge_pos[2]

    fig, axes = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
    for ax, (index, label) in zip(axes, ((1, "$h_p$"), (2, "$h_t$")), strict=True):
        for (name, series), style in zip(states.items(), ("-", "--"), strict=True):
            ax.plot(np.array([s.values[row, col, index] for s in series]), label=name, linestyle=style)
        ax.set_ylabel(f"{label} (normalized)")
        ax.legend()
    axes[1].set_xlabel("Time step")
    fig.tight_layout()
    fig.savefig(out / "states_compare.png", dpi=120)
    plt.close(fig)
    print(f"figure written to {(out / 'states_compare.png').resolve()}")


if __name__ == "__main__":
    main()
