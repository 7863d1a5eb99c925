"""Independent calibrations of a synthetic region: catchments per minute with
``hydrograd.distributed.calibrate_catchments`` on 1 and 2 Dask workers, against hydro-smash
calibrating the same catchments one at a time in one process.

``python -m benchmarks.many_catchments [N]`` (default 8 catchments; generating each the first time
takes about 10 s, cached afterwards). Every calibration is smash's default (uniform mapping,
step-by-step search).
"""

from __future__ import annotations

import platform
import sys
import tempfile
import time
import warnings

from benchmarks.workloads import HAVE_SMASH
from hydrograd.distributed import calibrate_catchments
from hydrograd.factory.synthetic import load_region


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    region = load_region(n, verbose=False)
    print(f"CPU: {_cpu()}; {n} synthetic catchments, uniform SBS (smash's default calibration)\n")
    print("| run | wall (s) | catchments per minute |")
    print("| --- | --- | --- |")
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            table = calibrate_catchments(region, out, n_workers=workers, verbose=False)
            wall = time.perf_counter() - start
        assert (table["status"] == "done").all(), table
        print(f"| hydrograd, {workers} Dask worker(s) (cluster start included) | {wall:.1f} | {60 * n / wall:.1f} |")
    if HAVE_SMASH:
        import smash

        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for setup, mesh in region.values():
                model = smash.Model(setup, mesh)
                model.optimize(common_options={"verbose": False})
        wall = time.perf_counter() - start
        print(f"| hydro-smash, one catchment after another | {wall:.1f} | {60 * n / wall:.1f} |")


if __name__ == "__main__":
    main()
