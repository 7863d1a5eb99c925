"""Cost of GR's power-law releases (percolation, transfer store): a compiled gr4/lr forward run
and the gradient of its NSE on a sub-basin of smash's France flow directions (a few thousand
cells), timed in the checkout that ``hydrograd`` is imported from.

Run once per checkout, alternately, so machine noise hits both, as a file (so that ``hydrograd``
comes from ``PYTHONPATH``, not from the current directory)::

    for i in 1 2 3; do for tree in /work/main /work/wt-lowflow; do
        (cd /tmp && PYTHONPATH=$tree python /work/wt-lowflow/benchmarks/gr_release.py); done; done

Prints one line: the checkout, the number of cells and steps, and the medians (s) of ``REPEATS``
forward runs (float32, as smash) and NSE gradients (value and gradient of the four distributed
parameter maps, in float32 and in float64, hydrograd's default precision for this calibration on
a CPU) after a first, compiling call of each.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import jax
import numpy as np

import hydrograd

AREA_KM2 = 3000.0
"""Drained area of the chosen outlet (km2): about as many 1 km cells."""
N_STEPS = 2000
REPEATS = 7


def _outlet(mesh: dict) -> tuple[float, float, float]:
    """``(x, y, area m2)`` of the France mesh's active cell whose drained area is nearest ``AREA_KM2``."""
    acc = np.where(mesh["active_cell"] == 1, mesh["flwacc"], -1.0)
    row, col = np.unravel_index(np.argmin(np.abs(acc - AREA_KM2 * 1e6)), acc.shape)
    x = float(mesh["xmin"]) + (col + 0.5) * float(mesh["xres"])
    y = float(mesh["ymax"]) - (row + 0.5) * float(mesh["yres"])
    return x, y, float(acc[row, col])


def _model() -> hydrograd.Model:
    setup, france = hydrograd.factory.load_dataset("France")
    flwdir = Path(setup["prcp_directory"]).parent.parent / "France_flwdir.tif"
    x, y, area = _outlet(france)
    mesh = hydrograd.factory.generate_mesh(str(flwdir), x=x, y=y, area=area, code="BENCH")
    end = np.datetime64("2012-01-01T00:00") + np.timedelta64(N_STEPS, "h")
    setup = {
        "hydrological_module": "gr4",
        "routing_module": "lr",
        "dt": 3600,
        "start_time": "2012-01-01 00:00",
        "end_time": str(end).replace("T", " ")[:16],
        "read_prcp": False,
        "read_pet": False,
    }
    model = hydrograd.Model(setup, mesh, verbose=False)
    rng = np.random.default_rng(0)
    shape = model.atmos_data.prcp.shape
    storms = rng.random(shape[-1]) < 0.1  # wet hours; the rest is a dry spell, stores drain
    model.atmos_data.prcp = np.where(storms, rng.gamma(0.5, 4.0, shape), 0.0).astype(np.float32)
    model.atmos_data.pet = np.full(shape, 0.1, dtype=np.float32)
    twin = model.copy()
    twin.set_rr_parameters("cp", 300.0)
    twin.forward_run(common_options={"verbose": False})
    model.response_data.q = twin.response.q.copy()
    return model


def _median(fn) -> tuple[float, float]:
    """``(first call, median of REPEATS calls)`` in seconds; results are waited for."""
    times = []
    for _ in range(REPEATS + 1):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return times[0], statistics.median(times[1:])


def main() -> None:
    from hydrograd.calibration.run import build_problem, problem_precision
    from hydrograd.config.calibration import check_calibration

    model = _model()
    forward = _median(lambda: model.forward_run(common_options={"verbose": False}))
    line = (
        f"{Path(hydrograd.__file__).parent.parent} nac={int(model.mesh.nac)} steps={N_STEPS} forward {forward[1]:.4f} s"
    )
    data = model.calibration_data()
    for name in ("float32", "float64"):
        common = {"verbose": False, "precision": name}
        request = check_calibration(model.facts(values=True), "distributed", "lbfgsb", None, {"gauge": "all"}, common)
        precision = problem_precision(data, request)
        with jax.enable_x64(precision.double):
            problem = build_problem(data, request, precision)

            def gradient(problem=problem):
                return problem.value_and_grad(problem.x0)

            line += f", gradient {name} {_median(gradient)[1]:.4f} s"
    print(line, flush=True)


if __name__ == "__main__":
    main()
