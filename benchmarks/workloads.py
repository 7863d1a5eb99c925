"""The benchmark workloads: each builds the same job in hydrograd and in hydro-smash 1.3.0."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

import jax

import hydrograd

HAVE_SMASH = importlib.util.find_spec("smash") is not None


class LastIterate:
    """Callback for ``optimize``: keeps the iteration count and cost of the last iterate reported,
    so the table can show how much work each tool did in its timed calls."""

    def __init__(self) -> None:
        self.value: tuple[int, float] | None = None

    def __call__(self, iopt) -> None:
        self.value = (int(iopt.n_iter), float(iopt.cost))

    def __str__(self) -> str:
        return "n/a" if self.value is None else f"{self.value[0]} it., J {self.value[1]:.4g}"


@dataclass
class Workload:
    """``ours``/``reference`` run the job once; ``repeats`` interleaved timings are taken after a
    first (compiling) call of ``ours`` (of ``reference``: the first ``reference_repeats`` of them
    when given, for a job hydro-smash takes minutes over). For calibrations, ``last`` holds both
    tools' last iterates (hydrograd's, hydro-smash's)."""

    name: str
    ours: Callable[[], object]
    reference: Callable[[], object] | None
    repeats: int
    last: tuple[LastIterate, LastIterate] | None = None
    reference_repeats: int | None = None


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


def _calibration(
    dataset: str, mapping: str, optimizer: str, label: str, repeats: int, function: str = "optimize"
) -> Workload:
    """A whole calibration (``function``: ``optimize`` or ``bayesian_optimize``) from a fresh model
    copy, compilation included on the first call."""
    quiet = {"verbose": False}
    setup, mesh = hydrograd.factory.load_dataset(dataset)
    ours_model = hydrograd.Model(setup, mesh, verbose=False)
    last = (LastIterate(), LastIterate())

    def ours():
        return getattr(hydrograd, function)(
            ours_model, mapping=mapping, optimizer=optimizer, common_options=quiet, callback=last[0]
        )

    reference = None
    if HAVE_SMASH:
        import smash

        ref_model = smash.Model(*smash.factory.load_dataset(dataset))

        def reference():
            return getattr(smash, function)(
                ref_model, mapping=mapping, optimizer=optimizer, common_options=quiet, callback=last[1]
            )

    return Workload(label, ours, reference, repeats, last)


def cance_distributed_lbfgsb() -> Workload:
    """Distributed gr4/lr calibration, 100 L-BFGS-B iterations, hourly Cance (383 cells, 1440 steps)."""
    return _calibration("Cance", "distributed", "lbfgsb", "Cance distributed L-BFGS-B (100 iterations)", 1)


def cance_bayesian_lbfgsb() -> Workload:
    """Bayesian calibration (MAP, structural error sigma = sg0 + sg1 q at the outlet), uniform
    mapping, L-BFGS-B until convergence, on hourly Cance."""
    return _calibration("Cance", "uniform", "lbfgsb", "Cance Bayesian uniform L-BFGS-B", 2, "bayesian_optimize")


def lez_bayesian_sbs() -> Workload:
    """Bayesian calibration, smash's default (uniform mapping, step-by-step search), on Lez."""
    return _calibration("Lez", "uniform", "sbs", "Lez Bayesian uniform SBS (default)", 2, "bayesian_optimize")


def lez_bayesian_distributed() -> Workload:
    """Bayesian calibration, distributed mapping, 100 L-BFGS-B iterations, on Lez."""
    return _calibration(
        "Lez", "distributed", "lbfgsb", "Lez Bayesian distributed L-BFGS-B (100 iterations)", 2, "bayesian_optimize"
    )


def lez_sbs() -> Workload:
    """smash's default calibration: uniform mapping, step-by-step search (50 iterations) on Lez."""
    return _calibration("Lez", "uniform", "sbs", "Lez uniform SBS (default calibration)", 3)


def lez_distributed_lbfgsb() -> Workload:
    """Distributed calibration, 100 L-BFGS-B iterations, on Lez."""
    return _calibration("Lez", "distributed", "lbfgsb", "Lez distributed L-BFGS-B (100 iterations)", 2)


def lez_hybrid_lbfgsb() -> Workload:
    """Seed tutorial 1's training phase: gr4_mlp (12 hidden neurons), conceptual parameters
    pre-calibrated by 2 SBS iterations, He-uniform weights scaled by 0.1, then 100 L-BFGS-B
    iterations on parameters and weights jointly. Only the L-BFGS-B phase is timed."""
    quiet = {"verbose": False}

    def prepared(package, model):
        options = package.default_optimize_options(model)
        options["parameters"] = [p for p in options["parameters"] if "weight" not in p and "bias" not in p]
        options["termination_crit"]["maxiter"] = 2
        model.optimize(optimize_options=options, common_options=quiet)
        model.set_nn_parameters_weight(initializer="he_uniform", random_state=23)
        model.set_nn_parameters_weight([w * 0.1 for w in model.get_nn_parameters_weight()])
        return model

    def hybrid(package, **kwargs):
        setup, mesh = package.factory.load_dataset("Lez")
        setup.update(hydrological_module="gr4_mlp", hidden_neuron=12)
        return prepared(package, package.Model(setup, mesh, **kwargs))

    ours_model = hybrid(hydrograd, verbose=False)
    last = (LastIterate(), LastIterate())
    reference = None
    if HAVE_SMASH:
        import smash

        ref_model = hybrid(smash)

        def reference():
            return smash.optimize(ref_model, optimizer="lbfgsb", common_options=quiet, callback=last[1])

    return Workload(
        "Lez gr4_mlp L-BFGS-B, seed tutorial 1 (100 iterations)",
        lambda: hydrograd.optimize(ours_model, optimizer="lbfgsb", common_options=quiet, callback=last[0]),
        reference,
        1,
        last,
    )


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
    last = (LastIterate(), LastIterate())

    def ours():
        return hydrograd.optimize(
            ours_model,
            mapping="ann",
            optimize_options=options(hydrograd, ours_model),
            common_options=quiet,
            callback=last[0],
        )

    reference = None
    if HAVE_SMASH:
        import smash

        ref_model = smash.Model(*smash.factory.load_dataset("Lez"))

        def reference():
            return smash.optimize(
                ref_model,
                mapping="ann",
                optimize_options=options(smash, ref_model),
                common_options=quiet,
                callback=last[1],
            )

    return Workload(f"Lez ANN {kind.upper()} regionalization (250 Adam iterations)", ours, reference, 1, last)


def lez_ann_mlp() -> Workload:
    return _seed_training("mlp")


def lez_ann_cnn() -> Workload:
    return _seed_training("cnn")


SAMPLED_PROBLEM = {
    "num_vars": 5,
    "names": ["cp", "ct", "kexc", "llr", "hp"],
    "bounds": [(1, 1000), (1, 1000), (-20, 5), (1, 200), (0.1, 0.9)],
}


def _multiple_forward(dataset: str, label: str, reference_repeats: int) -> Workload:
    """``multiple_forward_run`` of 1,000 uniform draws (seed 99) of five gr4/lr parameters and
    initial states (those of smash's own test), each run scored by the NSE at the outlet;
    hydro-smash timed ``reference_repeats`` times."""
    quiet = {"verbose": False}
    setup, mesh = hydrograd.factory.load_dataset(dataset)
    ours_model = hydrograd.Model(setup, mesh, verbose=False)
    ours_samples = hydrograd.factory.generate_samples(SAMPLED_PROBLEM, n=1000, random_state=99)
    reference = None
    if HAVE_SMASH:
        import smash

        ref_model = smash.Model(*smash.factory.load_dataset(dataset))
        ref_samples = smash.factory.generate_samples(SAMPLED_PROBLEM, n=1000, random_state=99)

        def reference():
            return smash.multiple_forward_run(ref_model, ref_samples, common_options=quiet)

    def ours():
        return hydrograd.multiple_forward_run(ours_model, ours_samples, common_options=quiet)

    return Workload(label, ours, reference, 3, reference_repeats=reference_repeats)


def lez_multiple_forward() -> Workload:
    return _multiple_forward("Lez", "Lez multiple forward run (gr4/lr, 1,000 sets, 364 daily steps)", 3)


def cance_multiple_forward() -> Workload:
    """hydro-smash takes about 3 minutes over it: timed once."""
    return _multiple_forward("Cance", "Cance multiple forward run (gr4/lr, 1,000 sets, 1,440 hourly steps)", 1)


def _backward(dataset: str, diff_target: str, label: str) -> Workload:
    """``backward_run`` of a distributed gr4/lr model at its default parameters: the gradient of the
    cost (``"j"``) or of every active cell's discharge (``"q"``, smash's default cotangent of ones)
    with respect to every cell's parameters."""
    quiet = {"verbose": False}
    returns = {"grad": True}
    setup, mesh = hydrograd.factory.load_dataset(dataset)
    ours_model = hydrograd.Model(setup, mesh, verbose=False)
    reference = None
    if HAVE_SMASH:
        import smash

        ref_model = smash.Model(*smash.factory.load_dataset(dataset))

        def reference():
            return smash.backward_run(
                ref_model, diff_target, mapping="distributed", common_options=quiet, return_options=returns
            )

    def ours():
        return hydrograd.backward_run(
            ours_model, diff_target, mapping="distributed", common_options=quiet, return_options=returns
        )

    return Workload(label, ours, reference, 5)


def lez_backward_j() -> Workload:
    return _backward("Lez", "j", "Lez backward_run, dJ/dx (gr4/lr distributed, 364 daily steps)")


def cance_backward_j() -> Workload:
    return _backward("Cance", "j", "Cance backward_run, dJ/dx (gr4/lr distributed, 1,440 hourly steps)")


def cance_backward_q() -> Workload:
    return _backward("Cance", "q", "Cance backward_run, d(sum q)/dx (gr4/lr distributed, 1,440 hourly steps)")


def france_forward() -> Workload:
    """One forward run of gr4/lr over 32 hourly steps on France (906,044 cells)."""
    from benchmarks.france import hydrograd_model, smash_model

    quiet = {"verbose": False}
    ours_model = hydrograd_model()
    reference = None
    if HAVE_SMASH:
        ref_model = smash_model()

        def reference():
            return ref_model.forward_run(common_options=quiet)

    return Workload(
        "France forward (gr4/lr, 906,044 cells, 32 hourly steps)",
        lambda: ours_model.forward_run(common_options=quiet),
        reference,
        3,
    )


def france_gradient() -> Workload:
    """Gradient of the NSE at 10 synthetic gauges with respect to the four distributed parameter
    maps on France (32 hourly steps): hydrograd's jitted value-and-grad against smash's
    ``backward_run`` (Tapenade adjoint)."""
    from benchmarks.france import hydrograd_model, smash_model
    from hydrograd.calibration.run import build_problem, problem_precision
    from hydrograd.config.calibration import check_calibration

    ours_model = hydrograd_model()
    request = check_calibration(
        ours_model.facts(values=True), "distributed", "lbfgsb", None, {"gauge": "all"}, {"verbose": False}
    )
    data = ours_model.calibration_data()
    precision = problem_precision(data, request)
    with jax.enable_x64(precision.double):
        problem = build_problem(data, request, precision)

    def ours():
        with jax.enable_x64(precision.double):
            return problem.value_and_grad(problem.x0)

    reference = None
    if HAVE_SMASH:
        ref_model = smash_model()

        def reference():
            return ref_model.backward_run(
                mapping="distributed",
                optimizer="lbfgsb",
                cost_options={"gauge": "all"},
                common_options={"verbose": False},
                return_options={"grad": True},
            )

    return Workload(
        "France NSE gradient, distributed (4 x 906,044 values, 32 hourly steps)",
        ours,
        reference,
        3,
    )


WORKLOADS: dict[str, Callable[[], Workload]] = {
    "lez_forward": lez_forward,
    "lez_sbs": lez_sbs,
    "lez_multilinear_lbfgsb": lez_multilinear_lbfgsb,
    "lez_distributed_lbfgsb": lez_distributed_lbfgsb,
    "lez_hybrid_lbfgsb": lez_hybrid_lbfgsb,
    "cance_distributed_lbfgsb": cance_distributed_lbfgsb,
    "lez_bayesian_sbs": lez_bayesian_sbs,
    "lez_bayesian_distributed": lez_bayesian_distributed,
    "cance_bayesian_lbfgsb": cance_bayesian_lbfgsb,
    "lez_ann_mlp": lez_ann_mlp,
    "lez_ann_cnn": lez_ann_cnn,
    "lez_multiple_forward": lez_multiple_forward,
    "cance_multiple_forward": cance_multiple_forward,
    "lez_backward_j": lez_backward_j,
    "cance_backward_j": cance_backward_j,
    "cance_backward_q": cance_backward_q,
    "france_forward": france_forward,
    "france_gradient": france_gradient,
}
