"""Where a calibration's CPU time goes, thread by thread, on an idle and a loaded machine:
``python -m benchmarks.threads_under_load [--load N] [--repeats R] [--smash-repeats S] [script ...]``.

Each script of ``benchmarks/scripts`` (default: the Lez and Cance distributed L-BFGS-B calibrations)
runs in fresh processes: hydro-smash, hydrograd with ``HYDROGRAD_BLAS_THREADS=default`` (OpenBLAS's
own threads during scipy's optimizer: **before**), then hydrograd with its defaults (**after**).
Each process runs the script's phases, then its ``call`` phase ``R`` more times (``S`` for
hydro-smash; with 0 the phase itself is measured: hydro-smash compiles nothing), and reports the
wall time of each, the CPU seconds each thread spent in it (``/proc/self/task/*/stat``, threads
grouped by name, the main thread apart) and a digest of the calibrated parameters (equal digests:
equal bits). The whole round runs twice (``--only`` one of them): on the machine as it is, then
with ``N`` processes spinning on a core each (``--load``, default 2), ended afterwards.
"""

from __future__ import annotations

import argparse
import ast
import glob
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.end_to_end import cpu_model

SCRIPTS = Path(__file__).parent / "scripts"
DEFAULT_SCRIPTS = ("lez_distributed_lbfgsb", "cance_distributed_lbfgsb")
RUNS = (("hydrograd before", "hydrograd", {"HYDROGRAD_BLAS_THREADS": "default"}), ("hydrograd after", "hydrograd", {}))
SPIN = "while True: pass"


def _thread_times() -> dict[str, tuple[str, float]]:
    """CPU seconds of each thread of this process, by thread id, with the thread's name."""
    tick = os.sysconf("SC_CLK_TCK")
    times = {}
    for task in glob.glob("/proc/self/task/*"):
        try:
            name = Path(task, "comm").read_text().strip()
            fields = Path(task, "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        times[Path(task).name] = (name, (int(fields[11]) + int(fields[12])) / tick)
    return times


def measure(script: str, package: str, repeats: int) -> dict:
    """Run ``script`` with ``package`` in this process: the walls and per-thread CPU seconds of
    ``repeats`` more runs of its ``call`` phase (of the phase itself if 0), and a digest of the
    parameters of the model the call returns (the name its first assignment binds)."""
    from benchmarks._script_driver import phases

    path = str(SCRIPTS / f"{script}.py")
    sys.argv = [path, package]
    namespace = {"__name__": "__main__", "__file__": path}
    main = str(os.getpid())
    result: dict = {"walls": [], "threads": []}
    for name, body in phases(Path(path).read_text()):
        code = compile(body, path, "exec")
        if name == "call":
            result["returned"] = next(n.targets[0].id for n in ast.walk(ast.parse(body)) if isinstance(n, ast.Assign))
        if name != "call" or repeats:
            exec(code, namespace)
        for _ in range(max(repeats, 1) if name == "call" else 0):
            before, start = _thread_times(), time.perf_counter()
            exec(code, namespace)
            result["walls"].append(time.perf_counter() - start)
            split: dict[str, float] = {}
            for tid, (thread, seconds) in _thread_times().items():
                key = "main" if tid == main else thread
                split[key] = split.get(key, 0.0) + seconds - before.get(tid, (thread, 0.0))[1]
            result["threads"].append({k: v for k, v in split.items() if v > 0})
    import numpy as np

    values = np.ascontiguousarray(namespace[result.pop("returned")].rr_parameters.values, dtype=np.float64)
    result["digest"] = hashlib.sha1(values.tobytes()).hexdigest()[:12]
    return result


def _run(script: str, package: str, repeats: int, env: dict[str, str]) -> dict:
    command = [sys.executable, "-m", "benchmarks.threads_under_load", "--in-this-process", script, package]
    command.append(str(repeats))
    out = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _row(state: str, script: str, label: str, result: dict, smash_wall: float) -> str:
    wall = statistics.median(result["walls"])
    names = sorted({name for split in result["threads"] for name in split})
    split = ", ".join(f"{n} {statistics.median(s.get(n, 0.0) for s in result['threads']):.2f}" for n in names)
    ratio = f"{smash_wall / wall:.1f}x" if smash_wall else ""
    return f"| {state} | {script} | {label} | {wall:.3g} | {split} | {ratio} | {result['digest']} |"


def _round(state: str, scripts: list[str], repeats: int, smash_repeats: int) -> None:
    load = os.getloadavg()[0]
    for script in scripts:
        smash = _run(script, "smash", smash_repeats, {})
        smash_wall = statistics.median(smash["walls"])
        for label, package, env in RUNS:
            print(_row(state, script, label, _run(script, package, repeats, env), smash_wall), flush=True)
        print(_row(state, script, "hydro-smash", smash, 0.0), flush=True)
    print(f"(load average at the start of the {state} round: {load:.2f})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scripts", nargs="*", default=list(DEFAULT_SCRIPTS))
    parser.add_argument("--load", type=int, default=2, help="spinning processes of the loaded round")
    parser.add_argument("--repeats", type=int, default=3, help="hydrograd's calls after the first")
    parser.add_argument("--smash-repeats", type=int, default=0, help="hydro-smash's calls after the first")
    parser.add_argument("--only", choices=("as-is", "loaded"), help="one round")
    parser.add_argument("--in-this-process", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.in_this_process:
        script, package, repeats = args.in_this_process
        print(json.dumps(measure(script, package, int(repeats))))
        return
    print(cpu_model())
    print("| machine | script | run | call (s, median) | CPU s by thread (median) | hydro-smash / run | parameters |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    if args.only != "loaded":
        _round("as it is", args.scripts, args.repeats, args.smash_repeats)
    if args.only == "as-is":
        return
    spinners = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(args.load)]
    try:
        _round(f"+{args.load} spinning", args.scripts, args.repeats, args.smash_repeats)
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


if __name__ == "__main__":
    main()
