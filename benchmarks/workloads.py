"""The benchmark workloads: each builds the same job in hydrograd and in hydro-smash 1.3.0."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

import hydrograd

HAVE_SMASH = importlib.util.find_spec("smash") is not None


@dataclass
class Workload:
    """``ours``/``reference`` run the job once; ``repeats`` interleaved timings are taken after a
    first (compiling) call of ``ours``."""

    name: str
    ours: Callable[[], object]
    reference: Callable[[], object] | None
    repeats: int


def lez_forward() -> Workload:
    """One forward run of gr4/lr over a year of daily steps on Lez (172 cells)."""
    setup, mesh = hydrograd.factory.load_dataset("Lez")
    ours = hydrograd.Model(setup, mesh, verbose=False)
    quiet = {"verbose": False}
    reference = None
    if HAVE_SMASH:
        import smash

        setup, mesh = smash.factory.load_dataset("Lez")
        ref_model = smash.Model(setup, mesh)

        def reference():
            return ref_model.forward_run(common_options=quiet)

    return Workload(
        "Lez forward (gr4/lr, 364 daily steps)", lambda: ours.forward_run(common_options=quiet), reference, 30
    )


def _calibration(dataset: str, mapping: str, optimizer: str, label: str, repeats: int) -> Workload:
    """A whole calibration from a fresh model copy, compilation included on the first call."""
    quiet = {"verbose": False}
    setup, mesh = hydrograd.factory.load_dataset(dataset)
    ours_model = hydrograd.Model(setup, mesh, verbose=False)

    def ours():
        return hydrograd.optimize(ours_model, mapping=mapping, optimizer=optimizer, common_options=quiet)

    reference = None
    if HAVE_SMASH:
        import smash

        ref_model = smash.Model(*smash.factory.load_dataset(dataset))

        def reference():
            return smash.optimize(ref_model, mapping=mapping, optimizer=optimizer, common_options=quiet)

    return Workload(label, ours, reference, repeats)


def cance_distributed_lbfgsb() -> Workload:
    """Distributed gr4/lr calibration, 100 L-BFGS-B iterations, hourly Cance (383 cells, 1440 steps)."""
    return _calibration("Cance", "distributed", "lbfgsb", "Cance distributed L-BFGS-B (100 iterations)", 1)


def lez_sbs() -> Workload:
    """smash's default calibration: uniform mapping, step-by-step search (50 iterations) on Lez."""
    return _calibration("Lez", "uniform", "sbs", "Lez uniform SBS (default calibration)", 3)


def lez_multilinear_lbfgsb() -> Workload:
    """Multi-linear regionalization, 100 L-BFGS-B iterations, on Lez."""
    return _calibration("Lez", "multi-linear", "lbfgsb", "Lez multi-linear L-BFGS-B (100 iterations)", 2)


SEED_PROBLEM = {
    "cp": (1e-06, 1000.0),
    "ct": (1e-06, 1000.0),
    "kexc": (-50, 50),
    "llr": (1e-06, 1000.0),
    "hp": (0, 1),
    "ht": (0, 1),
}


def _seed_net(package, model, kind: str):
    """The MLP or CNN of seed tutorial 2, built with ``package`` (hydrograd or smash)."""
    net = package.factory.Net()
    if kind == "mlp":
        net.add_dense(24, input_shape=model.setup.nd, activation="relu")
    else:
        net.add_conv2d(24, filter_shape=(4, 4), input_shape=model.physio_data.descriptor.shape, activation="relu")
        net.add_flatten()
    net.add_dense(60, activation="relu")
    net.add_dense(len(SEED_PROBLEM), activation="tanh")
    net.add_scale(list(SEED_PROBLEM.values()))
    return net


def _seed_training(kind: str) -> Workload:
    """Seed tutorial 2: 250 Adam iterations training a regionalization network on Lez."""
    quiet = {"verbose": False}

    def options(package, model):
        return {
            "net": _seed_net(package, model, kind),
            "learning_rate": 0.003,
            "termination_crit": {"maxiter": 250, "early_stopping": 50},
            "random_state": 1,
            "parameters": list(SEED_PROBLEM),
            "bounds": SEED_PROBLEM,
        }

    ours_model = hydrograd.Model(*hydrograd.factory.load_dataset("Lez"), verbose=False)

    def ours():
        return hydrograd.optimize(
            ours_model, mapping="ann", optimize_options=options(hydrograd, ours_model), common_options=quiet
        )

    reference = None
    if HAVE_SMASH:
        import smash

        ref_model = smash.Model(*smash.factory.load_dataset("Lez"))

        def reference():
            return smash.optimize(
                ref_model, mapping="ann", optimize_options=options(smash, ref_model), common_options=quiet
            )

    return Workload(f"Lez ANN {kind.upper()} regionalization (250 Adam iterations)", ours, reference, 1)


def lez_ann_mlp() -> Workload:
    return _seed_training("mlp")


def lez_ann_cnn() -> Workload:
    return _seed_training("cnn")


WORKLOADS: dict[str, Callable[[], Workload]] = {
    "lez_forward": lez_forward,
    "lez_sbs": lez_sbs,
    "lez_multilinear_lbfgsb": lez_multilinear_lbfgsb,
    "cance_distributed_lbfgsb": cance_distributed_lbfgsb,
    "lez_ann_mlp": lez_ann_mlp,
    "lez_ann_cnn": lez_ann_cnn,
}
