"""A/B of hydrograd alone between two source trees (before and after a change), in fresh processes.

    python -m benchmarks.ab OLD_TREE NEW_TREE WORKLOAD [WORKLOAD ...] [--rounds N] [--process]

Each round runs every workload once per tree, alternating which tree goes first; a run is a fresh
process (``PYTHONPATH`` set to the tree) timing the first call and three repeats of the workload's
hydrograd job. Prints, per workload, each tree's fastest first call and median repeat and the
old/new ratios (above 1: the new tree is faster). Both trees need ``benchmarks/workloads.py``.

With ``--process``, a run is instead the workload's whole user script (``benchmarks/scripts``) in a
fresh process with a warm persistent cache (each tree its own, warmed by one run first), as
``python -m benchmarks --end-to-end`` runs it: prints each tree's median process wall and phases
(the interpreter's start and exit apart) and the old/new ratio of the process. Both trees need
``benchmarks/_script_driver.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.end_to_end import ScriptRun, run_script, script_path

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


def _turns(keys: list[str], rounds: int) -> list[str]:
    """Every key once a round for ``rounds`` rounds, the order reversed every other round."""
    return [key for round_ in range(rounds) for key in (keys if round_ % 2 == 0 else keys[::-1])]


def process_rows(trees: dict[str, str], workload: str, rounds: int, script: Path | None = None) -> list[str]:
    """``--process``: the table rows of ``workload``'s user script (or ``script``) run ``rounds``
    times per tree (``{"old": path, "new": path}``), alternating, each tree on its own warm cache."""
    script = script or script_path(workload)
    caches = {key: tempfile.mkdtemp(prefix=f"hydrograd-ab-{key}-") for key in trees}
    runs: dict[str, list[ScriptRun]] = {key: [] for key in trees}
    try:
        for key, tree in trees.items():
            run_script(script, "hydrograd", caches[key], repo=Path(tree))
        for key in _turns(list(trees), rounds):
            runs[key].append(run_script(script, "hydrograd", caches[key], repo=Path(trees[key])))
    finally:
        for cache in caches.values():
            shutil.rmtree(cache, ignore_errors=True)
    process = {key: statistics.median(run.process for run in v) for key, v in runs.items()}
    rows = []
    for key, v in runs.items():
        phases = {name: statistics.median(run.phases[name] for run in v) for name in v[0].phases}
        outside = statistics.median(run.outside for run in v)
        rows.append(
            f"| {workload} | {key} | {process[key]:.3f} | {outside:.3f} | "
            + ", ".join(f"{name} {seconds:.3f}" for name, seconds in phases.items())
            + f" | {process['old'] / process[key]:.2f} |"
        )
    return rows


PROCESS_HEADER = (
    "| workload | tree | process (s) | start + exit | phases (s) | old / this |\n| --- | --- | --- | --- | --- | --- |"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("workloads", nargs="+")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--process", action="store_true", help="whole user scripts, warm cache")
    args = parser.parse_args()
    trees = {"old": args.old, "new": args.new}
    if args.process:
        print(PROCESS_HEADER)
        for workload in args.workloads:
            print("\n".join(process_rows(trees, workload, args.rounds)), flush=True)
        return
    for workload in args.workloads:
        runs: dict[str, list[dict]] = {"old": [], "new": []}
        for key in _turns(list(trees), args.rounds):
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
