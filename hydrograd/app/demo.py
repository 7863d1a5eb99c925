"""``hydrograd demo``: both seed workflows, end to end, on the embedded twin-experiment catchment.

The synthetic truth (:mod:`hydrograd.factory.synthetic`) is GR4 with parameter maps that are a
hidden function of the descriptors, plus a known flux correction that plain GR4 cannot
represent. Every calibration sees only the calibration gauges; the validation gauges close
headwater sub-catchments that no calibration sees.

1. Hybrid process-parameterization (seed tutorial 1): a ``gr4_mlp`` model; pre-calibration of the
   conceptual parameters and initial states (uniform mapping, SBS) with the network at zero,
   which is plain GR4 (``GR4``); then small random weights and a joint L-BFGS-B training of the
   parameters and the network (``GR4_MLP``).
2. Learnable regionalization (seed tutorial 2): an MLP maps the descriptors to the parameter and
   initial-state maps of plain GR4 (``MLP GR4``) and of the hybrid model of step 1 (``MLP hyb``);
   a CNN does the same for the hybrid (``CNN hyb``). The hybrid's flux-correction network learned
   in step 1 is kept as it is: only the maps are trained (listing the network's weights in
   ``parameters``, smash's default, would fine-tune it jointly, and the network and the maps would
   then trade off against each other).

The report compares NSE per gauge across these models and the learned maps with the hidden truth.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import hydrograd as smash
from hydrograd import plot
from hydrograd._progress import progress_bar
from hydrograd.factory import synthetic
from hydrograd.model import Model
from hydrograd.nn import Net

PROBLEM = {
    "cp": (1e-6, 1000.0),
    "ct": (1e-6, 1000.0),
    "kexc": (-5.0, 5.0),
    "llr": (1e-6, 1000.0),
    "hp": (0.0, 1.0),
    "ht": (0.0, 1.0),
}
"""Regionalized parameters and initial states with their bounds (seed 2's, with ``kexc`` in
(-5, 5) mm/d instead of (-50, 50): the truth's exchange is a few mm/d at most)."""

MODELS = ("default", "GR4", "GR4_MLP", "MLP GR4", "MLP hyb", "CNN hyb")
"""The models the report compares: default parameters; step 1's GR4 and GR4_MLP (uniform
parameters); step 2's MLP regionalization of GR4 and of the hybrid, and CNN regionalization of
the hybrid."""

REGIONALIZED = ("MLP GR4", "MLP hyb", "CNN hyb")


@dataclass(frozen=True)
class DemoSettings:
    """Iteration budgets and learning rates of the demo's trainings, the hybrid network's hidden
    layer size."""

    sbs_maxiter: int = 3
    hybrid_maxiter: int = 60
    mlp_maxiter: int = 300
    cnn_maxiter: int = 100
    hidden_neuron: int = 12
    mlp_learning_rate: float = 0.005
    cnn_learning_rate: float = 0.005


QUICK = DemoSettings(sbs_maxiter=1, hybrid_maxiter=2, mlp_maxiter=2, cnn_maxiter=2)
"""A smoke-test budget: every step runs, nothing converges."""


@dataclass
class DemoResult:
    """What the demo measured: gauge codes and which are validation gauges, NSE per gauge and
    model (``nse[model]``, ``(ng,)``), correlations of learned with true maps
    (``correlation[model][name]``), seconds per phase, and the figures written."""

    codes: list[str]
    validation: np.ndarray
    nse: dict[str, np.ndarray] = field(default_factory=dict)
    correlation: dict[str, dict[str, float]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    figures: list[Path] = field(default_factory=list)

    def mean_nse(self, model: str, validation: bool) -> float:
        """Mean NSE of ``model`` over the validation (or calibration) gauges."""
        mask = self.validation if validation else ~self.validation
        return float(np.mean(self.nse[model][mask]))


class _Phase:
    """A progress bar for one training when its iteration lines are off, driven by the callback."""

    def __init__(self, desc: str, total: int, verbose: bool):
        self.bar = progress_bar(total, desc, not verbose, leave=False, unit="it")

    def __call__(self, iopt) -> None:
        self.bar.update(max(0, int(iopt.n_iter) - self.bar.n))

    def close(self) -> None:
        self.bar.close()


def _optimize(model: Model, desc: str, verbose: bool, maxiter: int, **kwargs) -> Any:
    phase = _Phase(desc, maxiter, verbose)
    try:
        return model.optimize(common_options={"verbose": verbose}, callback=phase, **kwargs)
    finally:
        phase.close()


def networks(model: Model) -> dict[str, Net]:
    """Seed 2's MLP and CNN for this model's descriptors and :data:`PROBLEM`."""
    bounds = list(PROBLEM.values())
    mlp = Net()
    mlp.add_dense(24, input_shape=model.setup.nd, activation="relu")
    mlp.add_dense(60, activation="relu")
    mlp.add_dense(len(PROBLEM), activation="tanh")
    mlp.add_scale(bounds)
    cnn = Net()
    cnn.add_conv2d(24, filter_shape=(4, 4), input_shape=model.physio_data.descriptor.shape, activation="relu")
    cnn.add_flatten()
    cnn.add_dense(60, activation="relu")
    cnn.add_dense(len(PROBLEM), activation="tanh")
    cnn.add_scale(bounds)
    return {"MLP": mlp, "CNN": cnn}


def learned_map(model: Model, name: str) -> np.ndarray:
    """A parameter or initial-state map of ``model``."""
    return model.get_rr_parameters(name) if name in model.rr_parameters.keys else model.get_rr_initial_states(name)


def true_maps(model: Model) -> dict[str, np.ndarray]:
    """The hidden true parameter and initial-state maps of the synthetic catchment."""
    maps = synthetic.descriptor_maps(model)
    return {**synthetic.true_parameters(maps), **synthetic.true_initial_states(maps)}


def correlations(model: Model, truth: dict[str, np.ndarray]) -> dict[str, float]:
    """Pearson correlation over the active cells of each learned map with the true one."""
    active = model.mesh.active_cell == 1
    out = {}
    for name in PROBLEM:
        learned = learned_map(model, name)[active].astype(np.float64)
        true = truth[name][active].astype(np.float64)
        out[name] = float(np.corrcoef(learned, true)[0, 1]) if learned.std() > 0 else float("nan")
    return out


def _regionalize(model: Model, net: Net, label: str, maxiter: int, rate: float, verbose: bool, cost_options) -> Any:
    """Train ``net`` on ``model`` (in place): the maps of :data:`PROBLEM`; a hybrid model keeps its
    flux-correction network."""
    model.set_rr_parameters("kexc", 0.0)  # optimize checks the start lies in PROBLEM's bounds; the net replaces it
    return _optimize(
        model,
        f"</> {label} regionalization (Adam)",
        verbose,
        maxiter,
        mapping="ann",
        optimize_options={
            "net": net,
            "learning_rate": rate,
            "termination_crit": {"maxiter": maxiter, "early_stopping": 50},
            "random_state": 1,
            "parameters": list(PROBLEM),
            "bounds": PROBLEM,
        },
        cost_options=cost_options,
        return_options={"net": True},
    )


def run_demo(
    output: Path,
    settings: DemoSettings = DemoSettings(),
    *,
    verbose: bool = False,
    say: Callable[[str], None] | None = None,
) -> DemoResult:
    """Run both workflows on the synthetic catchment, write figures into ``output``, return the
    numbers; ``say`` receives one line as each phase ends (e.g. ``print``)."""
    start = time.perf_counter()
    timings: dict[str, float] = {}

    def done(phase: str, tic: float) -> None:
        timings[phase] = time.perf_counter() - tic
        if say is not None:
            say(f"    {phase}: done in {timings[phase]:.1f} s")

    setup, mesh = smash.factory.load_dataset("Synthetic")
    plain = smash.Model(setup, mesh, verbose=verbose)
    model = smash.Model(
        {**setup, "hydrological_module": "gr4_mlp", "hidden_neuron": settings.hidden_neuron}, mesh, verbose=verbose
    )
    codes = [str(c) for c in model.mesh.code]
    result = DemoResult(codes, np.isin(codes, synthetic.VALIDATION_GAUGES))
    cost_options = {"gauge": list(synthetic.CALIBRATION_GAUGES)}
    models: dict[str, Model] = {}
    histories: dict[str, Any] = {}
    model.forward_run(common_options={"verbose": False})
    models["default"] = model.copy()
    done("data and compilation", start)

    # 1. Hybrid process-parameterization (seed 1).
    tic = time.perf_counter()
    options = smash.default_optimize_options(model)
    options["parameters"] = [p for p in options["parameters"] if "weight" not in p and "bias" not in p] + ["hp", "ht"]
    options["termination_crit"]["maxiter"] = settings.sbs_maxiter
    histories["GR4 pre-calibration (SBS)"] = _optimize(
        model,
        "</> GR4 pre-calibration (SBS)",
        verbose,
        settings.sbs_maxiter,
        optimize_options=options,
        cost_options=cost_options,
        return_options={"iter_cost": True},
    )
    models["GR4"] = model.copy()
    model.set_nn_parameters_weight(initializer="he_uniform", random_state=23)
    model.set_nn_parameters_weight([w * 0.1 for w in model.get_nn_parameters_weight()])
    histories["GR4_MLP joint training (L-BFGS-B)"] = _optimize(
        model,
        "</> GR4_MLP joint training (L-BFGS-B)",
        verbose,
        settings.hybrid_maxiter,
        optimizer="lbfgsb",
        optimize_options={"termination_crit": {"maxiter": settings.hybrid_maxiter}},
        cost_options=cost_options,
        return_options={"iter_cost": True},
    )
    models["GR4_MLP"] = model.copy()
    done("1. hybrid GR4_MLP", tic)

    # 2. Learnable regionalization (seed 2) of GR4 and of the hybrid model.
    truth = true_maps(model)
    runs = (
        ("MLP GR4", "MLP", plain, settings.mlp_maxiter, settings.mlp_learning_rate),
        ("MLP hyb", "MLP", models["GR4_MLP"], settings.mlp_maxiter, settings.mlp_learning_rate),
        ("CNN hyb", "CNN", models["GR4_MLP"], settings.cnn_maxiter, settings.cnn_learning_rate),
    )
    for label, kind, base, maxiter, rate in runs:
        tic = time.perf_counter()
        regional = base.copy()
        ret = _regionalize(regional, networks(regional)[kind], label, maxiter, rate, verbose, cost_options)
        models[label] = regional
        histories[f"{label} regionalization (Adam)"] = ret.net
        result.correlation[label] = correlations(regional, truth)
        done(f"2. {label} regionalization", tic)

    result.nse = {name: smash.evaluation(models[name], metric="nse")[:, 0] for name in MODELS}
    tic = time.perf_counter()
    result.figures = write_figures(output, models, truth, histories, result)
    done("figures", tic)
    timings["total"] = time.perf_counter() - start
    result.timings = timings
    return result


def write_figures(
    output: Path,
    models: dict[str, Model],
    truth: dict[str, np.ndarray],
    histories: dict[str, Any],
    result: DemoResult,
) -> list[Path]:
    """Hydrographs, learned against true maps and loss curves, as PNG files in ``output``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    output.mkdir(parents=True, exist_ok=True)
    written = []

    shown = [0, *np.flatnonzero(result.validation)[:2]]
    fig, axes = plt.subplots(len(shown), 1, figsize=(10, 3 * len(shown)), sharex=True)
    for ax, g in zip(np.atleast_1d(axes), shown, strict=True):
        plot.hydrograph({k: models[k] for k in ("GR4", "GR4_MLP", "MLP GR4", "MLP hyb")}, int(g), ax=ax)
        ax.set_title(f"gauge {result.codes[g]} ({'validation' if result.validation[g] else 'calibration'})")
    fig.tight_layout()
    written.append(_save(fig, output / "hydrographs.png"))

    rows: dict[str, Model | None] = {"truth": None, **{label: models[label] for label in REGIONALIZED}}
    fig, axes = plt.subplots(len(rows), len(PROBLEM), figsize=(3.2 * len(PROBLEM), 2.9 * len(rows)))
    active = models["default"].mesh.active_cell == 1
    for j, name in enumerate(PROBLEM):
        low, high = float(truth[name][active].min()), float(truth[name][active].max())
        for i, (label, model) in enumerate(rows.items()):
            values = truth[name] if model is None else learned_map(model, name)
            title = f"{name}: {label}" + ("" if model is None else f" (r = {result.correlation[label][name]:.2f})")
            plot.parameter_map(
                models["default"], name, values, ax=axes[i, j], vmin=low, vmax=high, title=title, labels=False
            )
    fig.tight_layout()
    written.append(_save(fig, output / "maps.png"))

    fig, ax = plt.subplots(figsize=(7, 4))
    plot.loss_history(histories, ax=ax)
    ax.set_title("cost J (mean 1 - NSE over the calibration gauges)")
    fig.tight_layout()
    written.append(_save(fig, output / "loss.png"))
    return written


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def format_report(result: DemoResult) -> str:
    """The demo's report: NSE per gauge and model, means over calibration and validation gauges,
    correlations of the learned maps with the truth, time taken."""
    width = 10
    lines = [
        "    NSE per gauge. Step 1 (uniform parameters): GR4 pre-calibrated, GR4_MLP hybrid;",
        "    step 2 (regionalized): MLP on GR4, MLP and CNN on the hybrid. val = validation gauge.",
        f"    {'gauge':<9}{'set':<5}" + "".join(f"{m:>{width}}" for m in MODELS),
    ]
    for g, code in enumerate(result.codes):
        kind = "val" if result.validation[g] else "cal"
        lines.append(f"    {code:<9}{kind:<5}" + "".join(f"{result.nse[m][g]:>{width}.3f}" for m in MODELS))
    for label, validation in (("mean cal", False), ("mean val", True)):
        lines.append(f"    {label:<14}" + "".join(f"{result.mean_nse(m, validation):>{width}.3f}" for m in MODELS))
    lines.append("    correlation of the learned maps with the hidden truth (active cells)")
    lines.append(f"    {'':<8}" + "".join(f"{m:>{width}}" for m in result.correlation))
    for name in PROBLEM:
        lines.append(f"    {name:<8}" + "".join(f"{c[name]:>{width}.3f}" for c in result.correlation.values()))
    lines.append("    time (s)")
    lines += [f"    {phase:<32}{seconds:>8.1f}" for phase, seconds in result.timings.items()]
    return "\n".join(lines)
