"""Jitted programs whose tracing and lowering a new process skips: each program ``jax.export``
traced and lowered is kept on disk, and a later process with the same program deserializes it
instead of tracing hydrograd's Python again (the persistent compilation cache then gives the
compiled executable).

A program is keyed by everything its tracing depends on: the function, its static arguments, the
structure, shapes and dtypes of its array arguments, JAX's tracing settings (x64 above all) and
backend, the versions of jax, jaxlib and numpy, and a digest of hydrograd's source files (a changed line is a
new program). A key that cannot be written down the same in every process (a static value whose
only description is its address) leaves the program to plain ``jax.jit``, as do calls under a JAX
transformation and the switch below. The entries are plain files under
``cache_root() / "exported"``, written atomically, bounded to ``EXPORT_MAX_BYTES`` (least recently
used first out); one unreadable or not matching its key is exported again and replaced.
``HYDROGRAD_EXPORT_CACHE=0`` turns it off (see ``hydrograd._process``).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.util
import inspect
import os
import pickle
import tempfile
import types
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import jaxlib
import numpy as np
from jax._src import config as jax_config

from hydrograd._process import EXPORT_CACHE_ENV, EXPORT_MAX_BYTES, cache_root, float32_arithmetic, routing_method

_PACKAGE = Path(__file__).resolve().parent


class UnstableError(Exception):
    """A value with no description that holds across processes."""


def stable(value: Any) -> str:
    """A description of a static ``value`` that is the same in every process and differs between
    values a program could depend on: containers and dataclasses field by field (sets sorted),
    functions by module, code name, closure and defaults. Raises :class:`UnstableError` for a value
    whose ``repr`` holds an address."""
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
        return f"{type(value).__name__}:{value!r}"
    if isinstance(value, type):
        return f"type:{value.__module__}.{value.__qualname__}"
    kind = f"{type(value).__module__}.{type(value).__qualname__}"
    if isinstance(value, (tuple, list)):
        return f"{kind}({', '.join(map(stable, value))})"
    if isinstance(value, (set, frozenset)):
        return f"{kind}({', '.join(sorted(map(stable, value)))})"
    if isinstance(value, dict):
        return f"{kind}{{{', '.join(f'{stable(k)}: {stable(v)}' for k, v in value.items())}}}"
    if dataclasses.is_dataclass(value):
        fields = (f"{f.name}={stable(getattr(value, f.name))}" for f in dataclasses.fields(value))
        return f"{kind}({', '.join(fields)})"
    if isinstance(value, functools.partial):
        return f"{kind}({stable(value.func)}, {stable(value.args)}, {stable(value.keywords)})"
    if isinstance(value, types.FunctionType):
        cells = tuple(cell.cell_contents for cell in value.__closure__ or ())
        parts = (cells, value.__defaults__, value.__kwdefaults__)
        return f"function:{value.__module__}.{value.__code__.co_qualname}{stable(parts)}"
    if isinstance(value, np.ndarray):
        return f"{kind}({value.dtype}, {value.shape}, {hashlib.sha256(value.tobytes()).hexdigest()})"
    text = repr(value)
    if " at 0x" in text:
        raise UnstableError(text)
    return f"{kind}:{text}"


def _treedef(treedef: Any) -> str:
    """:func:`stable` of a PyTree structure: each node's type and static data, then its children."""
    if treedef.num_nodes == 1 and treedef.num_leaves == 1:
        return "*"
    node, data = treedef.node_data()
    children = ", ".join(_treedef(child) for child in treedef.children())
    return f"{stable(node)}[{stable(data)}]({children})"


@functools.cache
def _versions() -> str:
    """The versions of jax, jaxlib and numpy and a digest of hydrograd's source files, fixed for a
    process."""
    digest = hashlib.sha256()
    for path in sorted(_PACKAGE.rglob("*.py")):
        digest.update(str(path.relative_to(_PACKAGE)).encode())
        digest.update(path.read_bytes())
    return f"jax {jax.__version__}, jaxlib {jaxlib.__version__}, numpy {np.__version__}, hydrograd {digest.hexdigest()}"


def _environment() -> str:
    """What every program's tracing depends on besides its arguments: :func:`_versions` and
    hydrograd's tracing settings, the float32 arithmetic (``HYDROGRAD_FLOAT32``) and the routing of
    linear steps (``HYDROGRAD_ROUTING``), which a process may change between programs."""
    return f"{_versions()}, float32 {float32_arithmetic()}, routing {routing_method()}"


def _trace_settings() -> str:
    """JAX's settings that change a trace (x64 among them) and the backend it lowers for, as
    :func:`stable` describes them; the trace context's axis environment, empty outside a
    transformation (whose calls do not come here), is left out."""
    settings = tuple(v for v in jax_config.trace_context() if type(v).__name__ != "AxisEnv")
    return stable((jax.default_backend(), settings))


def _enabled() -> bool:
    """Whether the cache is on: not switched off, and JAX can serialize programs (it needs the
    ``flatbuffers`` package)."""
    return os.environ.get(EXPORT_CACHE_ENV, "1") != "0" and _serializable()


@functools.cache
def _serializable() -> bool:
    return importlib.util.find_spec("flatbuffers") is not None


def _aval(leaf: Any) -> Any:
    """The abstract value of an argument's array (a concrete array, a numpy scalar or a
    ``ShapeDtypeStruct``), None for anything else (a tracer, a Python number)."""
    if isinstance(leaf, jax.core.Tracer):
        return None
    if isinstance(leaf, jax.Array):
        return leaf.aval
    if isinstance(leaf, (np.ndarray, np.generic, jax.ShapeDtypeStruct)):
        return jax.core.ShapedArray(leaf.shape, leaf.dtype, weak_type=getattr(leaf, "weak_type", False))
    return None


def _signature(avals: Sequence[Any]) -> tuple:
    """Shape, dtype and weak type of each abstract value."""
    return tuple((tuple(a.shape), str(a.dtype), bool(a.weak_type)) for a in avals)


@dataclasses.dataclass(frozen=True)
class _Program:
    """A deserialized program: ``call`` takes the flat arrays of the dynamic arguments (in the
    structure ``in_tree``), ``out_tree`` rebuilds its results."""

    call: Callable
    in_tree: Any
    out_tree: Any

    def __call__(self, leaves: Sequence[Any]) -> Any:
        return jax.tree_util.tree_unflatten(self.out_tree, self.call(*leaves))

    def compile(self, avals: Sequence[Any]) -> Callable:
        """The program compiled ahead of time, called with the dynamic arguments."""
        compiled = self.call.lower(*(jax.ShapeDtypeStruct(a.shape, a.dtype, weak_type=a.weak_type) for a in avals))
        compiled = compiled.compile()

        def call(*dynamic: Any) -> Any:
            leaves, in_tree = jax.tree_util.tree_flatten(dynamic)
            if in_tree != self.in_tree:
                raise TypeError(f"arguments structured as {in_tree}, compiled for {self.in_tree}")
            return jax.tree_util.tree_unflatten(self.out_tree, compiled(*leaves))

        return call


class _Lowered:
    """What ``ExportedJit.lower`` gives: ``compile()`` as JAX's ``Lowered``."""

    def __init__(self, program: _Program, avals: Sequence[Any]) -> None:
        self._program = program
        self._avals = avals

    def compile(self) -> Callable:
        return self._program.compile(self._avals)


class ExportedJit:
    """``jax.jit(fun, static_argnames=static_argnames)`` whose programs are kept across processes
    (module docstring); called, and lowered ahead of time, as the jitted function is. ``name``:
    unique among hydrograd's programs (it starts their keys)."""

    def __init__(self, fun: Callable, static_argnames: tuple[str, ...], name: str) -> None:
        self.jitted = jax.jit(fun, static_argnames=static_argnames)
        self.name = name
        self._signature = inspect.signature(fun)
        self._static = static_argnames
        self._programs: dict[Any, _Program | None] = {}

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        found = self._find(args, kwargs)
        if found is None:
            return self.jitted(*args, **kwargs)
        program, leaves, _ = found
        return program(leaves)

    def lower(self, *args: Any, **kwargs: Any) -> Any:
        """``jax.jit``'s ahead-of-time lowering (arrays or ``ShapeDtypeStruct``): ``.compile()``
        gives the program, called with the dynamic arguments."""
        found = self._find(args, kwargs)
        if found is None:
            return self.jitted.lower(*args, **kwargs)
        program, _, avals = found
        return _Lowered(program, avals)

    def _find(self, args: tuple, kwargs: dict) -> tuple[_Program, list, tuple] | None:
        """The program for these arguments, their flat arrays and abstract values; None for plain
        ``jit``."""
        if not _enabled():
            return None
        bound = self._signature.bind(*args, **kwargs)
        bound.apply_defaults()
        statics = tuple((k, v) for k, v in bound.arguments.items() if k in self._static)
        dynamic = tuple(v for k, v in bound.arguments.items() if k not in self._static)
        leaves, in_tree = jax.tree_util.tree_flatten(dynamic)
        avals = tuple(map(_aval, leaves))
        if None in avals:
            return None
        # dtypes as they are: their text (the disk key's) costs more than the rest of the lookup
        shapes = tuple((a.shape, a.dtype, a.weak_type) for a in avals)
        memory_key = (statics, in_tree, shapes, jax_config.trace_context())
        if memory_key not in self._programs:
            self._programs[memory_key] = self._load(statics, in_tree, avals)
        program = self._programs[memory_key]
        return None if program is None else (program, leaves, avals)

    def _load(self, statics: tuple, in_tree: Any, avals: tuple) -> _Program | None:
        """The program from the disk cache, exported (and stored) when missing or unusable; None
        when the arguments have no stable key or the program cannot be exported (plain ``jit``
        then runs it, and raises what its tracing raises)."""
        try:
            parts = [self.name, stable(statics), _treedef(in_tree), stable(_signature(avals)), _trace_settings()]
        except (UnstableError, RecursionError):
            return None
        key = "\n".join([*parts, _environment()])
        folder = cache_root() / "exported"
        path = folder / f"{hashlib.sha256(key.encode()).hexdigest()}.pkl"
        program = _read(path, key, in_tree, avals)
        if program is not None:
            return program
        try:
            exported, out_tree = self._export(dict(statics), in_tree, avals)
            serialized = bytes(exported.serialize())
        except Exception:  # left to plain jit
            return None
        _write(folder, path, {"key": key, "out_tree": out_tree, "program": serialized})
        return _Program(jax.jit(exported.call), in_tree, out_tree)

    def _export(self, statics: dict, in_tree: Any, avals: tuple) -> tuple[Any, Any]:
        """``jax.export`` of the program on the flat arrays of its dynamic arguments, and the
        structure of its results."""
        dynamic_names = [name for name in self._signature.parameters if name not in statics]
        out_trees = []

        def flat(*leaves):
            values = {**dict(zip(dynamic_names, jax.tree_util.tree_unflatten(in_tree, leaves), strict=True)), **statics}
            out, out_tree = jax.tree_util.tree_flatten(self.jitted(*(values[n] for n in self._signature.parameters)))
            out_trees.append(out_tree)
            return out

        shapes = [jax.ShapeDtypeStruct(a.shape, a.dtype, weak_type=a.weak_type) for a in avals]
        return jax.export.export(jax.jit(flat))(*shapes), out_trees[0]


def _read(path: Path, key: str, in_tree: Any, avals: tuple) -> _Program | None:
    """The stored program at ``path`` if it is there, readable and made for ``key``; else None."""
    try:
        entry = pickle.loads(path.read_bytes())
        if entry["key"] != key:
            return None
        exported = jax.export.deserialize(bytearray(entry["program"]))
        if (
            _signature(exported.in_avals) != _signature(avals)
            or len(exported.out_avals) != entry["out_tree"].num_leaves
        ):
            return None
        os.utime(path)
    except Exception:  # a missing, damaged or foreign entry is exported again
        return None
    return _Program(jax.jit(exported.call), in_tree, entry["out_tree"])


def _write(folder: Path, path: Path, entry: dict) -> None:
    """Store ``entry`` at ``path`` atomically, then evict the least recently used entries beyond
    ``EXPORT_MAX_BYTES``; an entry that cannot be pickled or written is not kept."""
    try:
        content = pickle.dumps(entry)
        folder.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=folder, suffix=".tmp")
    except Exception:  # e.g. a result structure pickle cannot name, a read-only folder
        return
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(content)
        os.replace(temporary, path)
        _evict(folder)
    except OSError:
        Path(temporary).unlink(missing_ok=True)


def _evict(folder: Path) -> None:
    entries = []
    for path in folder.glob("*.pkl"):
        try:
            stat = path.stat()
        except OSError:
            continue
        entries.append((stat.st_mtime, stat.st_size, path))
    total = sum(size for _, size, _ in entries)
    for _, size, path in sorted(entries, key=lambda entry: entry[0]):
        if total <= EXPORT_MAX_BYTES:
            break
        path.unlink(missing_ok=True)
        total -= size
