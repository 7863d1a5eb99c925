"""What a user waits for: each workload's whole script (``benchmarks/scripts``) in fresh processes.

``python -m benchmarks --end-to-end [workload ...]`` runs, for each workload, hydrograd with a cold
persistent compilation cache (a new empty ``HYDROGRAD_CACHE``), hydrograd again on that cache (warm),
then hydro-smash, each in a fresh Python process, and prints the wall seconds of each process (from
its start to its exit) and of its phases (import, build, call, close).

``python -m benchmarks --breakdown [workload ...]`` runs hydrograd's script cold then warm with JAX's
instruments on (``benchmarks._script_driver``) and splits each phase after the imports, the first
call above all, into tracing, lowering, XLA compilation, persistent-cache load, cache keying and
writing, then the main thread's time outside JAX's stages: Python it runs, and time it waits
(execution on XLA's threads, the background compiler).

Only the standard library is imported here; hydrograd only to look for a dataset.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks._script_driver import union_length

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = Path(__file__).resolve().parent / "scripts"
HAVE_SMASH = importlib.util.find_spec("smash") is not None
STAGES = ("trace", "lower", "compile", "cache_load", "cache_key_write", "python", "waiting")
STAGE_TITLES = {
    "trace": "tracing",
    "lower": "lowering",
    "compile": "XLA compilation",
    "cache_load": "cache load",
    "cache_key_write": "cache key + write",
    "python": "Python outside JAX",
    "waiting": "execution & waits",
}
"""The stages of a call: JAX's, then the main thread's time outside them, split by its CPU clock into
Python it runs (hydrograd's and the optimizer's code, dispatching compiled programs) and time it
waits (compiled programs executing on XLA's threads, the background compiler's results)."""


def _cpuinfo(field: str) -> str | None:
    """The first ``field`` of ``/proc/cpuinfo``, None where there is none (or no such file)."""
    try:
        with open("/proc/cpuinfo") as handle:
            line = next((line for line in handle if line.startswith(field)), None)
    except OSError:
        return None
    return None if line is None else line.split(":", 1)[1].strip()


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what ``platform`` knows."""
    return _cpuinfo("model name") or platform.processor() or platform.machine() or "unknown CPU"


def _avx512() -> str:
    flags = _cpuinfo("flags")
    if flags is None:
        return "unknown"
    return "yes" if "avx512f" in flags.split() else "no"


def load_average() -> str:
    """The machine's 1, 5 and 15-minute load averages (a shared machine's other work), if known."""
    try:
        return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "load average unknown"


def machine_line() -> str:
    """The line every benchmark output starts with: CPU model, logical cores, AVX-512, Python, load."""
    return (
        f"CPU: {cpu_model()} ({os.cpu_count()} logical cores, AVX-512: {_avx512()}, {platform.machine()}), "
        f"Python {platform.python_version()}, {load_average()}"
    )


def script_path(workload: str) -> Path:
    """The user script of ``workload``."""
    return SCRIPTS / f"{workload}.py"


def missing_dataset(workload: str) -> str | None:
    """Why ``workload``'s dataset cannot be read here, or None when it can (``france_*``: France,
    ``cance_*``: Cance, otherwise Lez)."""
    name = "France" if workload.startswith("france") else "Cance" if workload.startswith("cance") else "Lez"
    from hydrograd.factory import dataset

    try:
        dataset._find(name)
    except FileNotFoundError as error:
        return str(error)
    return None


@dataclass
class ScriptRun:
    """One fresh process running a script: its wall seconds (start to exit) and what its driver
    measured (``benchmarks._script_driver``)."""

    package: str
    process: float
    result: dict = field(repr=False)

    @property
    def phases(self) -> dict[str, float]:
        """Wall seconds of each phase, in the script's order."""
        return {name: end - start for name, start, end, *_ in self.result["phases"]}

    def phase(self, name: str) -> float | None:
        return self.phases.get(name)

    @property
    def outside(self) -> float:
        """Seconds of the process outside the script's phases: the interpreter's start and exit."""
        return self.process - sum(self.phases.values())


def child_env(cache: str | None, repo: Path = REPO) -> dict[str, str]:
    """The environment of a script's process; ``cache``: hydrograd's cache folder (its persistent
    compilation cache on), None for hydro-smash; ``repo``: the source tree it imports hydrograd from."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(repo), *filter(None, [env.get("PYTHONPATH")])])
    if cache is not None:
        env["HYDROGRAD_CACHE"] = cache
        env["HYDROGRAD_JAX_CACHE"] = "1"
        env.pop("JAX_COMPILATION_CACHE_DIR", None)
    return env


def run_script(
    script: Path | str, package: str, cache: str | None, breakdown: bool = False, repo: Path = REPO
) -> ScriptRun:
    """Run ``script`` with ``package`` (``"hydrograd"`` with ``cache`` as its cache folder, or
    ``"smash"``) in a fresh Python process, hydrograd (and the driver) taken from ``repo``."""
    with tempfile.TemporaryDirectory(prefix="hydrograd-e2e-") as folder:
        out = os.path.join(folder, "result.json")
        command = [sys.executable, "-m", "benchmarks._script_driver", str(script), package, out]
        start = time.perf_counter()
        done = subprocess.run(
            [*command, *(["--breakdown"] if breakdown else [])],
            cwd=repo,
            env=child_env(cache, repo),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        process = time.perf_counter() - start
        if done.returncode:
            raise RuntimeError(f"{script} with {package} failed:\n{done.stderr[-3000:]}")
        with open(out) as handle:
            result = json.load(handle)
    return ScriptRun(package, process, result)


@dataclass
class EndToEnd:
    """A workload's script run cold, warm, and by hydro-smash (None where it is not installed)."""

    workload: str
    cold: ScriptRun
    warm: ScriptRun
    smash: ScriptRun | None


def end_to_end(workload: str, script: Path | str | None = None, smash: bool = HAVE_SMASH) -> EndToEnd:
    """Run ``workload``'s script (or ``script``): hydrograd cold, hydrograd warm, then hydro-smash."""
    script = script or script_path(workload)
    cache = tempfile.mkdtemp(prefix="hydrograd-e2e-cache-")
    try:
        cold = run_script(script, "hydrograd", cache)
        warm = run_script(script, "hydrograd", cache)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    reference = run_script(script, "smash", None) if smash else None
    return EndToEnd(workload, cold, warm, reference)


def _ratio(reference: float | None, ours: float | None) -> str:
    if reference is None or not ours:
        return "n/a"
    ratio = reference / ours
    return f"{ratio:.1f}x" if ratio >= 1 else f"{ratio:.2f}x"


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


E2E_HEADER = (
    "| workload | hydrograd cold (s) | hydrograd warm (s) | hydro-smash (s) | speed-up cold | speed-up warm "
    "| call: cold / warm / hydro-smash (s) | call speed-up cold / warm |\n"
    "| --- | --- | --- | --- | --- | --- | --- | --- |"
)
PHASES_HEADER = (
    "| workload | run | process (s) | start + exit | import | build | call | close |\n"
    "| --- | --- | --- | --- | --- | --- | --- | --- |"
)


def e2e_row(row: EndToEnd) -> str:
    """The summary row: whole processes, then the call phase alone."""
    smash = row.smash.process if row.smash else None
    calls = [row.cold.phase("call"), row.warm.phase("call"), row.smash.phase("call") if row.smash else None]
    return (
        f"| {row.workload} | {_seconds(row.cold.process)} | {_seconds(row.warm.process)} | {_seconds(smash)} "
        f"| {_ratio(smash, row.cold.process)} | {_ratio(smash, row.warm.process)} "
        f"| {' / '.join(_seconds(c) for c in calls)} | {_ratio(calls[2], calls[0])} / {_ratio(calls[2], calls[1])} |"
    )


def phase_rows(row: EndToEnd) -> list[str]:
    """One row per process: its wall seconds, the interpreter's start and exit, each phase."""
    lines = []
    for label, run in (("hydrograd cold", row.cold), ("hydrograd warm", row.warm), ("hydro-smash", row.smash)):
        if run is None:
            continue
        cells = " | ".join(_seconds(run.phase(p)) for p in ("import", "build", "call", "close"))
        lines.append(f"| {row.workload} | {label} | {_seconds(run.process)} | {_seconds(run.outside)} | {cells} |")
    return lines


# The first call's breakdown.


def _clipped(spans: list, start: float, end: float) -> list[tuple[float, float]]:
    return [(max(a, start), min(b, end)) for a, b in spans if b > start and a < end]


PRIORITY = (
    ("cache_load", ("cache_read",)),
    ("cache_key_write", ("cache_key", "cache_write")),
    ("compile", ("compile",)),
    ("lower", ("lower",)),
    ("trace", ("trace",)),
)
"""The first call's JAX stages, innermost first, and the recorded stages each one takes: a stage
counts the time its spans cover outside those of the stages above it (a cache read happens inside
a backend compilation, a compilation of an eager operation may happen while tracing)."""


def jax_stages(spans: list, thread: str | None, start: float, end: float) -> dict[str, float]:
    """Exclusive seconds of each of JAX's stages between ``start`` and ``end``, on the main thread
    (``thread="main"``) or on every other one (``thread=None``)."""
    mine = [s for s in spans if (s[0] == "main") == (thread == "main")]
    taken: list[tuple[float, float]] = []
    seconds = {}
    for stage, recorded in PRIORITY:
        these = _clipped([(x[2], x[3]) for x in mine if x[1] in recorded], start, end)
        seconds[stage] = union_length(taken + these) - union_length(taken)
        taken += these
    return seconds


def _outermost(spans: list) -> list:
    """``spans`` not inside another one (sorted by start)."""
    kept: list = []
    for span in sorted(spans, key=lambda x: (x[2], -x[3])):
        if not kept or span[2] >= kept[-1][3]:
            kept.append(span)
    return kept


def call_stages(spans: list, call: list[float]) -> dict[str, float]:
    """Seconds of each of ``STAGES`` in a call (``[start, end, cpu_start, cpu_end]`` of the main
    thread): JAX's stages from their spans, then the main thread's time outside them split by its
    CPU clock."""
    start, end, cpu_start, cpu_end = call
    stages = jax_stages(spans, "main", start, end)
    outer = _outermost([s for s in spans if s[0] == "main" and start <= s[2] and s[3] <= end])
    inside = union_length([(s[2], s[3]) for s in outer])
    stages["python"] = (cpu_end - cpu_start) - sum(s[5] - s[4] for s in outer)
    stages["waiting"] = (end - start) - inside - stages["python"]
    return stages


@dataclass
class Breakdown:
    """A phase of hydrograd's script in a fresh process split into ``STAGES`` (seconds); for the
    ``call`` phase, also a second call in the same process."""

    workload: str
    cache: str
    phase: str
    wall: float
    stages: dict[str, float]
    background: float
    hits: int
    misses: int
    second: float | None = None
    second_stages: dict[str, float] | None = None

    def share(self, stage: str) -> float:
        return self.stages[stage] / self.wall if self.wall > 0 else float("nan")


def breakdowns_of(workload: str, cache: str, run: ScriptRun) -> list[Breakdown]:
    """The breakdown of each phase after ``import`` (JAX's instruments start there) measured by a
    ``--breakdown`` run."""
    result = run.result
    spans = result["spans"]
    rows = []
    for name, *clocks in result["phases"]:
        if name == "import":
            continue
        start, end = clocks[:2]
        events = [event for _, event, t in result["events"] if start <= t <= end]
        row = Breakdown(
            workload,
            cache,
            name,
            end - start,
            call_stages(spans, clocks),
            sum(jax_stages(spans, None, start, end).values()),
            events.count("cache_hits"),
            events.count("cache_misses"),
        )
        if name == "call":
            second = result["second_call"]
            row.second, row.second_stages = second[1] - second[0], call_stages(spans, second)
        rows.append(row)
    return rows


def breakdown(workload: str, script: Path | str | None = None) -> list[Breakdown]:
    """hydrograd's script of ``workload`` (or ``script``) with a cold cache, then a warm one: the
    breakdown of each phase after ``import``."""
    script = script or script_path(workload)
    cache = tempfile.mkdtemp(prefix="hydrograd-e2e-cache-")
    try:
        return [
            row
            for state in ("cold", "warm")
            for row in breakdowns_of(workload, state, run_script(script, "hydrograd", cache, breakdown=True))
        ]
    finally:
        shutil.rmtree(cache, ignore_errors=True)


BREAKDOWN_HEADER = (
    "| workload | cache | phase | wall (s) | "
    + " | ".join(STAGE_TITLES[s] for s in STAGES)
    + " | background compiler (s) | cache hits / misses | second call (s): JAX / Python / execution & waits |\n"
    + "| --- " * (len(STAGES) + 7)
    + "|"
)


def breakdown_row(row: Breakdown) -> str:
    """Seconds and share of the phase of each stage, then the second call's split."""
    cells = " | ".join(f"{row.stages[s]:.3f} ({100 * row.share(s):.0f} %)" for s in STAGES)
    later = ""
    if row.second_stages is not None:
        split = row.second_stages
        jax_seconds = sum(split[s] for s in STAGES[:5])
        later = f"{row.second:.3g}: {jax_seconds:.3f} / {split['python']:.3f} / {split['waiting']:.3f}"
    return (
        f"| {row.workload} | {row.cache} | {row.phase} | {row.wall:.3g} | {cells} | {row.background:.3g} "
        f"| {row.hits} / {row.misses} | {later} |"
    )
