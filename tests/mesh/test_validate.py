"""validate_mesh: accepted meshes, converted dtypes, and one clear error per broken key."""

from __future__ import annotations

import re

import numpy as np
import pytest

from hydrograd.formats.mesh import read_mesh
from hydrograd.mesh.generate import generate_mesh
from hydrograd.mesh.validate import validate_mesh
from tests.mesh.test_generate import gauges


@pytest.fixture(scope="module")
def lez_mesh(lez_dir) -> dict:
    return read_mesh(lez_dir / "mesh_Lez.hdf5")


@pytest.fixture
def mesh(lez_mesh) -> dict:
    return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in lez_mesh.items()}


def test_smash_mesh_passes_and_is_converted(mesh):
    out = validate_mesh(mesh)
    assert out is not mesh
    assert sorted(out) == sorted(mesh)
    for key in ("nrow", "ncol", "nac", "ng", "npar", "epsg"):
        assert type(out[key]) is int
    for key in ("xmin", "ymax", "xres", "yres"):
        assert type(out[key]) is float
    for key in ("dx", "dy", "flwacc", "flwdst", "area", "area_dln"):
        assert out[key].dtype == np.float32, key
    for key in ("flwdir", "active_cell", "flwpar", "gauge_pos", "ncpar", "cscpar", "cpar_to_rowcol"):
        assert out[key].dtype == np.int32, key
    assert out["code"].dtype.kind == "U"
    np.testing.assert_array_equal(out["flwdir"], mesh["flwdir"])
    assert mesh["flwdir"].dtype == np.float32  # input left alone


def test_mesh_without_gauges_gets_empty_gauge_arrays(mesh):
    for key in ("gauge_pos", "code", "area", "area_dln", "flwdst"):
        del mesh[key]
    mesh["ng"] = 0
    out = validate_mesh(mesh)
    assert out["gauge_pos"].shape == (0, 2) and out["gauge_pos"].dtype == np.int32
    assert out["code"].shape == (0,) and out["area"].shape == (0,)
    assert out["area_dln"].shape == (0,) and out["area_dln"].dtype == np.float32


def test_byte_codes_are_decoded(mesh):
    mesh["code"] = mesh["code"].astype("S")
    assert validate_mesh(mesh)["code"].tolist() == ["Y3204040", "Y3204030", "Y3204010"]


def test_missing_key_suggests_the_misspelt_one(mesh):
    mesh["flowdir"] = mesh.pop("flwdir")
    with pytest.raises(ValueError, match=r"missing the required key 'flwdir'.*'flowdir'.*Did you mean 'flwdir'"):
        validate_mesh(mesh)


def test_unknown_key_is_rejected(mesh):
    mesh["flwdist"] = mesh["flwdst"]
    with pytest.raises(ValueError, match=r"unknown key 'flwdist'\. Did you mean 'flwdst'"):
        validate_mesh(mesh)


def test_gauge_pos_shape_message(mesh):
    mesh["gauge_pos"] = mesh["gauge_pos"][:2]
    expected = "mesh key 'gauge_pos' must have shape (ng, 2) = (3, 2), got (2, 2)"
    with pytest.raises(ValueError, match=re.escape(expected)):
        validate_mesh(mesh)


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (lambda m: m.update(nrow="27"), TypeError, "'nrow' must be an integer"),
        (lambda m: m.update(ng=True), TypeError, "'ng' must be an integer"),
        (lambda m: m.update(xres=-1.0), ValueError, "'xres' must be > 0"),
        (lambda m: m.update(nac=171), ValueError, "'nac' .171. must equal the number of active cells .172."),
        (
            lambda m: m.update(dx=m["dx"][:, :3]),
            ValueError,
            r"'dx' must have shape \(nrow, ncol\) = \(27, 14\)",
        ),
        (lambda m: m.update(flwacc=m["flwacc"].astype(str)), TypeError, "'flwacc' must hold numbers"),
        (lambda m: m["flwdir"].__setitem__((26, 12), 0), ValueError, r"D8 codes 1\.\.8 .*row 26, col 12"),
        (lambda m: m["flwdir"].__setitem__((0, 7), 2.5), ValueError, "'flwdir' must hold whole numbers"),
        (lambda m: m["active_cell"].__setitem__((0, 0), 2), ValueError, "only 0 and 1"),
        (lambda m: m["dy"].__setitem__((26, 12), 0), ValueError, "'dy' must be finite and > 0"),
        (lambda m: m["gauge_pos"].__setitem__((0, 0), 27), ValueError, "outside the grid"),
        (
            lambda m: m["gauge_pos"].__setitem__((1, 1), 0),
            ValueError,
            "gauge 1 .'Y3204030'.* not on an active",
        ),
        (lambda m: m["area"].__setitem__(0, 0), ValueError, "'area' must be finite and > 0"),
        (lambda m: m.update(code=m["code"][:1]), ValueError, r"'code' must have shape \(ng,\) = \(3,\)"),
        (
            lambda m: m.update(ncpar=m["ncpar"][:-1]),
            ValueError,
            r"'ncpar' must have shape \(npar,\) = \(28,\)",
        ),
        (lambda m: m.update(cpar_to_rowcol=m["cpar_to_rowcol"][:5]), ValueError, r"\(nrow \* ncol, 2\)"),
        (lambda m: m.pop("npar"), ValueError, "'ncpar' needs the key 'npar'"),
    ],
)
def test_broken_meshes(mesh, change, error, message):
    change(mesh)
    with pytest.raises(error, match=message):
        validate_mesh(mesh)


def test_not_a_dict():
    with pytest.raises(TypeError, match="mesh must be a dict"):
        validate_mesh([("nrow", 1)])


def test_generated_masked_mesh_validates_as_its_file(france_flwdir, lez_dir, lez_mesh):
    """generate_mesh's masked arrays count for their underlying data: the flow directions and the
    -99 flow distances off the catchments, as in smash's file of the same mesh."""
    generated = generate_mesh(france_flwdir, **gauges(lez_dir))
    assert isinstance(generated["flwdir"], np.ma.MaskedArray)
    ours, reference = validate_mesh(generated), validate_mesh(lez_mesh)
    assert sorted(ours) == sorted(reference)
    for key, expected in reference.items():
        assert type(ours[key]) is type(expected), key
        assert np.asarray(ours[key]).dtype == np.asarray(expected).dtype, key
        np.testing.assert_array_equal(ours[key], expected, err_msg=key)
    inactive = reference["active_cell"] == 0
    assert (ours["flwdst"][inactive] == -99).all() and ours["flwdir"][inactive].min() >= 1


def test_mask_is_ignored(mesh):
    data = mesh["flwdir"].copy()
    mesh["flwdir"] = np.ma.masked_array(data, mask=np.ones(data.shape, dtype=bool))
    mesh["flwacc"] = np.ma.masked_array(mesh["flwacc"], mask=mesh["active_cell"] == 1)
    out = validate_mesh(mesh)
    assert type(out["flwdir"]) is np.ndarray and type(out["flwacc"]) is np.ndarray
    np.testing.assert_array_equal(out["flwdir"], data)
