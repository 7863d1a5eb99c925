"""Where an accelerator's France forward run parts from the CPU's, and what its time is made of.

``python -m benchmarks.accelerator_parts fluxes FILE`` runs the France forward run (gr4/lr, 32
hourly steps, ``benchmarks.france``) on JAX's default device and saves every internal flux and the
discharge of every active cell at steps 0, 1 and 31, and the final states, to ``FILE`` (``.npz``);
run it once with ``JAX_PLATFORMS=cpu`` and once on the accelerator, then ``compare CPU_FILE
OTHER_FILE`` prints, per flux and step, the largest absolute and relative differences (relative to
each cell's value, floored at 1e-6), the share of cells beyond 1e-5 and 1e-3, and the smallest
values (a negative release shows there).

``python -m benchmarks.accelerator_parts times [N]``: medians of France forward runs with ``lr``
routing and without routing (``zero``), and of Lez multiple forward runs of 1,000 and ``N``
(default 10,000) parameter sets.

``python -m benchmarks.accelerator_parts small``: Lez work of growing width (a forward run, the
gradient of its cost, multiple forward runs of 10, 100 and 1,000 sets): the first call, then the
median of repeated calls, on JAX's default device; run it again with ``JAX_PLATFORMS=cpu`` to see
from which width an accelerator pays.
"""

from __future__ import annotations

import argparse
import time
from functools import partial

import numpy as np

from benchmarks._timing import alternate

QUIET = {"verbose": False}
STEPS = (0, 1, 31)


def save_fluxes(path: str) -> None:
    """The France forward run's internal fluxes and discharge on active cells at ``STEPS``, and its
    final states, to ``path``."""
    from benchmarks import france

    model = france.hydrograd_model()
    run = model.forward_run(common_options=QUIET, return_options={"internal_fluxes": True, "q_domain": True})
    active = np.asarray(model.mesh.active_cell) == 1
    arrays = {}
    for name, values in {**run.internal_fluxes, "q_domain": run.q_domain}.items():
        values = np.asarray(values)
        for step in STEPS:
            arrays[f"{name}@{step}"] = values[..., step][active]
    states = np.asarray(model.rr_final_states.values)
    for i, name in enumerate(model.rr_final_states.keys):
        arrays[f"final {name}"] = states[..., i][active]
    np.savez(path, **arrays)


def compare_fluxes(reference_path: str, other_path: str) -> list[str]:
    """One line a flux and step: how far ``other_path``'s values are from ``reference_path``'s."""
    reference, other = np.load(reference_path), np.load(other_path)
    lines = []
    for key in reference.files:
        a, b = other[key].astype(np.float64), reference[key].astype(np.float64)
        diff = np.abs(a - b)
        rel = diff / np.maximum(np.abs(b), 1e-6)
        worst = int(rel.argmax())
        lines.append(
            f"{key:11s} max abs {diff.max():.2e} max rel {rel.max():.2e} cells >1e-5 {np.mean(rel > 1e-5):.4f} "
            f">1e-3 {np.mean(rel > 1e-3):.4f} min {a.min():.3g} / {b.min():.3g} worst {a[worst]:.7g} vs {b[worst]:.7g}"
        )
    return lines


def _median(call, repeats: int) -> float:
    """Median seconds of ``repeats`` calls after a first (compiling) one."""
    call()
    return alternate(call, None, repeats).hydrograd


def times(n_sets: int) -> None:
    """Print the medians described in the module docstring."""
    import hydrograd
    from benchmarks import france
    from benchmarks.workloads import SAMPLED_PROBLEM

    setup, mesh = hydrograd.factory.load_dataset("France")
    for routing in ("lr", "zero"):
        model = hydrograd.Model({**setup, "routing_module": routing}, france.gauged_mesh(mesh), verbose=False)
        median = _median(lambda model=model: model.forward_run(common_options=QUIET), 5)
        print(f"France forward routing={routing}: median {median:.4f} s", flush=True)
        del model
    lez = hydrograd.Model(*hydrograd.factory.load_dataset("Lez"), verbose=False)
    for n in (1000, n_sets):
        samples = hydrograd.factory.generate_samples(SAMPLED_PROBLEM, n=n, random_state=99)
        median = _median(lambda samples=samples: hydrograd.multiple_forward_run(lez, samples, common_options=QUIET), 2)
        print(f"Lez multiple forward n={n}: median {median:.4f} s", flush=True)


def small_work(sizes: tuple[int, ...] = (10, 100, 1000)) -> list[str]:
    """One line a Lez job: its first call and the median of repeated calls (s); ``sizes``: the
    numbers of parameter sets of the multiple forward runs."""
    import hydrograd
    from benchmarks.workloads import SAMPLED_PROBLEM, lez_backward_j

    lez = hydrograd.Model(*hydrograd.factory.load_dataset("Lez"), verbose=False)
    jobs = {
        "Lez forward_run": (lambda: lez.forward_run(common_options=QUIET), 10),
        "Lez backward_run (dJ/dx, distributed)": (lez_backward_j().ours, 3),
    }
    for n in sizes:
        samples = hydrograd.factory.generate_samples(SAMPLED_PROBLEM, n=n, random_state=99)
        call = partial(hydrograd.multiple_forward_run, lez, samples, common_options=QUIET)
        jobs[f"Lez multiple_forward_run, {n} sets"] = (call, 3)
    lines = []
    for label, (call, repeats) in jobs.items():
        start = time.perf_counter()
        call()
        first = time.perf_counter() - start
        median = alternate(call, None, repeats).hydrograd
        lines.append(f"{label}: first {first:.4f} s, median {median:.4f} s")
        print(lines[-1], flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("fluxes").add_argument("file")
    compare = commands.add_parser("compare")
    compare.add_argument("reference")
    compare.add_argument("other")
    commands.add_parser("times").add_argument("n", type=int, nargs="?", default=10_000)
    commands.add_parser("small")
    args = parser.parse_args()
    if args.command == "fluxes":
        save_fluxes(args.file)
    elif args.command == "compare":
        print("\n".join(compare_fluxes(args.reference, args.other)))
    elif args.command == "small":
        small_work()
    else:
        times(args.n)


if __name__ == "__main__":
    main()
