"""hydrograd.plot: hydrographs with gaps, maps on the grid with gauges, loss histories, and figures
with real content (non-interactive backend)."""

from __future__ import annotations

import sys

import matplotlib
import numpy as np
import pytest

import hydrograd as smash
from hydrograd import plot

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from PIL import Image


@pytest.fixture(scope="module")
def model(synthetic_inputs):
    setup, mesh = synthetic_inputs
    model = smash.Model({**setup, "end_time": "2020-05-01"}, mesh, verbose=False)
    model.forward_run(common_options={"verbose": False})
    return model


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _non_trivial(fig, path) -> None:
    fig.savefig(path, dpi=80)
    pixels = np.asarray(Image.open(path).convert("L"), dtype=float)
    assert pixels.std() > 10, f"{path.name} looks blank"


def test_hydrograph_leaves_gaps_where_observations_are_missing(model, tmp_path):
    gapped = model.copy()
    gapped.response_data.q[2, 10:20] = -99.0
    other = model.copy()
    other.response.q = other.response.q * 1.1
    ax = plot.hydrograph({"run": gapped, "scaled": other}, "SYN0003")
    observed, *simulated = ax.lines
    y = np.asarray(observed.get_ydata(), dtype=float)
    assert np.isnan(y[10:20]).all() and not np.isnan(np.delete(y, range(10, 20))).any()
    assert len(simulated) == 2 and all("NSE" in line.get_label() for line in simulated)
    np.testing.assert_allclose(simulated[1].get_ydata(), other.response.q[2], rtol=1e-6)
    assert ax.get_title() == "gauge SYN0003"
    _non_trivial(ax.figure, tmp_path / "hydrograph.png")


def test_hydrograph_of_one_model_by_index(model):
    ax = plot.hydrograph(model, -1)
    assert ax.get_title() == f"gauge {model.mesh.code[-1]}"


@pytest.mark.parametrize(("gauge", "match"), [("SYN0003x", "Did you mean 'SYN0003'"), (99, "index below")])
def test_hydrograph_refuses_unknown_gauges(model, gauge, match):
    with pytest.raises(ValueError, match=match):
        plot.hydrograph(model, gauge)


def test_parameter_map_on_the_mesh_grid_with_gauges(model, tmp_path):
    ax = plot.parameter_map(model, "cp")
    image = np.ma.filled(ax.images[0].get_array().astype(float), np.nan)
    active = model.mesh.active_cell == 1
    assert np.isnan(image[~active]).all()
    np.testing.assert_allclose(image[active], model.get_rr_parameters("cp")[active])
    m = model.mesh
    left, right, bottom, top = ax.images[0].get_extent()
    assert (left, top) == (m.xmin / 1000, m.ymax / 1000)
    assert right == pytest.approx((m.xmin + m.ncol * m.xres) / 1000)
    assert bottom == pytest.approx((m.ymax - m.nrow * m.yres) / 1000)
    offsets = ax.collections[0].get_offsets()
    rows, cols = np.asarray(m.gauge_pos).T
    np.testing.assert_allclose(offsets[:, 0], (m.xmin + (cols + 0.5) * m.xres) / 1000)
    np.testing.assert_allclose(offsets[:, 1], (m.ymax - (rows + 0.5) * m.yres) / 1000)
    assert len(ax.texts) == m.ng
    _non_trivial(ax.figure, tmp_path / "map.png")


def test_state_maps_and_given_values(model):
    assert plot.parameter_map(model, "hp_final", labels=False).get_title() == "hp_final"
    values = np.arange(model.mesh.nrow * model.mesh.ncol, dtype=float).reshape(model.mesh.nrow, model.mesh.ncol)
    ax = plot.parameter_map(model, "truth", values, gauges=False, title="given")
    assert ax.get_title() == "given" and not ax.collections
    with pytest.raises(ValueError, match="Did you mean 'cp'"):
        plot.parameter_map(model, "cpp")
    with pytest.raises(ValueError, match="grid's shape"):
        plot.parameter_map(model, "cp", values[:-1])


def test_loss_history_from_optimize_net_or_sequence(tmp_path):
    net = smash.factory.Net()
    net.history["loss_train"] = [0.5, 0.3, 0.2]
    ax = plot.loss_history({"sbs": smash.Optimize(iter_cost=np.array([0.9, 0.6])), "net": net, "list": [0.4, 0.1]})
    lengths = [len(line.get_xdata()) for line in ax.lines]
    assert lengths == [2, 3, 2] and ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["sbs", "net", "list"]
    _non_trivial(ax.figure, tmp_path / "loss.png")
    with pytest.raises(TypeError, match="iter_cost"):
        plot.loss_history({"bad": smash.Optimize(cost=1.0)})


def test_missing_matplotlib_is_a_clear_error(model, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"hydrograd\[plot\]"):
        plot.parameter_map(model, "cp")
