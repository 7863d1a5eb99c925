"""Programs kept across processes (``hydrograd._exported``): a second process loads them (a forward
run, a gradient, a regionalization network's training) and gives the same numbers, a damaged or
stale entry is exported again, and the switch turns the cache off."""

from __future__ import annotations

import functools
import os
import pickle
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hydrograd import _exported
from hydrograd._exported import ExportedJit, UnstableError, stable
from hydrograd._process import CACHE_ENV, EXPORT_CACHE_ENV
from tests._float32 import float32_arithmetic

pytest.importorskip("flatbuffers", reason="jax.export serializes programs with flatbuffers")

REPO = Path(__file__).resolve().parent.parent

CHILD = """
import sys

import numpy as np

import hydrograd as smash
from hydrograd import _exported
from tests._tiny import tiny_mesh, tiny_setup

exports = []
export = _exported.ExportedJit._export
_exported.ExportedJit._export = lambda self, *args: exports.append(self.name) or export(self, *args)

model = smash.Model(tiny_setup(), tiny_mesh(), verbose=False)
rng = np.random.default_rng(0)
shape = model.atmos_data.prcp.shape
model.atmos_data.prcp = rng.uniform(0.0, 4.0, shape).astype(np.float32)
model.atmos_data.pet = rng.uniform(0.0, 0.3, shape).astype(np.float32)
model.forward_run(common_options={"verbose": False})
model.response_data.q = model.response.q * np.float32(1.1)
_, derivative = smash.backward_run(
    model, "j", mapping="distributed", common_options={"verbose": False}, return_options={"grad": True}
)
setup, mesh = smash.factory.load_dataset("Lez")
setup["end_time"] = "2012-08-15"
lez = smash.Model(setup, mesh, verbose=False)
net = smash.factory.Net()
net.add_dense(4, input_shape=lez.setup.nd, activation="relu")
net.add_dense(2, activation="sigmoid")
net.add_scale([(1e-6, 1000.0), (1e-6, 1000.0)])
options = {"net": net, "parameters": ["cp", "ct"], "termination_crit": {"maxiter": 2}, "random_state": 0}
trained = smash.optimize(lez, mapping="ann", optimize_options=options, common_options={"verbose": False})
numbers = [model.response.q.ravel(), derivative.grad.ravel(), trained.response.q.ravel()]
np.save(sys.argv[1], np.concatenate(numbers).astype(np.float64))
print("exported:", ",".join(sorted(set(exports))))
"""


def _child(tmp_path: Path, name: str, **env: str) -> tuple[np.ndarray, str]:
    """Run ``CHILD`` in a fresh process with hydrograd's cache under ``tmp_path``: its numbers and
    the programs it exported."""
    out = tmp_path / f"{name}.npy"
    environ = {**os.environ, CACHE_ENV: str(tmp_path / "cache"), **env}
    environ["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
    run = subprocess.run(
        [sys.executable, "-c", CHILD, str(out)], env=environ, cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr
    exported = next(line for line in run.stdout.splitlines() if line.startswith("exported:"))
    return np.load(out), exported.removeprefix("exported:").strip()


def test_a_second_process_loads_the_programs_and_gives_the_same_numbers(tmp_path):
    first, exported = _child(tmp_path, "first")
    assert {"simulate", "objective.value_and_grad", "ann.flat_value_and_grad"} <= set(exported.split(","))
    second, exported_again = _child(tmp_path, "second")
    assert exported_again == ""
    plain, exported_off = _child(tmp_path, "plain", **{EXPORT_CACHE_ENV: "0"})
    assert exported_off == ""
    np.testing.assert_array_equal(second, first)
    np.testing.assert_array_equal(plain, first)


@jax.custom_vjp
def _clipped_square(x):
    return x * x


def _clipped_square_fwd(x):
    return x * x, x


def _clipped_square_bwd(x, g):
    return (jnp.clip(2.0 * x * g, -1.0, 1.0),)


_clipped_square.defvjp(_clipped_square_fwd, _clipped_square_bwd)


def _loss(x, scale, data):
    return scale * jnp.sum(_clipped_square(x) * data["w"]) + data["b"]


def _program() -> ExportedJit:
    return ExportedJit(jax.value_and_grad(_loss), ("scale",), "tests.loss")


def _arguments():
    x = jnp.linspace(-1.0, 1.0, 7, dtype=jnp.float32)
    return x, 3.0, {"w": jnp.arange(7, dtype=jnp.float32), "b": jnp.float32(0.5)}


def _entries(cache: Path) -> list[Path]:
    return sorted((cache / "exported").glob("*.pkl"))


def _same(a, b) -> None:
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_custom_vjp_gradient_survives_export_and_matches_plain_jit(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    program = _program()
    stored = program(*_arguments())
    assert len(_entries(tmp_path)) == 1
    loaded = _program()(*_arguments())
    _same(stored, loaded)
    _same(loaded, program.jitted(*_arguments()))
    compiled = _program().lower(*_arguments()).compile()
    _same(compiled(_arguments()[0], _arguments()[2]), loaded)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "stale key", "other shapes"])
def test_a_damaged_or_stale_entry_is_exported_again(tmp_path, monkeypatch, damage):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    expected = _program()(*_arguments())
    (path,) = _entries(tmp_path)
    content = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"not a program")
    elif damage == "truncated":
        path.write_bytes(content[: len(content) // 2])
    else:
        entry = pickle.loads(content)
        if damage == "stale key":
            entry["key"] += " from another version"
        else:
            x, scale, data = _arguments()
            other = ExportedJit(jax.value_and_grad(_loss), ("scale",), "tests.other")
            monkeypatch.setenv(CACHE_ENV, str(tmp_path / "other"))
            other(x[:3], scale, {"w": data["w"][:3], "b": data["b"]})
            entry["program"] = pickle.loads(_entries(tmp_path / "other")[0].read_bytes())["program"]
            monkeypatch.setenv(CACHE_ENV, str(tmp_path))
        path.write_bytes(pickle.dumps(entry))
    exports = []
    monkeypatch.setattr(ExportedJit, "_export", lambda self, *a: exports.append(1) or export(self, *a))
    _same(_program()(*_arguments()), expected)
    assert exports == [1]
    assert pickle.loads(path.read_bytes())["key"] == pickle.loads(content)["key"]


export = ExportedJit._export


def test_numpy_scalar_arguments_are_kept_too(tmp_path, monkeypatch):
    # a training step's counter comes as a numpy scalar; it is an array argument like the others
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    program = ExportedJit(lambda x, step: x * step, (), "tests.scaled")
    x = jnp.linspace(0.0, 1.0, 5, dtype=jnp.float32)
    _same(program(x, np.int32(3)), program.jitted(x, np.int32(3)))
    assert len(_entries(tmp_path)) == 1


def test_the_switch_turns_the_cache_off(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    monkeypatch.setenv(EXPORT_CACHE_ENV, "0")
    program = _program()
    _same(program(*_arguments()), program.jitted(*_arguments()))
    assert not (tmp_path / "exported").exists()


def test_calls_under_a_transformation_use_plain_jit(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    x, _, data = _arguments()
    program = ExportedJit(_loss, ("scale",), "tests.primal")
    grad = jax.grad(lambda x: program(x, 3.0, data))(x)
    _same(grad, jax.grad(_loss)(x, 3.0, data))
    assert not (tmp_path / "exported").exists()


def test_the_cache_evicts_the_least_recently_used_entries(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    program = _program()
    x, scale, data = _arguments()
    program(x, scale, data)
    (first,) = _entries(tmp_path)
    os.utime(first, (0, 0))
    monkeypatch.setattr(_exported, "EXPORT_MAX_BYTES", first.stat().st_size * 3 // 2)
    program(x, 2.0, data)
    assert first not in _entries(tmp_path) and len(_entries(tmp_path)) == 1


def _closure(k):
    return lambda x: x * k


def test_stable_keys_describe_functions_by_code_and_closure():
    assert stable(_closure(2)) == stable(_closure(2))
    assert stable(_closure(2)) != stable(_closure(3))
    assert stable(functools.partial(_loss, scale=1.0)) != stable(functools.partial(_loss, scale=2.0))
    assert stable(frozenset({"a", "b", "c"})) == stable(frozenset({"c", "b", "a"}))
    with pytest.raises(UnstableError):
        stable(object())


def test_the_key_follows_the_tracing_settings(routing_by_doubling):
    """A program traced under another float32 arithmetic or routing is another program."""
    from hydrograd import _exported, _process

    doubled = _exported._environment()
    _process.set_routing_method("levels")
    levels = _exported._environment()
    with float32_arithmetic("smash"):
        smash_levels = _exported._environment()
    assert len({doubled, levels, smash_levels}) == 3
    assert levels == _exported._environment()
