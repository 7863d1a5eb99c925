"""Repeated forward runs of one model in this process: ``python -m benchmarks.repeated_forward
[DATASET] [--calls N]`` (France by default).

Builds ``Model(*load_dataset(DATASET))``, runs ``forward_run`` ``N`` times and prints the first
call, the median, fastest and slowest of the others, and the process's peak resident memory. Run it
in fresh processes with ``HYDROGRAD_MALLOC=default`` and ``keep`` alternately to compare glibc's
allocator settings, or ``HYDROGRAD_FLOAT32=native`` and ``smash`` to compare the float32 arithmetics
(``hydrograd/_process.py``).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import hydrograd


def timings(dataset: str, calls: int) -> list[float]:
    """Wall seconds of ``calls`` forward runs of the dataset's model, in order."""
    model = hydrograd.Model(*hydrograd.factory.load_dataset(dataset), verbose=False)
    seconds = []
    for _ in range(calls):
        start = time.perf_counter()
        model.forward_run(common_options={"verbose": False})
        seconds.append(time.perf_counter() - start)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", nargs="?", default="France")
    parser.add_argument("--calls", type=int, default=12)
    args = parser.parse_args()
    if args.calls < 2:
        parser.error("--calls must be at least 2 (the first call is reported apart)")
    first, *rest = timings(args.dataset, args.calls)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(
        f"{args.dataset}: first call {first:.3f} s; next {len(rest)} calls median {statistics.median(rest):.3f} s, "
        f"fastest {min(rest):.3f} s, slowest {max(rest):.3f} s; peak resident memory {peak:.2f} GB"
    )


if __name__ == "__main__":
    main()
