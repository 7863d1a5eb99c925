"""hydrograd on an accelerator: each case's results against reference values, and its timings.

Two steps, because an accelerator machine may lack hydro-smash (``python -m benchmarks.accelerator``):

``--save-reference FILE`` (here, hydro-smash installed, JAX on the CPU): every case run once by
hydro-smash 1.3.0 and by hydrograd on the CPU; their results go to ``FILE`` (``.npz``).

``--check FILE [--out DIR] [CASE ...]``: every case run by hydrograd on JAX's default device, each in
a fresh process: its first call (compilation included), the median of repeated calls (each one
waited for with ``jax.block_until_ready``), and the largest relative difference of its results from
hydro-smash's and from hydrograd's CPU results in ``FILE``. One markdown row a case; with ``--out``,
one JSON line a case in ``DIR/accelerator.jsonl`` as soon as it ends.

Discharge is compared where it matters to a hydrologist: relative to the largest discharge of each
gauge's series, so that near-zero flows do not dominate. A gradient is compared on a
fixed sample of its entries, relative to its largest entry.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np

from benchmarks import end_to_end

QUIET = {"verbose": False}
GRADIENT_SAMPLE = 20_000


@dataclass
class Case:
    """``run`` does the job once and returns its results (name -> array); ``repeats`` timed calls
    follow the first."""

    label: str
    run: Callable[[], dict[str, np.ndarray]]
    repeats: int


def _lez_forward(package) -> Case:
    model = package.Model(*package.factory.load_dataset("Lez"), **_quiet_build(package))

    def run():
        model.forward_run(common_options=QUIET)
        return {"q": np.array(model.response.q, copy=True)}

    return Case("Lez forward (gr4/lr, 364 daily steps)", run, 20)


def _france_forward(package) -> Case:
    from benchmarks import france

    model = france.smash_model() if package.__name__ == "smash" else france.hydrograd_model()

    def run():
        model.forward_run(common_options=QUIET)
        return {"q": np.array(model.response.q, copy=True)}

    return Case("France forward (gr4/lr, 906,044 cells, 32 hourly steps)", run, 5)


def _france_gradient(package) -> Case | None:
    """hydrograd's value and gradient of the France NSE cost (``benchmarks.workloads.france_gradient``);
    hydro-smash's ``backward_run`` has another control layout, so hydrograd's CPU float64 result is
    the reference here."""
    from benchmarks.workloads import france_gradient

    if package.__name__ == "smash":
        return None
    work = france_gradient()

    def run():
        value, grad = jax.block_until_ready(work.ours())
        grad = np.asarray(grad, dtype=np.float64).ravel()
        sample = np.random.default_rng(0).choice(grad.size, min(GRADIENT_SAMPLE, grad.size), replace=False)
        return {"cost": np.atleast_1d(np.asarray(value, dtype=np.float64)), "grad_sample": grad[np.sort(sample)]}

    return Case("France NSE gradient (4 x 906,044 values, 32 hourly steps)", run, 3)


def _multiple_forward(package) -> Case:
    from benchmarks.workloads import SAMPLED_PROBLEM

    model = package.Model(*package.factory.load_dataset("Lez"), **_quiet_build(package))
    samples = package.factory.generate_samples(SAMPLED_PROBLEM, n=1000, random_state=99)

    def run():
        result = package.multiple_forward_run(model, samples, common_options=QUIET)
        return {"cost": np.array(result.cost, copy=True), "q": np.array(result.q, copy=True)}

    return Case("Lez multiple forward run (1,000 sets, 364 daily steps)", run, 3)


def _calibration_case(workload: str) -> Callable[..., Case]:
    """A calibration workload of ``benchmarks.workloads``: results are its last iterate's cost."""

    def build(package) -> Case:
        from benchmarks import workloads

        work = getattr(workloads, workload)()
        call = work.ours if package.__name__ == "hydrograd" else work.reference
        side = 0 if package.__name__ == "hydrograd" else 1

        def run():
            call()
            return {"cost": np.array([work.last[side].value[1]])}

        return Case(work.name, run, 1)

    return build


CASES: dict[str, Callable[..., Case | None]] = {
    "lez_forward": _lez_forward,
    "france_forward": _france_forward,
    "france_gradient": _france_gradient,
    "lez_multiple_forward": _multiple_forward,
    "lez_ann_mlp": _calibration_case("lez_ann_mlp"),
    "lez_ann_cnn": _calibration_case("lez_ann_cnn"),
    "lez_hybrid_lbfgsb": _calibration_case("lez_hybrid_lbfgsb"),
}


def _quiet_build(package) -> dict:
    return {"verbose": False} if package.__name__ == "hydrograd" else {}


def _relative(values: np.ndarray, reference: np.ndarray, key: str) -> float:
    """Largest difference relative to the reference's scale (per gauge for discharge)."""
    values, reference = np.asarray(values, np.float64), np.asarray(reference, np.float64)
    if values.shape != reference.shape:
        raise ValueError(f"'{key}': shape {values.shape}, reference {reference.shape}")
    if key == "q":
        scale = np.maximum(np.abs(reference).max(axis=1, keepdims=True), 1e-12)  # (ng, 1[, n])
    else:
        scale = max(float(np.abs(reference).max()), 1e-12)
    return float(np.nanmax(np.abs(values - reference) / scale)) if values.size else 0.0


def save_reference(path: str, names: list[str]) -> None:
    """Every case by hydro-smash and by hydrograd on the CPU, results to ``path``."""
    import smash

    import hydrograd

    arrays = {}
    for name in names:
        for tag, package in (("smash", smash), ("cpu", hydrograd)):
            case = CASES[name](package)
            if case is None:
                continue
            for key, value in case.run().items():
                arrays[f"{name}/{tag}/{key}"] = value
            print(f"{name}: {tag} done", flush=True)
        jax.clear_caches()
    np.savez_compressed(path, **arrays)


def check_one(name: str, reference_path: str) -> dict:
    """Case ``name`` on JAX's default device: timings and differences from the references."""
    import hydrograd

    reference = np.load(reference_path)
    start = time.perf_counter()
    case = CASES[name](hydrograd)
    build = time.perf_counter() - start
    start = time.perf_counter()
    results = case.run()
    first = time.perf_counter() - start
    times = []
    for _ in range(case.repeats):
        start = time.perf_counter()
        jax.block_until_ready(case.run())
        times.append(time.perf_counter() - start)
    row = {"case": name, "label": case.label, "device": str(jax.devices()[0].device_kind)}
    row.update(build_s=build, first_s=first, median_s=statistics.median(times) if times else None)
    for tag in ("smash", "cpu"):
        for key, value in results.items():
            ref_key = f"{name}/{tag}/{key}"
            if ref_key in reference:
                row[f"{key} vs {tag}"] = _relative(value, reference[ref_key], key)
    return row


def _markdown(row: dict) -> str:
    diffs = ", ".join(f"{k} {v:.2g}" for k, v in row.items() if " vs " in k)
    median = "n/a" if row.get("median_s") is None else f"{row['median_s']:.4g}"
    return f"| {row['label']} | {row['build_s']:.3g} | {row['first_s']:.3g} | {median} | {diffs} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cases", nargs="*", choices=[*CASES, []], help="default: all")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--save-reference", metavar="FILE")
    mode.add_argument("--check", metavar="FILE")
    mode.add_argument("--one", nargs=2, metavar=("CASE", "FILE"), help=argparse.SUPPRESS)
    parser.add_argument("--out", metavar="DIR", help="also write one JSON line a case to DIR/accelerator.jsonl")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds a case may take (default 300)")
    parser.add_argument("--budget", type=float, help="seconds all cases may take together; later cases are left out")
    args = parser.parse_args()
    names = args.cases or list(CASES)
    if args.save_reference:
        save_reference(args.save_reference, names)
        return
    if args.one:
        print(json.dumps(check_one(*args.one)))
        return
    print(end_to_end.machine_line())
    print(f"JAX {jax.__version__}: {jax.devices()}")
    print("\n| case | model build (s) | first call (s) | median call (s) | largest relative difference |")
    print("| --- | --- | --- | --- | --- |", flush=True)
    log = Path(args.out) / "accelerator.jsonl" if args.out else None
    deadline = None if args.budget is None else time.monotonic() + args.budget
    for name in names:
        timeout = args.timeout if deadline is None else min(args.timeout, deadline - time.monotonic())
        if timeout <= 0:
            print(f"| {name} | not run: the budget of {args.budget:.0f} s is spent | | | |", flush=True)
            continue
        command = [sys.executable, "-m", "benchmarks.accelerator", "--one", name, args.check]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            print(f"| {name} | timed out after {timeout:.0f} s | | | |", flush=True)
            continue
        if done.returncode != 0:
            print(f"| {name} | failed: {done.stderr.strip().splitlines()[-1:]} | | | |", flush=True)
            if log:
                with open(log.with_name(f"{name}.stderr"), "w") as f:
                    f.write(done.stderr)
            continue
        row = json.loads(done.stdout.strip().splitlines()[-1])
        print(_markdown(row), flush=True)
        if log:
            with open(log, "a") as f:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
