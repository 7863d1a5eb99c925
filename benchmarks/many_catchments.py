"""Independent calibrations of a synthetic region, in catchments per minute: hydrograd's
``ModelBatch`` (one program per batch, on 1 and 2 host devices), ``hydrograd.distributed.
calibrate_catchments`` on 1 and 2 Dask workers, and hydro-smash calibrating the catchments one at a
time in one process.

``python -m benchmarks.many_catchments [N] [--smash K] [--optimizer sbs|lbfgsb] [--no-dask]
[--in-memory [--end-time DATE]] [--devices D ...]``
``python -m benchmarks.many_catchments N --regionalize [--maxiter M]``: one network trained jointly
(``ModelBatch.regionalize``) on three quarters of the catchments, the last quarter held out.
(default 8 catchments; generating each the first time takes several seconds, cached afterwards).
Every run builds its models from the files (``Model(setup, mesh)``), or with ``--in-memory`` from
``region_in_memory`` (forcing assigned from arrays, for hydrograd and hydro-smash alike; ``--end-time``
shortens the period), and calibrates them with the uniform mapping (SBS: smash's default
calibration); its wall time includes both. hydro-smash calibrates the first ``K`` catchments only
(default: all), and its rate is theirs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings

from benchmarks.end_to_end import cpu_model
from benchmarks.workloads import HAVE_SMASH
from hydrograd.factory.region import load_region, region_in_memory


def _options(optimizer: str) -> dict:
    return {"mapping": "uniform", "optimizer": optimizer, "common_options": {"verbose": False}}


def _builders(n: int, in_memory: bool, end_time: str | None) -> dict:
    """Name -> function of a model class that builds its model of the catchment."""
    if in_memory:
        return {name: c.model for name, c in region_in_memory(n, end_time=end_time, verbose=False).items()}
    end = {} if end_time is None else {"end_time": end_time}

    def on_files(setup: dict, mesh: dict):
        return lambda model_class: model_class({**setup, **end}, mesh)

    return {name: on_files(setup, mesh) for name, (setup, mesh) in load_region(n, verbose=False).items()}


def _batch(n: int, optimizer: str, devices: int, in_memory: bool = False, end_time: str | None = None) -> float:
    """Wall seconds of ``ModelBatch`` building and calibrating the region (run in this process)."""
    import hydrograd

    builders = _builders(n, in_memory, end_time)
    start = time.perf_counter()
    models = [build(hydrograd.Model) for build in builders.values()]
    results = hydrograd.ModelBatch(models, n_devices=devices).optimize(**_options(optimizer))
    wall = time.perf_counter() - start
    failed = [r for r in results if isinstance(r, Exception)]
    assert not failed, failed[:3]
    return wall


def _batch_in_process(n: int, optimizer: str, devices: int, in_memory: bool, end_time: str | None) -> float:
    """:func:`_batch` in a fresh process with ``devices`` host devices."""
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}
    call = f"_batch({n}, {optimizer!r}, {devices}, {in_memory!r}, {end_time!r})"
    code = f"from benchmarks.many_catchments import _batch; print({call})"
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return float(run.stdout.strip().splitlines()[-1])


def _regionalize(n: int, maxiter: int, in_memory: bool, end_time: str | None) -> None:
    """Joint regionalization over ``n`` catchments, the last quarter held out: wall time and NSE."""
    import hydrograd

    builders = _builders(n, in_memory, end_time)
    held_out = list(builders)[n - n // 4 :]
    start = time.perf_counter()
    models = {name: build(hydrograd.Model) for name, build in builders.items()}
    built = time.perf_counter() - start
    result = hydrograd.ModelBatch(models).regionalize(
        validation=held_out, optimizer="adam", optimize_options={"termination_crit": {"maxiter": maxiter}}
    )
    wall = time.perf_counter() - start
    print(f"{n - len(held_out)} training and {len(held_out)} held-out catchments, adam, {maxiter} iterations")
    print(
        f"wall {wall:.1f} s (models built in {built:.1f} s); training cost {result.iter_cost[0]:.4f} -> "
        f"{result.iter_cost[-1]:.4f}"
    )
    print(result.nse.groupby("role")["nse"].describe().to_string())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, nargs="?", default=8)
    parser.add_argument("--smash", type=int, default=None, help="catchments hydro-smash calibrates (all; 0: none)")
    parser.add_argument("--optimizer", default="sbs", choices=("sbs", "lbfgsb"))
    parser.add_argument("--no-dask", action="store_true")
    parser.add_argument("--in-memory", action="store_true", help="region_in_memory: forcing from arrays, no Dask")
    parser.add_argument("--end-time", default=None, help="last date of a shorter period (e.g. 2021-01-01)")
    parser.add_argument("--devices", type=int, nargs="+", default=[1, 2], help="host devices of the batch runs")
    parser.add_argument("--regionalize", action="store_true", help="joint regionalization instead")
    parser.add_argument("--maxiter", type=int, default=100, help="training iterations of --regionalize")
    args = parser.parse_args()
    n = args.n
    print(f"CPU: {cpu_model()}; {os.cpu_count()} logical cores; load average {os.getloadavg()[0]:.1f}")
    if args.regionalize:
        _regionalize(n, args.maxiter, args.in_memory, args.end_time)
        return
    builders = _builders(n, args.in_memory, args.end_time)
    source = "in memory" if args.in_memory else "on files"
    period = f", period to {args.end_time}" if args.end_time else ""
    print(f"{n} synthetic catchments ({source}{period}), uniform mapping, {args.optimizer}\n")
    print("| run | catchments | wall (s) | catchments per minute |")
    print("| --- | --- | --- | --- |")
    rows = {}
    for devices in args.devices:
        wall = _batch_in_process(n, args.optimizer, devices, args.in_memory, args.end_time)
        rows[f"batch{devices}"] = 60 * n / wall
        print(f"| hydrograd ModelBatch, {devices} host device(s) | {n} | {wall:.1f} | {60 * n / wall:.1f} |")
    if not args.no_dask and not args.in_memory:
        from hydrograd.distributed import calibrate_catchments

        region = load_region(n, verbose=False)
        options = {k: v for k, v in _options(args.optimizer).items() if k != "common_options"}
        for workers in (1, 2):
            with tempfile.TemporaryDirectory() as out:
                start = time.perf_counter()
                table = calibrate_catchments(region, out, n_workers=workers, verbose=False, **options)
                wall = time.perf_counter() - start
            assert (table["status"] == "done").all(), table
            rows[f"dask{workers}"] = 60 * n / wall
            label = f"hydrograd, {workers} Dask worker(s) (cluster start included)"
            print(f"| {label} | {n} | {wall:.1f} | {60 * n / wall:.1f} |")
    if HAVE_SMASH and args.smash != 0:
        import smash

        k = min(args.smash or n, n)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for build in list(builders.values())[:k]:
                model = build(smash.Model)
                model.optimize(**_options(args.optimizer))
        wall = time.perf_counter() - start
        rows["smash"] = 60 * k / wall
        print(f"| hydro-smash, one catchment after another | {k} | {wall:.1f} | {60 * k / wall:.1f} |")
        ratios = {k: round(v / rows["smash"], 1) for k, v in rows.items()}
        print("\nspeed-ups against hydro-smash: " + json.dumps(ratios))


if __name__ == "__main__":
    main()
