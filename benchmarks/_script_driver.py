"""Runs one user script phase by phase in this (fresh) process and writes what it measured as JSON:
``python -m benchmarks._script_driver SCRIPT PACKAGE OUT.json [--breakdown]``.

A script's phases are the chunks between its ``# %% NAME`` lines (``benchmarks/scripts``); each runs
in the script's namespace with ``sys.argv = [SCRIPT, PACKAGE]``, timed with ``time.time()``.

With ``--breakdown`` (hydrograd only), JAX's own instruments record what the process does from the
end of the ``import`` phase on: ``jax.monitoring``'s spans of tracing, lowering to MLIR and backend
compilation (their starts come as scalar events), its persistent-cache events, and the calls inside
backend compilation that read, key and write the persistent cache (JAX's compiler functions, wrapped
here: JAX reports no span for them). Each span names its thread (``"main"`` or the thread's name:
hydrograd's background compiler overlaps the main thread) and carries that thread's CPU clock
(``time.thread_time``) at both ends, so that the main thread's time outside JAX's stages splits
into Python it runs and time it waits (for compiled programs executing on XLA's threads, for the
background compiler). The ``call`` phase then runs a second time, measured the same way: a call
with every program compiled.

Only the standard library is imported before the script's own imports, so its ``import`` phase is a
user's.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time

MARK = re.compile(r"^# %% (\w+)\s*$")
TRACE_EVENT = "/jax/core/compile/jaxpr_trace_duration"
LOWER_EVENT = "/jax/core/compile/jaxpr_to_mlir_module_duration"
COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
SPAN_STAGES = {TRACE_EVENT: "trace", LOWER_EVENT: "lower", COMPILE_EVENT: "compile"}
CACHE_FUNCTIONS = {"_cache_read": "cache_read", "_get_cache_key": "cache_key", "_cache_write": "cache_write"}
"""JAX compiler functions (``jax._src.compiler``) called inside backend compilation, and the stage
their time goes to; one JAX no longer has is left alone (its time stays in ``compile``)."""


def phases(source: str) -> list[tuple[str, str]]:
    """``(name, code)`` of each phase of a script; what precedes the first mark joins the first phase.
    Each chunk is padded with the blank lines above it, so tracebacks point at the script's lines."""
    lines = source.splitlines(keepends=True)
    marks = [(i, m.group(1)) for i, line in enumerate(lines) if (m := MARK.match(line))]
    if not marks:
        return [("script", source)]
    bounds = [0, *(i for i, _ in marks[1:]), len(lines)]
    return [(name, "\n" * bounds[k] + "".join(lines[bounds[k] : bounds[k + 1]])) for k, (_, name) in enumerate(marks)]


class Recorder:
    """JAX's compilation stages as ``[thread, stage, start, end, cpu_start, cpu_end]`` (wall clock,
    then the thread's CPU clock) and its persistent-cache events as ``[thread, event, time]``."""

    def __init__(self) -> None:
        self.spans: list[list] = []
        self.events: list[list] = []
        self._starts: dict[tuple[int, str], list[float]] = {}

    @staticmethod
    def _thread() -> str:
        thread = threading.current_thread()
        return "main" if thread is threading.main_thread() else thread.name

    def on_start(self, event: str, value: float, **_: object) -> None:
        if event in SPAN_STAGES:
            self._starts.setdefault((threading.get_ident(), event), []).append(time.thread_time())

    def on_span(self, event: str, start: float, end: float, **_: object) -> None:
        stage = SPAN_STAGES.get(event)
        if stage is None:
            return
        cpu_end = time.thread_time()
        starts = self._starts.get((threading.get_ident(), event))
        cpu_start = starts.pop() if starts else cpu_end - (end - start)
        self.spans.append([self._thread(), stage, start, end, cpu_start, cpu_end])

    def on_event(self, event: str, **_: object) -> None:
        if event.startswith("/jax/compilation_cache/"):
            self.events.append([self._thread(), event.rsplit("/", 1)[1], time.time()])

    def timed(self, fn, stage: str):
        def call(*args, **kwargs):
            start, cpu_start = time.time(), time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.spans.append([self._thread(), stage, start, time.time(), cpu_start, time.thread_time()])

        return call

    def install(self) -> None:
        import jax.monitoring
        from jax._src import compiler

        jax.monitoring.register_scalar_listener(self.on_start)
        jax.monitoring.register_event_time_span_listener(self.on_span)
        jax.monitoring.register_event_listener(self.on_event)
        for name, stage in CACHE_FUNCTIONS.items():
            fn = getattr(compiler, name, None)
            if fn is not None:
                setattr(compiler, name, self.timed(fn, stage))


def union_length(spans: list[tuple[float, float]]) -> float:
    """Total length covered by ``spans`` (overlaps counted once)."""
    total, end = 0.0, float("-inf")
    for a, b in sorted(spans):
        if b <= end:
            continue
        total += b - max(a, end)
        end = b
    return total


def timed_exec(code, namespace: dict) -> list[float]:
    """Run ``code``; its wall clock and the main thread's CPU clock at both ends."""
    start, cpu_start = time.time(), time.thread_time()
    exec(code, namespace)
    return [start, time.time(), cpu_start, time.thread_time()]


def run(script: str, package: str, breakdown: bool = False) -> dict:
    """Run ``script`` with ``package`` phase by phase; what was measured: each phase's name, wall clock
    (``time.time()``) and main thread's CPU clock at both ends, and with ``breakdown`` the same clocks
    around a second run of the ``call`` phase and the records of :class:`Recorder`."""
    with open(script) as handle:
        source = handle.read()
    sys.argv = [script, package]
    namespace = {"__name__": "__main__", "__file__": script, "__builtins__": __builtins__}
    recorder = Recorder() if breakdown else None
    result: dict = {"package": package, "phases": []}
    for name, body in phases(source):
        code = compile(body, script, "exec")
        start, end, cpu_start, cpu_end = timed_exec(code, namespace)
        result["phases"].append([name, start, end, cpu_start, cpu_end])
        if name == "call" and recorder is not None:
            result["second_call"] = timed_exec(code, namespace)
        if name == "import" and recorder is not None:
            recorder.install()
    if recorder is not None:
        result["spans"], result["events"] = recorder.spans, recorder.events
    return result


def main() -> None:
    script, package, out = sys.argv[1:4]
    breakdown = "--breakdown" in sys.argv[4:]
    result = run(script, package, breakdown)
    with open(out, "w") as handle:
        json.dump(result, handle)


if __name__ == "__main__":
    main()
