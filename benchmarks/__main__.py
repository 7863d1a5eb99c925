"""Run the side-by-side benchmark suite: ``python -m benchmarks [workload ...]``.

Prints one markdown table row per workload: hydrograd's first call (compilation included),
the medians of interleaved repeats of both tools, the speed-up of the repeats, the speed-up
of hydrograd's first call (end to end, compilation included) over the reference's median, and
for calibrations the iteration count and cost of each tool's last iterate (the work each did).
Set ``HYDROGRAD_JAX_CACHE=0`` to measure compilation without the persistent cache.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import platform

import jax

from benchmarks._timing import alternate, once
from benchmarks.workloads import HAVE_SMASH, WORKLOADS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("workloads", nargs="*", choices=[*WORKLOADS, []], help="default: all")
    args = parser.parse_args()
    names = args.workloads or list(WORKLOADS)
    print(
        f"machine: {platform.processor() or platform.machine()}, {jax.device_count()} {jax.default_backend()} device(s)"
    )
    print(f"hydro-smash 1.3.0 installed: {HAVE_SMASH}\n")
    print(
        "| workload | hydrograd first call (s) | hydrograd (s) | hydro-smash (s) | speed-up | speed-up, first call "
        "| last iterate, hydrograd / hydro-smash |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in names:
        with contextlib.redirect_stdout(io.StringIO()):
            work = WORKLOADS[name]()
            first = once(work.ours)
            timing = alternate(work.ours, work.reference, work.repeats)
        ref = "n/a" if timing.reference is None else f"{timing.reference:.4g}"
        ratio = "n/a" if timing.ratio is None else f"{timing.ratio:.1f}x"
        end_to_end = "n/a" if timing.reference is None else f"{timing.reference / first:.1f}x"
        last = "" if work.last is None else f"{work.last[0]} / {work.last[1]}"
        print(
            f"| {work.name} | {first:.3g} | {timing.hydrograd:.4g} | {ref} | {ratio} | {end_to_end} | {last} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
