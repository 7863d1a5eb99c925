"""Run the side-by-side benchmark suite: ``python -m benchmarks [workload ...]``.

Prints one markdown table row per workload: hydrograd's first call (compilation included),
the medians of interleaved repeats of both tools, the speed-up of the repeats, the speed-up
of hydrograd's first call (end to end, compilation included) over the reference's median, and
for calibrations the iteration count and cost of each tool's last iterate (the work each did).
Set ``HYDROGRAD_JAX_CACHE=0`` to measure compilation without the persistent cache.

Each workload runs in a fresh Python process, as a user's script would: its first call pays every
compilation, and the size of XLA's CPU pool is chosen for its own domain (see
``hydrograd._process``), not for the previous workload's.

``--end-to-end`` times instead each workload's whole user script (``benchmarks/scripts``: imports,
model build, the call, a closing forward run) in fresh processes: hydrograd with a cold persistent
compilation cache, hydrograd again with it warm, and hydro-smash. ``--breakdown`` splits hydrograd's
first call, cold and warm, into tracing, lowering, compilation, cache load, Python outside JAX and
execution & waits (``benchmarks.end_to_end``). Every output starts with the CPU's model.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import subprocess
import sys

import jax

from benchmarks import end_to_end
from benchmarks._timing import alternate, once
from benchmarks.workloads import HAVE_SMASH, WORKLOADS


def _row(name: str) -> str:
    """The table row of workload ``name``, measured in this process."""
    with contextlib.redirect_stdout(io.StringIO()):
        work = WORKLOADS[name]()
        first = once(work.ours)
        timing = alternate(work.ours, work.reference, work.repeats, work.reference_repeats)
    ref = "n/a" if timing.reference is None else f"{timing.reference:.4g}"
    ratio = "n/a" if timing.ratio is None else f"{timing.ratio:.1f}x"
    end_to_end = "n/a" if timing.reference is None else f"{timing.reference / first:.1f}x"
    last = "" if work.last is None else f"{work.last[0]} / {work.last[1]}"
    return f"| {work.name} | {first:.3g} | {timing.hydrograd:.4g} | {ref} | {ratio} | {end_to_end} | {last} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("workloads", nargs="*", choices=[*WORKLOADS, []], help="default: all")
    parser.add_argument("--in-this-process", action="store_true", help=argparse.SUPPRESS)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--end-to-end",
        action="store_true",
        help="whole user scripts in fresh processes: hydrograd cold and warm cache, hydro-smash",
    )
    mode.add_argument("--breakdown", action="store_true", help="hydrograd's first call split into stages")
    args = parser.parse_args()
    if args.in_this_process:
        for name in args.workloads:
            print(_row(name), flush=True)
        return
    names = args.workloads or list(WORKLOADS)
    print(end_to_end.machine_line())
    if args.end_to_end or args.breakdown:
        _in_fresh_scripts(names, args.breakdown)
        return
    print(f"JAX: {jax.device_count()} {jax.default_backend()} device(s)")
    print(f"hydro-smash 1.3.0 installed: {HAVE_SMASH}\n")
    print(
        "| workload | hydrograd first call (s) | hydrograd (s) | hydro-smash (s) | speed-up | speed-up, first call "
        "| last iterate, hydrograd / hydro-smash |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |", flush=True)
    for name in names:
        subprocess.run([sys.executable, "-m", "benchmarks", "--in-this-process", name], check=True)


def _runnable(names: list[str]) -> list[str]:
    """``names`` whose dataset is here; a line for each one skipped."""
    kept = []
    for name in names:
        missing = end_to_end.missing_dataset(name)
        if missing is None:
            kept.append(name)
        else:
            print(f"skipped {name}: {missing}")
    return kept


def _failed(name: str, error: RuntimeError) -> None:
    """A row saying ``name`` failed; the script's error on stderr."""
    print(f"| {name} | failed: {str(error).splitlines()[0]} |", flush=True)
    print(error, file=sys.stderr, flush=True)


def _in_fresh_scripts(names: list[str], breakdown: bool) -> None:
    """The end-to-end tables, or the breakdown table, of ``names``."""
    names = _runnable(names)
    if breakdown:
        print(f"\n{end_to_end.BREAKDOWN_HEADER}", flush=True)
        for name in names:
            try:
                for row in end_to_end.breakdown(name):
                    print(end_to_end.breakdown_row(row), flush=True)
            except RuntimeError as error:
                _failed(name, error)
        print(f"\nat the end: {end_to_end.load_average()}")
        return
    print(f"hydro-smash 1.3.0 installed: {HAVE_SMASH}\n\n{end_to_end.E2E_HEADER}", flush=True)
    rows = []
    for name in names:
        try:
            rows.append(end_to_end.end_to_end(name))
        except RuntimeError as error:
            _failed(name, error)
            continue
        print(end_to_end.e2e_row(rows[-1]), flush=True)
    print(f"\n{end_to_end.PHASES_HEADER}")
    for row in rows:
        print("\n".join(end_to_end.phase_rows(row)), flush=True)
    print(f"\nat the end: {end_to_end.load_average()}")


if __name__ == "__main__":
    main()
