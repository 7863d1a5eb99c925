"""XLA's CPU pool with one worker against XLA's default, by domain size:
``python -m benchmarks.pool_size [side ...]``.

Each domain is a square window of ``side`` km (``side**2`` cells of 1 km) in the middle of smash's
France flow directions, run as gr4/lr over 240 hourly steps of the France dataset's forcing (its
fields cover the first 32 steps; the rest are missing and count as no rain), with ten synthetic
gauges at the largest outlets. Every size is measured in fresh processes, alternately with
``HYDROGRAD_CPU_THREADS=1`` and ``default``, twice each: the median of a forward run and of an NSE
gradient with respect to the four distributed parameter maps, after compilation. This is how
``hydrograd._process.SHARED_POOL_MIN_CELLS`` was chosen.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

DEFAULT_SIDES = (13, 20, 30, 40, 60, 120, 250)
N_STEPS = 240
SETTINGS = ("1", "default")


def _median_seconds(call, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(side: int) -> tuple[int, float, float]:
    """``(active cells, forward run s, gradient s)`` of the ``side`` km window, in this process."""
    import numpy as np

    import hydrograd
    from benchmarks.france import gauged_mesh, synthetic_observations
    from hydrograd.calibration.run import Problem
    from hydrograd.config.optimize_options import check_optimize_options

    setup, france = hydrograd.factory.load_dataset("France")
    x0, y0 = france["xmin"] + 575_000, france["ymax"] - 537_000
    half = side * 500
    flwdir = hydrograd.factory.load_dataset("flwdir")
    mesh = hydrograd.factory.generate_mesh(flwdir, bbox=[x0 - half, x0 + half, y0 - half, y0 + half], epsg=2154)
    end = np.datetime64(setup["start_time"]) + np.timedelta64(N_STEPS, "h")
    model = hydrograd.Model({**setup, "end_time": str(end)}, gauged_mesh(mesh), verbose=False)
    model.response_data.q[:] = synthetic_observations(model)
    quiet = {"verbose": False}
    model.forward_run(common_options=quiet)
    forward = _median_seconds(lambda: model.forward_run(common_options=quiet), 7)
    problem = Problem(model, check_optimize_options(model, "distributed", "lbfgsb", None), {"gauge": "all"})
    problem.value_and_grad(problem.x0)
    gradient = _median_seconds(lambda: problem.value_and_grad(problem.x0), 5)
    return int(model.mesh.nac), forward, gradient


def _span_ms(seconds: list[float]) -> str:
    """``"low-high"`` in milliseconds, or one value when they agree to three digits."""
    low, high = (f"{1e3 * value:.3g}" for value in (min(seconds), max(seconds)))
    return low if low == high else f"{low}-{high}"


def _in_fresh_process(side: int, threads: str) -> tuple[int, float, float]:
    env = {**os.environ, "HYDROGRAD_CPU_THREADS": threads}
    env.pop("PJRT_NPROC", None)
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.pool_size", "--in-this-process", str(side)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    cells, forward, gradient = out.stdout.split()[-3:]
    return int(cells), float(forward), float(gradient)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("sides", nargs="*", type=int, default=DEFAULT_SIDES, help="window sides in km")
    parser.add_argument("--in-this-process", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.in_this_process:
        print(*measure(args.sides[0]))
        return
    columns = [f"{what}, {who} (ms)" for what in ("forward", "gradient") for who in ("one worker", "default")]
    print(f"| active cells | {' | '.join(columns)} |")
    print("| --- | --- | --- | --- | --- |", flush=True)
    for side in args.sides:
        runs = {threads: [] for threads in SETTINGS}
        for _ in range(2):
            for threads in SETTINGS:
                runs[threads].append(_in_fresh_process(side, threads))
        cells = runs[SETTINGS[0]][0][0]
        spans = [_span_ms([run[k] for run in runs[t]]) for k in (1, 2) for t in SETTINGS]
        print(f"| {cells:,} | {' | '.join(spans)} |", flush=True)


if __name__ == "__main__":
    main()
