"""Stopping a calibration: a callback raising StopIteration ends it cleanly on the best iterate;
Ctrl-C (KeyboardInterrupt) leaves the model exactly as it was and says so; however a calibration
ends, none of its background compilations outlives it."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import hydrograd as smash
from hydrograd.calibration import problems, run
from hydrograd.optimizers import CALLBACK_STOP_MESSAGE


@pytest.fixture(scope="module")
def model():
    setup, mesh = smash.factory.load_dataset("Lez")
    return smash.Model(setup, mesh, verbose=False)


def _stop_at(n_iter: int, seen: list):
    def callback(iopt):
        seen.append((iopt.n_iter, float(iopt.cost)))
        if iopt.n_iter == n_iter:
            raise StopIteration

    return callback


RETURNS = {"cost": True, "n_iter": True, "iter_cost": True, "control_vector": True}


@pytest.mark.parametrize(
    ("optimizer", "mapping"),
    [("sbs", "uniform"), ("lbfgsb", "uniform"), ("nelder-mead", "uniform"), ("adam", "distributed")],
)
def test_stop_iteration_ends_on_the_best_iterate(model, optimizer, mapping, capsys):
    m = model.copy()
    before = m.get_rr_parameters("cp").copy()
    seen = []
    ret = m.optimize(
        mapping=mapping,
        optimizer=optimizer,
        optimize_options={"termination_crit": {"maxiter": 20}},
        return_options=RETURNS,
        callback=_stop_at(3, seen),
    )
    out = capsys.readouterr().out
    assert [n for n, _ in seen] == [1, 2, 3]
    assert CALLBACK_STOP_MESSAGE in out and "INTERRUPTED" not in out
    assert ret.n_iter <= 3
    best = min(ret.iter_cost)
    assert ret.cost == pytest.approx(best, rel=1e-5)
    assert not np.array_equal(m.get_rr_parameters("cp"), before)
    np.testing.assert_array_equal(m.response.q, smash.forward_run(m, common_options={"verbose": False}).response.q)


def test_adam_stopped_by_callback_returns_to_its_best_iterate(model):
    """A learning rate this large makes Adam overshoot: the last iterate is not the best one."""
    seen = []
    ret = model.copy().optimize(
        optimizer="adam",
        optimize_options={"termination_crit": {"maxiter": 30}, "learning_rate": 2.0},
        return_options=RETURNS,
        callback=_stop_at(6, seen),
        common_options={"verbose": False},
    )
    costs = [c for _, c in seen]
    assert ret.cost == pytest.approx(min([ret.iter_cost[0], *costs]), rel=1e-6)
    assert ret.n_iter == int(np.argmin([ret.iter_cost[0], *costs]))


def test_stop_iteration_in_ann_training(model):
    seen = []
    m = model.copy()
    ret = m.optimize(
        mapping="ann",
        optimize_options={"termination_crit": {"maxiter": 10}, "random_state": 0},
        return_options={"net": True, "n_iter": True, "cost": True},
        callback=_stop_at(2, seen),
        common_options={"verbose": False},
    )
    assert [n for n, _ in seen] == [1, 2]
    assert ret.n_iter <= 2 and np.isfinite(ret.cost)
    assert len(ret.net.history["loss_train"]) == 2


@pytest.mark.parametrize(("optimizer", "mapping"), [("lbfgsb", "distributed"), ("adam", "ann")])
def test_ctrl_c_leaves_the_model_unchanged(model, optimizer, mapping, capsys):
    m = model.copy()
    snapshot = {
        "parameters": m.rr_parameters.values.copy(),
        "states": m.rr_initial_states.values.copy(),
        "q": m.response.q.copy(),
    }

    def interrupt(iopt):
        if iopt.n_iter == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        m.optimize(mapping=mapping, optimizer=optimizer, callback=interrupt)
    np.testing.assert_array_equal(m.rr_parameters.values, snapshot["parameters"])
    np.testing.assert_array_equal(m.rr_initial_states.values, snapshot["states"])
    np.testing.assert_array_equal(m.response.q, snapshot["q"])
    assert "INTERRUPTED: the model is left as it was before optimize" in capsys.readouterr().out


def test_a_callback_without_iopt_is_refused_before_any_work(model, capsys):
    with pytest.raises(ValueError, match="iopt"):
        model.copy().optimize(callback=lambda state: None)
    assert capsys.readouterr().out == ""


class _LateCompiler:
    """A one-thread executor like ``hydrograd._process.COMPILER`` whose jobs start a second late,
    so that a calibration ending after its first iteration finds one compilation running and the
    next one queued."""

    def __init__(self):
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-late-compile")
        self.futures = []

    def submit(self, fn, *args):
        def late():
            time.sleep(1.0)
            return fn(*args)

        future = self.pool.submit(late)
        self.futures.append(future)
        return future


@pytest.mark.parametrize("ending", [KeyboardInterrupt, RuntimeError, None])
def test_no_background_compilation_outlives_its_calibration(model, monkeypatch, ending):
    """Whether the calibration raises (Ctrl-C, a failing callback) or returns, the compilations it
    submitted are finished or cancelled when it ends (a queued one is cancelled, not run)."""
    compiler = _LateCompiler()
    monkeypatch.setattr(run, "COMPILER", compiler)
    monkeypatch.setattr(problems, "COMPILER", compiler)

    def stop(iopt):
        if ending is not None:
            raise ending("stop")

    def calibrate():
        return model.copy().optimize(
            mapping="distributed",
            optimizer="lbfgsb",
            optimize_options={"termination_crit": {"maxiter": 1}},
            callback=stop,
            common_options={"verbose": False},
        )

    try:
        if ending is None:
            calibrate()
        else:
            with pytest.raises(ending, match="stop"):
                calibrate()
        assert len(compiler.futures) == 2  # the closing forward run, then the calibrated maps
        assert all(future.done() for future in compiler.futures)
        if ending is not None:
            assert not compiler.futures[0].cancelled() and compiler.futures[1].cancelled()
    finally:
        compiler.pool.shutdown(wait=True, cancel_futures=True)
