"""Property-based tests: random and malformed input thrown at the public API.

The only exceptions allowed to escape are ValueError, TypeError, KeyError and FileNotFoundError,
each with a message; an input that is accepted must give finite outputs. One small model (the
six-cell catchment of ``tests._tiny``) serves every example, so examples vary values, not shapes,
and JAX compiles a handful of times for the whole module. Example counts are bounded so the
module runs in about a minute on two cores.
"""

from __future__ import annotations

import datetime
import importlib
import string
import warnings

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import rasterio
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from rasterio.transform import Affine

import hydrograd as smash
from hydrograd.config.run_options import RETURN_OPTIONS
from hydrograd.config.setup import DEFAULT_SETUP
from hydrograd.core.parameters import RR_PARAMETERS, RR_STATES, SERR_MU_MAPPINGS, SERR_SIGMA_MAPPINGS
from hydrograd.core.registry import HYDROLOGICAL_MODULES, ROUTING_MODULES
from hydrograd.factory.dataset import DATASET_NAMES
from hydrograd.mesh.graph import catchment_masks
from hydrograd.mesh.validate import VALID_KEYS
from hydrograd.optimizers import MAPPINGS as MAPPING_ROWS
from hydrograd.optimizers import OPTIMIZERS as OPTIMIZER_ROWS
from hydrograd.preprocess.atmos_stats import mean_atmos_per_gauge
from tests._tiny import tiny_mesh, tiny_setup

MAPPINGS = list(MAPPING_ROWS)
OPTIMIZERS = list(OPTIMIZER_ROWS)
ALLOWED = (ValueError, TypeError, KeyError, FileNotFoundError)
calibration_run = importlib.import_module("hydrograd.calibration.run")
SETTINGS = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}
NTIME = 48


def clean_call(function, *args, **kwargs):
    """``function(...)``, or None when it raised an allowed exception with a message; any other
    exception escapes and fails the test."""
    try:
        return function(*args, **kwargs)
    except ALLOWED as error:
        assert str(error).strip(), f"{type(error).__name__} without a message"
        return None


# ------------------------------------------------------------------------------ strategies

NAMES = st.text(alphabet=string.ascii_letters + string.digits + "_-. ", max_size=12)

ODD_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    NAMES,
    st.binary(max_size=6),
    st.complex_numbers(max_magnitude=1e9),
    st.dates(min_value=datetime.date(1900, 1, 1), max_value=datetime.date(2100, 1, 1)),
    st.builds(object),
)

# One branch, not nine, when given to ``st.one_of`` (which flattens nested ``one_of``s).
ODD_SCALAR = ODD_SCALARS.map(lambda value: value)

ODD_ARRAYS = hnp.arrays(
    dtype=st.one_of(hnp.floating_dtypes(), hnp.integer_dtypes(), hnp.boolean_dtypes(), hnp.unicode_string_dtypes()),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
)

ODD_VALUES = st.recursive(
    st.one_of(ODD_SCALARS, ODD_ARRAYS),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(NAMES, inner, max_size=3),
    ),
    max_leaves=8,
)


def near(names) -> st.SearchStrategy[str]:
    """Valid names and misspellings of them (a letter dropped, doubled or capitalised)."""
    names = sorted(str(n) for n in names)

    def misspell(name: str, i: int, how: int) -> str:
        i %= max(len(name), 1)
        return [name[:i] + name[i + 1 :], name[:i] + name[i : i + 1] * 2 + name[i + 1 :], name.upper()][how]

    return st.one_of(
        st.sampled_from(names),
        st.builds(misspell, st.sampled_from(names), st.integers(0, 30), st.integers(0, 2)),
        NAMES,
    )


def options(valid: dict[str, st.SearchStrategy], max_keys: int = 3) -> st.SearchStrategy:
    """Option dicts of up to ``max_keys`` keys, mostly valid with values mostly valid for their key;
    sometimes an odd value, a misspelled or unknown key, or not a dict at all."""
    item = st.sampled_from(sorted(valid)).flatmap(
        lambda key: st.tuples(st.just(key), weighted({valid[key]: 5, ODD_VALUES: 1}))
    )
    good = st.lists(item, max_size=max_keys).map(dict)
    odd = st.builds(lambda d, kv: {**d, kv[0]: kv[1]}, good, st.tuples(near(valid), ODD_VALUES))
    return weighted({good: 7, odd: 1, ODD_SCALAR: 1, st.none(): 1})


def weighted(choices: dict[st.SearchStrategy, int]) -> st.SearchStrategy:
    """Draw from each strategy with the given relative weight."""
    pool = [strategy for strategy, weight in choices.items() for _ in range(weight)]
    return st.sampled_from(range(len(pool))).flatmap(lambda i: pool[i])


def outcome(result) -> None:
    """Record in hypothesis' statistics whether the input was accepted."""
    event("accepted" if result is not None else "refused")


HOURS = st.datetimes(datetime.datetime(2020, 1, 1, 1), datetime.datetime(2020, 1, 2, 23)).map(
    lambda d: d.strftime("%Y-%m-%d %H:00")
)


# ------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def model():
    """The tiny catchment with rain, evapotranspiration and observations (simulated plus 20%)."""
    m = smash.Model(tiny_setup(NTIME), tiny_mesh(), verbose=False)
    rng = np.random.default_rng(0)
    m.atmos_data.prcp[...] = rng.gamma(0.4, 8.0, m.atmos_data.prcp.shape)
    m.atmos_data.prcp[..., 10] = 300.0
    m.atmos_data.pet[...] = 0.2
    m.atmos_data.mean_prcp = mean_atmos_per_gauge(m.atmos_data.prcp, catchment_masks(m.mesh.flwdir, m.mesh.gauge_pos))
    m.atmos_data.mean_pet = mean_atmos_per_gauge(m.atmos_data.pet, catchment_masks(m.mesh.flwdir, m.mesh.gauge_pos))
    m.forward_run(common_options={"verbose": False})
    m.response_data.q[...] = 1.2 * m.response.q + 0.01
    return m


@pytest.fixture(scope="module")
def hybrid():
    return smash.Model(tiny_setup(NTIME, hydrological_module="gr4_mlp", hidden_neuron=5), tiny_mesh(), verbose=False)


# --------------------------------------------------------------------------- setup and mesh


@pytest.fixture(scope="module")
def empty_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("empty"))


def _setup_values(empty: str) -> dict[str, st.SearchStrategy]:
    """Valid values for each setup key (input folders: an empty one, or one that does not exist)."""
    folders = st.sampled_from([empty, empty, None, "/nonexistent/hydrograd"])
    valid: dict[str, st.SearchStrategy] = {
        "snow_module": st.just("zero"),
        "hydrological_module": st.sampled_from(sorted(HYDROLOGICAL_MODULES)),
        "routing_module": st.sampled_from(sorted(ROUTING_MODULES)),
        "hidden_neuron": st.one_of(st.integers(1, 32), st.lists(st.integers(1, 16), min_size=1, max_size=3)),
        "serr_mu_mapping": st.sampled_from(list(SERR_MU_MAPPINGS)),
        "serr_sigma_mapping": st.sampled_from(list(SERR_SIGMA_MAPPINGS)),
        "dt": st.sampled_from([900, 1800.0, 3600, 86400]),
        "start_time": HOURS,
        "end_time": HOURS,
        "descriptor_name": st.lists(st.sampled_from(["slope", "dd"]), min_size=1, max_size=2),
        "descriptor_tfm": st.sampled_from(["standardize", "normalize", "keep"]),
        "imperviousness_file": folders,
    }
    for key, default in DEFAULT_SETUP.items():
        if key.endswith("_directory"):
            valid[key] = folders
        elif isinstance(default, bool):
            valid[key] = st.booleans()
        elif key.endswith("_format"):
            valid[key] = st.sampled_from(["tif", "tif", "nc"])
        elif key.endswith("_conversion_factor"):
            valid[key] = st.floats(0.1, 10.0)
        elif key.endswith("_access"):
            valid[key] = st.sampled_from(["", "%Y", "%Y/%m"])
    return valid


@settings(max_examples=200, **SETTINGS)
@given(data=st.data())
def test_malformed_setups_are_refused_cleanly(empty_dir, data):
    changes = data.draw(options(_setup_values(empty_dir)))
    setup = {**tiny_setup(NTIME), **changes} if isinstance(changes, dict) else changes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        built = clean_call(smash.Model, setup, tiny_mesh(), verbose=False)
    outcome(built)
    if built is not None:
        assert built.setup.ntime_step >= 1 and built.mesh.nac == 6


def _retyped(value: object, how: int) -> object:
    """The same mesh value in another accepted form: a list, a wider dtype, a numpy scalar."""
    if isinstance(value, np.ndarray) and value.dtype.kind in "iuf":
        return [value.tolist(), value.astype(np.float64), value.astype(np.int64) if value.dtype.kind == "i" else value][
            how
        ]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, int):
        return np.int64(value)
    return value


def _mesh_change(draw) -> tuple[str, object]:
    key = draw(near(VALID_KEYS))
    value = draw(
        weighted(
            {
                ODD_VALUES: 2,
                hnp.arrays(np.float64, (2, 3), elements=st.floats(-1e9, 1e9) | st.sampled_from([np.nan, np.inf])): 1,
                hnp.arrays(np.int32, (2, 3), elements=st.integers(-3, 10)): 1,
                hnp.arrays(np.int64, st.sampled_from([(1, 2), (2, 2), (1,)]), elements=st.integers(-2, 4)): 1,
                st.integers(-2, 8): 1,
            }
        )
    )
    return key, value


@settings(max_examples=300, **SETTINGS)
@given(data=st.data())
def test_malformed_meshes_are_refused_cleanly(data):
    mesh = tiny_mesh()
    for key in data.draw(st.lists(st.sampled_from(sorted(mesh)), max_size=4, unique=True)):
        mesh[key] = _retyped(mesh[key], data.draw(st.integers(0, 2)))
    for _ in range(data.draw(st.integers(0, 2))):
        key, value = _mesh_change(data.draw)
        if data.draw(st.booleans()) and key in mesh:
            del mesh[key]
        else:
            mesh[key] = value
    built = clean_call(smash.Model, tiny_setup(NTIME), mesh, verbose=False)
    outcome(built)
    if built is not None:
        assert built.mesh.nac == int(np.sum(built.mesh.active_cell))


# ------------------------------------------------------------------------------ options


COMPONENTS = st.sampled_from(["nse", "nnse", "kge", "mae", "mape", "mse", "rmse", "lgrm", "Crc", "Cfp50", "Eff", "Epf"])
COST_OPTIONS = {
    "jobs_cmpt": st.one_of(COMPONENTS, st.lists(COMPONENTS, min_size=1, max_size=3)),
    "wjobs_cmpt": st.one_of(st.just("mean"), st.lists(st.floats(0.0, 2.0), min_size=1, max_size=3)),
    "jobs_cmpt_tfm": st.one_of(st.sampled_from(["keep", "sqrt", "inv"]), st.lists(st.just("keep"), max_size=3)),
    "end_warmup": HOURS,
    "gauge": st.sampled_from(["all", "dws", "G1", ["G1"]]),
    "wgauge": st.one_of(st.sampled_from(["mean", "uniform", "median", "lquartile"]), st.just([1.0])),
    "event_seg": st.fixed_dictionaries(
        {},
        optional={
            "peak_quant": st.floats(0.0, 1.0),
            "peak_value": st.floats(0.0, 10.0),
            "max_duration": st.floats(1.0, 500.0),
        },
    ),
}
COMMON_OPTIONS_VALID = {"verbose": st.just(False), "ncpu": st.integers(1, 4)}


def _return_options(func: str) -> dict[str, st.SearchStrategy]:
    valid = {k: st.booleans() for k in RETURN_OPTIONS[func] if k != "time_step"}
    valid["time_step"] = st.one_of(st.just("all"), HOURS, st.lists(HOURS, min_size=1, max_size=3))
    return valid


@settings(max_examples=200, **SETTINGS)
@given(
    cost=options(COST_OPTIONS),
    common=options(COMMON_OPTIONS_VALID),
    returns=options(_return_options("forward_run")),
)
def test_forward_run_options_are_refused_cleanly_and_accepted_runs_are_finite(model, cost, common, returns):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = clean_call(smash.forward_run, model, cost, common, returns)
    outcome(result)
    if result is None:
        return
    new, ret = result if isinstance(result, tuple) else (result, None)
    assert np.isfinite(new.response.q).all()
    for value in vars(ret).values() if ret is not None else ():
        if isinstance(value, float) and not np.isfinite(value):
            assert caught, "a non-finite cost without a warning"


class _ReachedError(Exception):
    """Raised in place of the optimizer: every check has passed."""


OPTIMIZE_OPTIONS = {
    "parameters": st.lists(st.sampled_from(["cp", "ct", "kexc", "llr", "hp", "ht", "hlr"]), min_size=1, max_size=4),
    "bounds": st.dictionaries(
        st.sampled_from(["cp", "ct", "kexc", "CP", "hp"]), st.tuples(st.floats(-60.0, 50.0), st.floats(0.5, 2000.0))
    ),
    "control_tfm": st.sampled_from(["sbs", "normalize", "keep"]),
    "termination_crit": st.fixed_dictionaries(
        {}, optional={"maxiter": st.integers(0, 5), "factr": st.floats(1.0, 1e7), "early_stopping": st.integers(0, 3)}
    ),
    "learning_rate": st.floats(1e-4, 1.0),
    "random_state": st.integers(0, 100),
}
REGULARIZATION = {
    "wjreg": st.floats(0.0, 1.0),
    "jreg_cmpt": st.sampled_from(["prior", "smoothing", ["prior", "smoothing"]]),
    "wjreg_cmpt": st.just("mean"),
}


@settings(max_examples=200, **SETTINGS)
@given(
    mapping=weighted({st.sampled_from(MAPPINGS): 6, near(MAPPINGS): 1, ODD_SCALAR: 1}),
    optimizer=weighted({st.none(): 3, st.sampled_from(OPTIMIZERS): 3, near(OPTIMIZERS): 1, ODD_SCALAR: 1}),
    options_=options(OPTIMIZE_OPTIONS),
    cost=options({**COST_OPTIONS, **REGULARIZATION}),
    returns=options(_return_options("optimize")),
    callback=st.sampled_from([None, 3, lambda iopt: None, lambda x: None, lambda **kwargs: None]),
)
def test_optimize_checks_everything_before_any_work(
    model, monkeypatch, mapping, optimizer, options_, cost, returns, callback
):
    def reached(*args, **kwargs):
        raise _ReachedError

    monkeypatch.setattr(calibration_run, "_minimize", reached)
    m = model.copy()
    before = m.rr_parameters.values.copy()
    reached = False
    try:
        clean_call(m.optimize, mapping, optimizer, options_, cost, {"verbose": False}, returns, callback)
    except _ReachedError:
        reached = True
    event("reached the optimizer" if reached else "refused")
    np.testing.assert_array_equal(m.rr_parameters.values, before)


# --------------------------------------------------------------------- parameters and states


def _in_wide_bounds(name: str, table) -> st.SearchStrategy[float]:
    """Values across the default bounds widened tenfold, inside the feasible domain."""
    low, high = table[name].bounds
    f_low, f_high = table[name].feasible
    lo = max(low / 10 if low > 0 else low * 10, f_low)
    hi = min(high * 10 if high > 0 else high / 10, f_high)
    return st.floats(min_value=lo, max_value=hi, allow_nan=False, exclude_min=f_low == lo, exclude_max=f_high == hi)


@settings(max_examples=150, **SETTINGS)
@given(data=st.data())
def test_set_parameters_refuses_bad_values_and_accepted_values_run_finite(model, data):
    m = model.copy()
    for _ in range(data.draw(st.integers(1, 3))):
        kind = data.draw(st.sampled_from(["rr_parameter", "rr_initial_state"]))
        keys, table, setter = (
            (m.rr_parameters.keys, RR_PARAMETERS, m.set_rr_parameters)
            if kind == "rr_parameter"
            else (m.rr_initial_states.keys, RR_STATES, m.set_rr_initial_states)
        )
        key = data.draw(st.one_of(near(keys), ODD_SCALAR))
        valid = isinstance(key, str) and key.lower() in [str(k) for k in keys]
        value = data.draw(
            st.one_of(
                ODD_VALUES,
                _in_wide_bounds(key.lower(), table) if valid else st.floats(),
                hnp.arrays(np.float32, (2, 3), elements=_in_wide_bounds(key.lower(), table)) if valid else ODD_ARRAYS,
                hnp.arrays(np.float64, (2, 3), elements=st.floats(allow_nan=True, allow_infinity=True)),
            )
        )
        clean_call(setter, key, value)
    m.forward_run(common_options={"verbose": False})
    assert np.isfinite(m.response.q).all()
    for key in m.rr_final_states.keys:
        assert np.isfinite(m.get_rr_final_states(str(key))).all()
    clean_call(m.get_rr_parameters, data.draw(st.one_of(near(m.rr_parameters.keys), ODD_SCALAR)))


@settings(max_examples=80, **SETTINGS)
@given(data=st.data())
def test_network_setters_refuse_bad_values_and_accepted_networks_run_finite(hybrid, data):
    m = hybrid.copy()
    shapes = [w.shape for w in m.get_nn_parameters_weight()]
    finite_arrays = st.tuples(*(hnp.arrays(np.float32, s, elements=st.floats(-1e3, 1e3, width=32)) for s in shapes))
    value = data.draw(st.one_of(st.none(), ODD_VALUES, finite_arrays.map(list)))
    clean_call(
        m.set_nn_parameters_weight,
        value,
        data.draw(st.one_of(st.just("glorot_uniform"), near(["uniform", "he_normal", "zeros"]), ODD_SCALAR)),
        data.draw(st.one_of(st.none(), st.integers(-5, 2**33), ODD_SCALAR)),
    )
    clean_call(m.set_nn_parameters_bias, data.draw(ODD_VALUES))
    m.forward_run(common_options={"verbose": False})
    assert np.isfinite(m.response.q).all()


# ----------------------------------------------------------------------------- evaluation


@settings(max_examples=150, **SETTINGS)
@given(
    metric=st.one_of(near(["nse", "kge", "mae", "mape", "mse", "rmse", "lgrm", "nnse"]), ODD_VALUES),
    start=st.one_of(st.none(), st.sampled_from(["2020-01-01", "2020-01-01 12:00", "2020-01-03"]), ODD_SCALAR),
    end=st.one_of(st.none(), st.sampled_from(["2020-01-02", "2020-01-02 23:00", "2019-12-31"]), ODD_SCALAR),
)
def test_evaluation_refuses_bad_arguments_and_is_finite_otherwise(model, metric, start, end):
    values = clean_call(smash.evaluation, model, metric, start, end)
    if values is not None:
        assert values.shape[0] == 1 and np.isfinite(values).all()


@settings(max_examples=100, **SETTINGS)
@given(
    sign=st.one_of(st.none(), near(["Crc", "Cfp50", "Eff", "Elt"]), ODD_VALUES),
    domain=st.one_of(st.sampled_from(["obs", "sim"]), ODD_SCALAR),
    peak=st.one_of(st.floats(allow_nan=True, allow_infinity=True), ODD_SCALAR),
    gauge=st.one_of(st.sampled_from(["all", "dws", "G1", ["G1"]]), ODD_VALUES),
)
def test_signal_functions_refuse_bad_arguments_cleanly(model, sign, domain, peak, gauge):
    clean_call(smash.signatures, model, sign, gauge, None, domain)
    clean_call(smash.hydrograph_segmentation, model, gauge, peak_quant=peak, by=domain)


# ---------------------------------------------------------------------------- Net builder


def _modest(value) -> bool:
    """No number in ``value`` above 4096 in magnitude. ``Net`` refuses a layer whose training would
    not fit in memory, but one just below that limit is valid and would be allocated (gigabytes),
    and an input grid is only limited by the data; the net-building calls draw odd values without
    them."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.ndarray | list | tuple | dict):
        return True
    if isinstance(value, int | float):
        return not abs(value) > 4096
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "iuf" or value.size == 0:
            return True
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            return not np.nanmax(np.abs(value.astype(np.float64))) > 4096
    items = value.values() if isinstance(value, dict) else value
    return all(_modest(item) for item in items)


LAYER_SIZE = st.one_of(st.integers(-2, 6), ODD_SCALAR.filter(_modest))
LAYER_SHAPE = ODD_VALUES.filter(_modest)

LAYER_CALLS = st.one_of(
    st.tuples(st.just("add_dense"), LAYER_SIZE, st.one_of(st.integers(1, 5), LAYER_SHAPE)),
    st.tuples(st.just("add_activation"), near(["relu", "sigmoid", "tanh", "softmax", "elu"]), st.none()),
    st.tuples(st.just("add_dropout"), st.one_of(st.floats(-1, 2), st.just(np.nan), ODD_SCALAR), st.none()),
    st.tuples(st.just("add_scale"), st.one_of(st.just([(0.0, 1.0)]), ODD_VALUES), st.none()),
    st.tuples(st.just("add_flatten"), st.none(), st.none()),
    st.tuples(st.just("add_conv2d"), LAYER_SIZE, st.one_of(st.integers(0, 3), LAYER_SHAPE)),
)


@settings(max_examples=150, **SETTINGS)
@given(calls=st.lists(LAYER_CALLS, min_size=1, max_size=5), seed=st.one_of(st.integers(0, 10), ODD_SCALAR))
def test_net_building_refuses_bad_calls_and_built_nets_are_finite(calls, seed):
    net = smash.factory.Net()
    for method, first, second in calls:
        if method == "add_dense":
            clean_call(net.add_dense, first, input_shape=None if net.layers else second)
        elif method == "add_conv2d":
            clean_call(net.add_conv2d, first, second, input_shape=None if net.layers else (4, 4, 2))
        elif method in ("add_flatten",):
            clean_call(net.add_flatten)
        else:
            clean_call(getattr(net, method), first)
    if clean_call(net.initialize, seed) is None and seed is not None:
        return
    if not net.layers:
        return
    shape = net.layers[0].input_shape
    out = clean_call(net.forward_pass, np.linspace(-3.0, 3.0, int(np.prod(shape))).reshape(shape))
    if out is not None:
        assert np.isfinite(out).all()


# ------------------------------------------------------------------------------------ files


@settings(max_examples=100, **SETTINGS)
@given(
    content=st.binary(max_size=300), cut=st.floats(0.0, 1.0), kind=st.sampled_from(["mesh", "model", "net", "setup"])
)
def test_readers_refuse_damaged_files_cleanly(model, tmp_path_factory, content, cut, kind):
    folder = tmp_path_factory.mktemp("damaged")
    valid = folder / "valid.hdf5"
    {
        "mesh": lambda: smash.io.save_mesh(tiny_mesh(), valid),
        "model": lambda: smash.io.save_model(model, valid),
        "net": lambda: smash.io.save_net(_small_net(), valid),
        "setup": lambda: smash.io.save_setup(tiny_setup(), valid),
    }[kind]()
    data = valid.read_bytes()
    damaged = folder / "damaged.hdf5"
    damaged.write_bytes(data[: int(cut * len(data))] + content)
    reader = {"mesh": smash.io.read_mesh, "model": smash.io.read_model, "net": smash.io.read_net}.get(
        kind, smash.io.read_setup
    )
    clean_call(reader, damaged)
    clean_call(reader, folder / "missing.hdf5")


def _tiny_raster(path, values: np.ndarray) -> None:
    """A GeoTIFF over the tiny catchment's grid (2 x 3 cells of 1 km from (0, 2000))."""
    profile = {"driver": "GTiff", "height": 2, "width": 3, "count": 1, "dtype": "float32"}
    with rasterio.open(path, "w", transform=Affine(1000.0, 0.0, 0.0, 0.0, -1000.0, 2000.0), **profile) as ds:
        ds.write(values.astype(np.float32), 1)


@settings(max_examples=100, **SETTINGS)
@given(
    content=st.binary(max_size=300),
    cut=st.floats(0.0, 1.0),
    flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 255)), max_size=4),
    kind=st.sampled_from(["prcp", "pet", "descriptor"]),
)
def test_raster_readers_refuse_damaged_files_cleanly(tmp_path_factory, content, cut, flips, kind):
    """A damaged GeoTIFF among a model's forcing or descriptors: read (garbage in, garbage out) or
    a ValueError naming the file, never another exception."""
    folder = tmp_path_factory.mktemp("raster")
    valid = folder / "valid.tif"
    _tiny_raster(valid, np.arange(6.0).reshape(2, 3) + 1.0)
    data = bytearray(valid.read_bytes())
    for where, byte in flips:
        data[int(where * (len(data) - 1))] = byte
    valid.unlink()
    name = "slope.tif" if kind == "descriptor" else "forcing_202001010100.tif"
    (folder / name).write_bytes(bytes(data[: int(cut * len(data))]) + content)
    directory = {f"{kind}_directory": str(folder), f"read_{kind}": True}
    if kind == "descriptor":
        directory.update(descriptor_name=["slope"], descriptor_tfm="keep")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            smash.Model(tiny_setup(2, **directory), tiny_mesh(), verbose=False)
    except ValueError as error:
        assert name in str(error), error


def _small_net() -> smash.factory.Net:
    net = smash.factory.Net()
    net.add_dense(3, input_shape=2, activation="relu")
    net.add_dense(1, activation="sigmoid")
    net.initialize(0)
    return net


@settings(max_examples=100, **SETTINGS)
@given(setup=st.dictionaries(near(DEFAULT_SETUP), ODD_VALUES, max_size=4), path=st.one_of(NAMES, ODD_SCALAR))
def test_writers_refuse_unsavable_values_and_bad_paths_cleanly(tmp_path_factory, setup, path):
    folder = tmp_path_factory.mktemp("written")
    target = folder / path if isinstance(path, str) and path.strip(". ") else path
    clean_call(smash.io.save_setup, setup, target)
    clean_call(smash.io.save_mesh, {**tiny_mesh(), **setup}, target)
    clean_call(smash.io.save_net, setup, target)


@settings(max_examples=50, **SETTINGS)
@given(name=st.one_of(NAMES, ODD_SCALAR))
def test_load_dataset_refuses_unknown_names_cleanly(name):
    assume(not (isinstance(name, str) and name.lower() in {n.lower() for n in DATASET_NAMES}))
    clean_call(smash.factory.load_dataset, name)


@pytest.fixture(scope="module")
def flwdir_raster(tmp_path_factory) -> str:
    """A 12 x 10 flow-direction raster of 1 km cells, x in [500, 510] km, y in [6488, 6500] km."""
    from tests.mesh.test_generate import random_tree_raster, write_raster

    path = tmp_path_factory.mktemp("raster") / "flwdir.tif"
    return str(write_raster(path, random_tree_raster(np.random.default_rng(0), 12, 10)))


COORDINATE = st.floats(499_000.0, 511_000.0)
NORTHING = st.floats(6_487_000.0, 6_501_000.0)


@settings(max_examples=60, **SETTINGS)
@given(
    x=weighted({COORDINATE: 3, st.lists(COORDINATE, min_size=1, max_size=3): 2, ODD_VALUES: 1}),
    y=weighted({NORTHING: 3, st.lists(NORTHING, min_size=1, max_size=3): 2, ODD_VALUES: 1}),
    area=weighted({st.floats(1e6, 5e7): 3, st.lists(st.floats(-1e6, 5e7), min_size=1, max_size=3): 2, ODD_VALUES: 1}),
    bbox=weighted({st.none(): 3, st.tuples(COORDINATE, COORDINATE, NORTHING, NORTHING): 2, ODD_VALUES: 1}),
    code=weighted({st.none(): 3, st.lists(NAMES, min_size=1, max_size=3): 1, ODD_VALUES: 1}),
    max_depth=weighted({st.integers(0, 3): 3, ODD_SCALAR: 1}),
)
def test_generate_mesh_refuses_bad_arguments_and_its_meshes_are_valid(flwdir_raster, x, y, area, bbox, code, max_depth):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mesh = clean_call(smash.factory.generate_mesh, flwdir_raster, bbox, x, y, area, code, max_depth=max_depth)
    outcome(mesh)
    if mesh is not None and mesh.get("ng", 0) > 0:
        smash.Model(tiny_setup(NTIME), mesh, verbose=False)
