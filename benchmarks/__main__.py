"""Run the side-by-side benchmark suite: ``python -m benchmarks [workload ...]``.

Prints one markdown table row per workload: hydrograd's first call (compilation included),
the medians of interleaved repeats of both tools, the speed-up of the repeats, the speed-up
of hydrograd's first call (end to end, compilation included) over the reference's median, and
for calibrations the iteration count and cost of each tool's last iterate (the work each did).
Set ``HYDROGRAD_JAX_CACHE=0`` to measure compilation without the persistent cache.

Each workload runs in a fresh Python process, as a user's script would: its first call pays every
compilation, and the size of XLA's CPU pool is chosen for its own domain (see
``hydrograd._process``), not for the previous workload's.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import platform
import subprocess
import sys

import jax

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
    args = parser.parse_args()
    if args.in_this_process:
        for name in args.workloads:
            print(_row(name), flush=True)
        return
    names = args.workloads or list(WORKLOADS)
    print(
        f"machine: {platform.processor() or platform.machine()}, {jax.device_count()} {jax.default_backend()} device(s)"
    )
    print(f"hydro-smash 1.3.0 installed: {HAVE_SMASH}\n")
    print(
        "| workload | hydrograd first call (s) | hydrograd (s) | hydro-smash (s) | speed-up | speed-up, first call "
        "| last iterate, hydrograd / hydro-smash |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |", flush=True)
    for name in names:
        subprocess.run([sys.executable, "-m", "benchmarks", "--in-this-process", name], check=True)


if __name__ == "__main__":
    main()
