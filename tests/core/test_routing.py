"""Routing sweep: topology, conservation, agreement with a plain loop, and its hand-written adjoint."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from hydrograd.core import routing
from hydrograd.mesh.graph import build_flow_graph, level_buckets, topological_levels


def comb_mesh(nrow: int = 6, ncol: int = 7, seed: int = 0):
    """A grid draining south into the last row, which drains east to an outlet leaving the grid;
    a few cells are rerouted diagonally to make the tree irregular."""
    rng = np.random.default_rng(seed)
    flwdir = np.full((nrow, ncol), 5.0, dtype=np.float32)  # south
    flwdir[-1, :] = 3.0  # east
    for r in range(nrow - 2):
        for c in range(1, ncol - 1):
            if rng.uniform() < 0.3:
                flwdir[r, c] = rng.choice([4.0, 6.0])  # south-east / south-west
    active = np.ones((nrow, ncol), dtype=np.int32)
    dx = np.full((nrow, ncol), 1000.0, dtype=np.float32)
    acc = _accumulate(flwdir, dx * dx)
    return flwdir, active, dx, acc


def _accumulate(flwdir, area):
    from hydrograd.mesh.graph import downstream_cell

    drow, dcol = downstream_cell(flwdir)
    acc = area.astype(np.float64).copy()
    order = np.argsort(-_depth(drow, dcol), axis=None)
    for flat in order:
        r, c = np.unravel_index(flat, flwdir.shape)
        if drow[r, c] >= 0:
            acc[drow[r, c], dcol[r, c]] += acc[r, c]
    return acc.astype(np.float32)


def _depth(drow, dcol):
    """Number of cells downstream of each cell (to order an accumulation from sources)."""
    depth = np.zeros(drow.shape, dtype=np.int64)
    for r in range(drow.shape[0]):
        for c in range(drow.shape[1]):
            rr, cc, d = r, c, 0
            while drow[rr, cc] >= 0:
                rr, cc, d = drow[rr, cc], dcol[rr, cc], d + 1
            depth[r, c] = d
    return depth


def plain_loop(local, theta, downstream, n):
    """Reference sweep: repeatedly route cells whose upstream cells are all done."""
    q = np.zeros(n)
    qup = np.zeros(n)
    levels = topological_levels(downstream)
    for lvl in range(levels.max() + 1):
        for x in np.flatnonzero(levels == lvl):
            q[x] = local(qup[x], {k: v[x] for k, v in theta.items()})
            if downstream[x] < n:
                qup[downstream[x]] += q[x]
    return q, qup


@pytest.fixture(scope="module")
def graph64():
    with jax.enable_x64(True):
        flwdir, active, dx, acc = comb_mesh()
        graph, _ = build_flow_graph(flwdir, active, dx, dx, acc, dtype=np.float64)
        yield graph


def test_levels_are_contiguous_and_drain_forward(graph64):
    n = graph64.nac
    down = np.asarray(graph64.downstream)[:n]
    has_down = down < n
    assert np.all(down[has_down] > np.flatnonzero(has_down))
    ranges = [
        (int(s), int(c))
        for b in graph64.buckets
        for s, c in zip(np.asarray(b.starts), np.asarray(b.counts), strict=True)
    ]
    covered = np.concatenate([np.arange(s, s + c) for s, c in ranges])
    assert covered.tolist() == list(range(n))
    widths = [b.lanes.shape[0] for b in graph64.buckets]
    assert widths == sorted(widths, reverse=True)
    assert all(w & (w - 1) == 0 for w in widths)
    assert all(c <= b.lanes.shape[0] for b in graph64.buckets for c in np.asarray(b.counts))
    assert graph64.size >= n + max(widths)


def test_wave_offsets_put_each_cell_one_step_before_its_downstream_cell(graph64):
    n = graph64.nac
    down = np.asarray(graph64.downstream)[:n]
    offset = np.asarray(graph64.wave_offset)
    drains = down < n
    np.testing.assert_array_equal(offset[down[drains]], offset[drains] + 1)
    assert offset.min() >= 0 and offset.max() == graph64.n_levels - 1
    depth = np.array([_hops(down, x, n) for x in range(n)])
    assert np.all(offset[~drains] == graph64.n_levels - 1)
    np.testing.assert_array_equal(offset, graph64.n_levels - 1 - depth)


def _hops(down, x, n):
    hops = 0
    while down[x] < n:
        x, hops = down[x], hops + 1
    return hops


def test_bucket_count_grows_with_log_of_width_not_with_levels():
    counts = np.concatenate([[1000], np.ones(800, int)])
    buckets = level_buckets(counts)
    assert sum(len(starts) for starts, _, _ in buckets) == 801
    assert len(buckets) <= int(np.log2(1000)) + 2


def test_flow_loop_is_reported():
    with pytest.raises(ValueError, match="loop"):
        topological_levels(np.array([1, 2, 0, 3]))


@pytest.fixture(scope="module")
def columns64():
    """Columns draining south out of the grid: every level is a row of 5 cells, read 8 lanes wide,
    so the last levels' slices are moved back from the end of the cells."""
    with jax.enable_x64(True):
        flwdir = np.full((6, 5), 5.0, dtype=np.float32)
        active = np.ones(flwdir.shape, dtype=np.int32)
        dx = np.full(flwdir.shape, 1000.0, dtype=np.float32)
        graph, _ = build_flow_graph(flwdir, active, dx, dx, _accumulate(flwdir, dx * dx), dtype=np.float64)
        yield graph


def test_lag0_conserves_runoff(graph64):
    n = graph64.nac
    qt = jnp.asarray(np.random.default_rng(3).uniform(0, 2, n))
    step = routing.route_lag0({}, {}, {}, qt, graph64, 3600.0)
    down = np.asarray(graph64.downstream)[:n]
    outlets = np.flatnonzero(down == n)
    np.testing.assert_allclose(np.asarray(step.q)[outlets].sum(), float(qt.sum()), rtol=1e-12)


@pytest.mark.parametrize("mesh", ["graph64", "columns64"])
@pytest.mark.parametrize("name", ["linear", "kw"])
def test_sweep_matches_plain_loop_and_adjoint_matches_numerical(request, mesh, name):
    graph64 = request.getfixturevalue(mesh)
    n = graph64.nac
    rng = np.random.default_rng(4)
    has_up = np.asarray(graph64.has_upstream)[:n]
    if name == "linear":
        local = routing._linear_local
        theta = {"a": np.where(has_up, rng.uniform(0.05, 1.0, n), 0.0), "b": rng.uniform(0.1, 2.0, n)}
    else:
        local = routing._kw_local
        theta = {
            "qt": rng.uniform(0.1, 2.0, n),
            "qt_prev": rng.uniform(0.1, 2.0, n),
            "q_prev": rng.uniform(0.5, 5.0, n),
            "akw": rng.uniform(1.0, 10.0, n),
            "bkw": rng.uniform(0.3, 0.9, n),
            "dt_dx": np.full(n, 3.6),
            "has_upstream": has_up,
        }
    down = np.asarray(graph64.downstream)[:n]
    q_ref, qup_ref = plain_loop(lambda u, th: float(local(jnp.asarray(u), th)), theta, down, n)
    theta_j = {k: jnp.asarray(v) for k, v in theta.items()}
    q, qup = routing.sweep(local, theta_j, graph64)
    np.testing.assert_allclose(q, q_ref, rtol=1e-12)
    np.testing.assert_allclose(qup, qup_ref, rtol=1e-12, atol=1e-14)

    floats = {k: v for k, v in theta_j.items() if v.dtype != bool}
    flags = {k: v for k, v in theta_j.items() if v.dtype == bool}

    def loss(th):
        q, qup = routing.sweep(local, {**th, **flags}, graph64)
        return jnp.sum(jnp.sin(q)) + jnp.sum(qup**2) * 0.1

    check_grads(loss, (floats,), order=1, modes=["rev"], atol=1e-6, rtol=1e-6, eps=1e-6)


@pytest.mark.parametrize("mesh", ["graph64", "columns64"])
def test_doubling_matches_plain_loop_and_its_adjoint_matches_numerical_and_the_sweep(request, mesh):
    graph64 = request.getfixturevalue(mesh)
    n = graph64.nac
    rng = np.random.default_rng(5)
    has_up = np.asarray(graph64.has_upstream)[:n]
    a = np.where(has_up, rng.uniform(0.05, 1.0, n), 0.0)
    theta = {"a": jnp.asarray(a), "b": jnp.asarray(rng.uniform(0.1, 2.0, n))}
    down = np.asarray(graph64.downstream)[:n]
    q_ref, qup_ref = plain_loop(lambda u, th: float(routing._linear_local(u, th)), theta, down, n)
    q, qup = routing.doubling(theta["a"], theta["b"], graph64)
    np.testing.assert_allclose(q, q_ref, rtol=1e-12)
    np.testing.assert_allclose(qup, qup_ref, rtol=1e-12, atol=1e-14)

    def loss(route, th):
        q, qup = route(th)
        return jnp.sum(jnp.sin(q)) + jnp.sum(qup**2) * 0.1

    def by_doubling(th):
        return routing.doubling(th["a"], th["b"], graph64)

    def by_levels(th):
        return routing.sweep(routing._linear_local, th, graph64)

    check_grads(lambda th: loss(by_doubling, th), (theta,), order=1, modes=["rev"], atol=1e-6, rtol=1e-6, eps=1e-6)
    grads = [jax.grad(lambda th, r=r: loss(r, th))(theta) for r in (by_doubling, by_levels)]
    for key in theta:
        np.testing.assert_allclose(grads[0][key], grads[1][key], rtol=1e-12, atol=1e-14)


def test_doubling_covers_the_longest_path_in_the_fewest_rounds(columns64):
    """Six levels (a path of six cells): three rounds carry the first cell's water to the outlet."""
    n = columns64.nac
    assert columns64.n_levels == 6
    jumps = routing._jumps(columns64.downstream[:n], (columns64.n_levels - 1).bit_length())
    assert len(jumps) == 3
    q, _ = routing.doubling(jnp.ones(n), jnp.ones(n), columns64)
    assert float(jnp.max(q)) == 6.0  # each outlet passes on its column's six unit runoffs


def test_linear_routing_method_follows_the_setting(graph64, routing_by_doubling, monkeypatch):
    from hydrograd._process import set_routing_method

    n = graph64.nac
    qt = jnp.asarray(np.random.default_rng(6).uniform(0, 2, n))
    params = {"llr": jnp.full(n, 30.0)}
    states = {"hlr": jnp.full(n, 2.0)}
    calls = []
    doubling = routing.doubling
    monkeypatch.setattr(routing, "doubling", lambda *args: calls.append(1) or doubling(*args))
    doubled = routing.route_lr(params, states, {}, qt, graph64, 3600.0)
    assert routing.doubles_linear_routing() and calls == [1]
    set_routing_method("levels")
    levels = routing.route_lr(params, states, {}, qt, graph64, 3600.0)
    assert not routing.doubles_linear_routing() and calls == [1]
    for a, b in zip(jax.tree_util.tree_leaves(doubled), jax.tree_util.tree_leaves(levels), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    set_routing_method("auto")
    assert routing.doubles_linear_routing() == (jax.default_backend() != "cpu")
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert routing.doubles_linear_routing()
    monkeypatch.setattr(jax, "default_backend", lambda: "cpu")
    assert not routing.doubles_linear_routing()


def test_doubling_under_vmap_over_catchments_matches_each_alone(graph64):
    """As ``ModelBatch`` runs it: graphs and parameters stacked on a leading axis, with gradients."""
    n = graph64.nac
    rng = np.random.default_rng(7)
    has_up = np.asarray(graph64.has_upstream)[:n]
    a = jnp.asarray(np.where(has_up, rng.uniform(0.05, 1.0, (2, n)), 0.0))
    b = jnp.asarray(rng.uniform(0.1, 2.0, (2, n)))
    graphs = jax.tree_util.tree_map(lambda x: jnp.stack([x, x]), graph64)

    def loss(a, b, graph):
        q, qup = routing.doubling(a, b, graph)
        return jnp.sum(jnp.sin(q)) + jnp.sum(qup**2)

    batched = jax.vmap(jax.value_and_grad(loss, argnums=(0, 1)))(a, b, graphs)
    for i in range(2):
        alone = jax.value_and_grad(loss, argnums=(0, 1))(a[i], b[i], graph64)
        for got, expected in zip(jax.tree_util.tree_leaves(batched), jax.tree_util.tree_leaves(alone), strict=True):
            np.testing.assert_allclose(got[i], expected, rtol=1e-13)


def test_doubling_without_any_routed_cell_passes_the_runoff_on():
    """A graph of outlets only (one level) takes no round: every cell's discharge is its ``b``."""
    with jax.enable_x64(True):
        flwdir = np.full((1, 4), 1.0, dtype=np.float32)  # north, out of the grid
        active = np.ones(flwdir.shape, dtype=np.int32)
        dx = np.full(flwdir.shape, 1000.0, dtype=np.float32)
        graph, _ = build_flow_graph(flwdir, active, dx, dx, dx * dx, dtype=np.float64)
        assert graph.n_levels == 1 and routing._jumps(graph.downstream[:4], 0) == []
        b = jnp.arange(1.0, 5.0)
        q, qup = routing.doubling(jnp.zeros(4), b, graph)
        np.testing.assert_array_equal(q, b)
        np.testing.assert_array_equal(qup, np.zeros(4))


def test_level_slices_stay_within_the_cells_and_mark_the_level():
    bucket = routing.Bucket(starts=jnp.array([0, 4, 9]), counts=jnp.array([4, 3, 2]), lanes=jnp.arange(4))
    n = 11
    for i, (start, count) in enumerate([(0, 4), (4, 3), (9, 2)]):
        first, valid = routing._level(bucket, jnp.int32(i), n)
        assert 0 <= int(first) <= n - 4
        cells = int(first) + np.arange(4)
        np.testing.assert_array_equal(cells[np.asarray(valid)], np.arange(start, start + count))
    assert int(routing._level(bucket, jnp.int32(2), n)[0]) == 7  # moved back from 9


def test_sweep_reads_some_level_moved_back(columns64):
    """The sweep tests above run levels whose slice would pass the last cell (the moved-back reads)."""
    n = columns64.nac
    assert max(int(b.lanes.shape[0]) for b in columns64.buckets) <= n
    assert any(int(s) + b.lanes.shape[0] > n for b in columns64.buckets for s in np.asarray(b.starts))
