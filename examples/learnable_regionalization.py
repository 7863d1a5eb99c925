"""Learnable regionalization on Lez: train an MLP and a CNN that map physical descriptors to
parameter and initial-state maps, then save the loss descent and the learned maps as PNG.

    python examples/learnable_regionalization.py [OUTPUT_FOLDER] [--maxiter N]

Needs smash's Lez dataset (``HYDROGRAD_DATA`` or an installed hydro-smash) and matplotlib.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

import hydrograd as smash

PROBLEM = {
    "cp": (1e-06, 1000.0),
    "ct": (1e-06, 1000.0),
    "kexc": (-50, 50),
    "llr": (1e-06, 1000.0),
    "hp": (0, 1),
    "ht": (0, 1),
}
UNITS = {"cp": "mm", "ct": "mm", "kexc": "mm/d", "llr": "min", "hp": "-", "ht": "-"}


def networks(model: smash.Model) -> dict[str, smash.factory.Net]:
    mlp = smash.factory.Net()
    mlp.add_dense(24, input_shape=model.setup.nd, activation="relu")
    mlp.add_dense(60, activation="relu")
    mlp.add_dense(len(PROBLEM), activation="tanh")
    mlp.add_scale(list(PROBLEM.values()))

    cnn = smash.factory.Net()
    cnn.add_conv2d(24, filter_shape=(4, 4), input_shape=model.physio_data.descriptor.shape, activation="relu")
    cnn.add_flatten()
    cnn.add_dense(60, activation="relu")
    cnn.add_dense(len(PROBLEM), activation="tanh")
    cnn.add_scale(list(PROBLEM.values()))
    return {"MLP": mlp, "CNN": cnn}


def maps_figure(model: smash.Model, title: str, path: Path) -> None:
    fig, axes = plt.subplots(3, 2, figsize=(7, 9))
    for ax, key in zip(axes.ravel(), PROBLEM, strict=True):
        values = model.get_rr_parameters(key) if key in model.rr_parameters.keys else model.get_rr_initial_states(key)
        shown = ax.imshow(values.astype(float), cmap="viridis")
        shown.set_clim(*_active_range(model, values))
        fig.colorbar(shown, ax=ax, label=f"{key} ({UNITS[key]})")
        ax.set_axis_off()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _active_range(model: smash.Model, values) -> tuple[float, float]:
    active = values[model.mesh.active_cell == 1]
    return float(active.min()), float(active.max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", nargs="?", default="regionalization-output", help="folder for the PNG files")
    parser.add_argument("--maxiter", type=int, default=250)
    args = parser.parse_args()
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)

    setup, mesh = smash.factory.load_dataset("Lez")
    model = smash.Model(setup, mesh)
    trained = {}
    for name, net in networks(model).items():
        options = {
            "net": net,
            "learning_rate": 0.003,
            "termination_crit": {"maxiter": args.maxiter, "early_stopping": 50},
            "random_state": 1,
            "parameters": list(PROBLEM),
            "bounds": PROBLEM,
        }
        trained[name] = smash.optimize(model, mapping="ann", optimize_options=options, return_options={"net": True})

    fig, ax = plt.subplots()
    for (name, (_, opt)), style in zip(trained.items(), ("--", "-"), strict=True):
        ax.plot(opt.net.history["loss_train"], label=name, linestyle=style)
    ax.set_xlabel("Iteration")
    ax.set_ylabel("$1-NSE$")
    ax.legend()
    ax.grid(alpha=0.7, ls="--")
    ax.set_title("Cost function descent")
    fig.savefig(out / "loss_descent.png", dpi=120)
    plt.close(fig)

    for name, (learned, _) in trained.items():
        maps_figure(
            learned, f"Regionalized parameters and initial states from {name}", out / f"maps_{name.lower()}.png"
        )
    print(f"figures written to {out.resolve()}")


if __name__ == "__main__":
    main()
