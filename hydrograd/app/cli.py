"""Command line: ``hydrograd demo`` and ``hydrograd run CONFIG.yaml``."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from hydrograd.app.demo import QUICK, DemoSettings, format_report, run_demo
from hydrograd.app.runner import run_config
from hydrograd.optimizers import MAPPINGS, OPTIMIZERS

DEMO_OUTPUT = "hydrograd-demo-output"

DESCRIPTION = """\
hydrograd: differentiable, spatially distributed hydrological modelling on JAX, smash-compatible.

commands:
  demo              run both seed workflows on the embedded synthetic catchment (no data needed)
  run CONFIG.yaml   build a model from a YAML file (setup, mesh, optional calibration), run it and
                    write discharge, parameter maps and states to netCDF
"""

EPILOG = """\
examples:
  hydrograd demo                                  # report + figures in ./hydrograd-demo-output
  hydrograd run examples/synthetic_run.yaml       # writes the netCDF file the config names
  hydrograd run --help                            # the config file's keys
"""

RUN_DESCRIPTION = """\
Build a model (or many catchments' models) from one YAML file, optionally calibrate, run and write
the results to netCDF.

top-level keys (unknown keys are rejected, with the closest valid key suggested):
  setup:        smash setup keys (hydrological_module, dt, start_time, end_time, read_prcp,
                prcp_directory, ...)
  mesh:         exactly one source:
                  file: mesh.hdf5                    a smash mesh HDF5 file
                  flwdir: flwdir.tif                 a D8 flow-direction raster, with
                  gauges: gauges.csv                 a table code,x,y,area (area in km2)
                  (max_depth: 1, epsg: null)         options of the mesh generation
                  dataset: Lez | Cance | France | Synthetic
                                                     a named dataset; its setup is the default
                                                     that the setup section overrides
  catchments:   instead of mesh, many catchments run together (hydrograd.ModelBatch):
                  dataset: SyntheticRegion, n: 8     n synthetic catchments (in memory), or
                  files: {{NAME: {{mesh: FILE, setup: {{...}}}}}}
                                                     each catchment's mesh and setup keys
                  (batch_size: 256)                  catchments per compiled program
                  (validation: [NAME, ...])          held out of a joint regionalization
                                                     (calibration mapping: ann)
  calibration:  optional; mapping ({mappings}),
                optimizer ({optimizers}),
                optimize_options and cost_options as in Model.optimize
  output:       file: results.nc (required with mesh; with catchments folder: DIR, one
                <name>.nc per catchment and summary.csv), states: false (state maps at every step),
                q_domain: false (discharge of every cell at every step), verbose: true,
                engine: netcdf4 | h5netcdf | scipy (default: the first one installed)

paths: relative ones are relative to the config file's folder; ${{VARIABLES}} and ~ are expanded.
examples: examples/synthetic_run.yaml, examples/region_run.yaml
""".format(mappings=", ".join(MAPPINGS), optimizers=", ".join(OPTIMIZERS))


def _demo(args: argparse.Namespace) -> None:
    print("</> hydrograd demo: twin experiment on the embedded synthetic catchment")
    print(
        "    truth: GR4 parameter maps from a hidden function of the descriptors, plus a known flux correction\n"
        "    step 1: hybrid GR4_MLP (seed 1), step 2: MLP and CNN regionalization of it (seed 2)",
        flush=True,
    )
    settings = QUICK if args.quick else DemoSettings()
    result = run_demo(Path(args.output), settings, verbose=args.verbose, say=lambda line: print(line, flush=True))
    print(format_report(result))
    for path in result.figures:
        print(f"    figure: {path}")
    print(f"</> demo finished in {result.timings['total']:.1f} s")


def _run(args: argparse.Namespace) -> None:
    start = time.perf_counter()
    path = run_config(args.config, output=args.output)
    print(f"</> results written to {path} in {time.perf_counter() - start:.1f} s")


def build_parser() -> argparse.ArgumentParser:
    """The ``hydrograd`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="hydrograd",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="both seed workflows on the embedded synthetic catchment: report and figures",
        description=(
            "Generate (on first use) the synthetic twin-experiment catchment, whose truth holds a known flux "
            "correction; train a hybrid GR4_MLP model (pre-calibration, then joint L-BFGS-B) and regionalize it "
            "with an MLP and a CNN on the calibration gauges; report NSE per gauge (calibration and validation), "
            "the correlation of the learned parameter maps with the hidden truth and the time taken, and write "
            "figures (hydrographs, learned vs true maps, loss curves)."
        ),
    )
    demo.add_argument(
        "--output", default=DEMO_OUTPUT, metavar="DIR", help=f"folder for the figures (default: ./{DEMO_OUTPUT})"
    )
    demo.add_argument("--quick", action="store_true", help="a few iterations per step (a smoke test)")
    demo.add_argument("--verbose", action="store_true", help="print smash's iteration lines of every training")
    run = commands.add_parser(
        "run",
        help="run (and calibrate) a model described by a YAML file, write netCDF",
        description=RUN_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("config", metavar="CONFIG.yaml", help="the run's configuration file")
    run.add_argument("--output", metavar="FILE.nc", help="write here instead of the config's output file")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``hydrograd`` command."""
    args = build_parser().parse_args(argv)
    try:
        {"demo": _demo, "run": _run}[args.command](args)
    except (ValueError, TypeError, FileNotFoundError, ImportError) as error:
        if args.command != "run":
            raise
        print(f"hydrograd run: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
