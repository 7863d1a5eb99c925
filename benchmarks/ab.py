"""A/B of hydrograd alone between two source trees (before and after a change), in fresh processes.

    python -m benchmarks.ab OLD_TREE NEW_TREE WORKLOAD [WORKLOAD ...] [--rounds N]

Each round runs every workload once per tree, alternating which tree goes first; a run is a fresh
process (``PYTHONPATH`` set to the tree) timing the first call and three repeats of the workload's
hydrograd job. Prints, per workload, each tree's fastest first call and median repeat and the
old/new ratios (above 1: the new tree is faster). Both trees need ``benchmarks/workloads.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

_TIMED = r"""
import contextlib, io, json, sys, time
from benchmarks.workloads import WORKLOADS
with contextlib.redirect_stdout(io.StringIO()):
    work = WORKLOADS[sys.argv[1]]()
    start = time.perf_counter(); work.ours(); first = time.perf_counter() - start
    repeats = []
    for _ in range(3):
        start = time.perf_counter(); work.ours(); repeats.append(time.perf_counter() - start)
print(json.dumps({"first": first, "repeats": repeats}))
"""


def _run(tree: str, workload: str) -> dict:
    env = {**os.environ, "PYTHONPATH": tree}
    out = subprocess.run([sys.executable, "-c", _TIMED, workload], cwd=tree, env=env, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"{workload} in {tree} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("workloads", nargs="+")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    trees = {"old": args.old, "new": args.new}
    for workload in args.workloads:
        runs: dict[str, list[dict]] = {"old": [], "new": []}
        for round_ in range(args.rounds):
            order = ["old", "new"] if round_ % 2 == 0 else ["new", "old"]
            for key in order:
                runs[key].append(_run(trees[key], workload))
        first = {k: min(r["first"] for r in v) for k, v in runs.items()}
        median = {k: statistics.median(x for r in v for x in r["repeats"]) for k, v in runs.items()}
        print(
            f"| {workload} | {first['old']:.3f} | {first['new']:.3f} | {median['old']:.4f} | {median['new']:.4f} "
            f"| {first['old'] / first['new']:.2f} | {median['old'] / median['new']:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
