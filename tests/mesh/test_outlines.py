"""generate_mesh(shp_path=...): catchments delineated against their outlines (contour-based rule)."""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas
import numpy as np
import pytest
import rasterio.features
import shapely
from rasterio.transform import Affine
from shapely.geometry import box, shape

from hydrograd.mesh.generate import generate_mesh
from tests.mesh._reference import CANCE, assert_same_as_smash, smash_generate_mesh
from tests.mesh.test_generate import funnel

# the 3 x 3 funnel of tests.mesh.test_generate, and a gauge on its middle cell (4 km2 drained)
FUNNEL_OUTLINE = box(502_000, 6_495_000, 505_000, 6_498_000)
MIDDLE = {"x": 503_500.0, "y": 6_496_500.0, "area": 4e6, "code": "F1"}


def write_outlines(path: Path, codes: list, geometries: list, crs: str | None = "EPSG:2154") -> Path:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="'crs' was not provided")
        geopandas.GeoDataFrame({"code": codes}, geometry=geometries, crs=crs).to_file(path)
    return path


def outline_of(mesh: dict) -> shapely.Geometry:
    """The union of the active cells of a mesh, as one polygon (raster units)."""
    transform = Affine(mesh["xres"], 0.0, mesh["xmin"], 0.0, -mesh["yres"], mesh["ymax"])
    active = mesh["active_cell"].astype(np.uint8)
    pieces = rasterio.features.shapes(active, mask=active == 1, transform=transform)
    return shapely.union_all([shape(geometry) for geometry, _ in pieces])


@pytest.fixture(scope="module")
def cance_outlines(tmp_path_factory, france_flwdir) -> dict[str, Path]:
    """Outlines of the three Cance catchments as smash delineates them one by one, in a shapefile
    and a GeoPackage (Lambert-93, the raster's system), plus the same grown by 700 m."""
    folder = tmp_path_factory.mktemp("outlines")
    catchments = []
    for x, y, area, code in zip(*CANCE.values(), strict=True):
        mesh = smash_generate_mesh(str(france_flwdir), x=x, y=y, area=area, code=code)
        catchments.append(outline_of(mesh))
    return {
        "shp": write_outlines(folder / "cance.shp", CANCE["code"], catchments),
        "gpkg": write_outlines(folder / "cance.gpkg", CANCE["code"], catchments),
        "grown": write_outlines(folder / "grown.gpkg", CANCE["code"], [c.buffer(700) for c in catchments]),
    }


@pytest.mark.parity
@pytest.mark.parametrize(
    ("outlines", "scale", "max_depth"),
    [("shp", 1.0, 1), ("gpkg", 1.0, 1), ("shp", 1.6, 2), ("grown", 1.0, 2), ("grown", 0.6, 3)],
)
def test_contour_based_matches_smash(france_flwdir, cance_outlines, outlines, scale, max_depth):
    gauges = {**CANCE, "area": [a * scale for a in CANCE["area"]]}
    path = cance_outlines[outlines]
    mesh = generate_mesh(france_flwdir, **gauges, shp_path=path, max_depth=max_depth)
    expected = smash_generate_mesh(str(france_flwdir), **gauges, shp_path=str(path), max_depth=max_depth)
    assert_same_as_smash(mesh, expected)
    if scale != 1.0:  # wrong areas: the outlines, not the areas, decide the outlets
        area_based = generate_mesh(france_flwdir, **gauges, max_depth=max_depth)
        assert mesh["gauge_pos"].tolist() != area_based["gauge_pos"].tolist()


@pytest.mark.parity
def test_codes_without_outline_use_the_area_based_rule_as_smash(france_flwdir, cance_outlines):
    smash = pytest.importorskip("smash")
    gauges = {k: [*v, extra] for (k, v), extra in zip(CANCE.items(), (830_000, 6_460_000, 5e6, "other"), strict=True)}
    path = str(cance_outlines["gpkg"])
    message = r"Missing shapefile geometry for the code: \['other'\]. The area-based method will be used"
    with pytest.warns(UserWarning, match=message):
        mesh = generate_mesh(france_flwdir, **gauges, shp_path=path)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        with pytest.warns(UserWarning, match=message):
            expected = smash.factory.generate_mesh(str(france_flwdir), **gauges, shp_path=path)
    assert_same_as_smash(mesh, expected)


def test_outline_decides_the_outlet_by_hand(tmp_path):
    path = funnel(tmp_path)
    area_based = generate_mesh(path, **MIDDLE)
    assert (area_based["nac"], area_based["gauge_pos"].tolist()) == (4, [[1, 1]])
    # the outline covers the whole funnel: its outlet, one cell down, matches it exactly
    outlines = write_outlines(tmp_path / "funnel.shp", ["F1"], [FUNNEL_OUTLINE])
    mesh = generate_mesh(path, **MIDDLE, shp_path=outlines)
    assert (mesh["nac"], mesh["gauge_pos"].tolist(), mesh["area_dln"].tolist()) == (9, [[2, 1]], [9e6])
    assert mesh["area"].tolist() == [4e6]
    # a cell whose centre lies outside the outline is not burnt: a sliver changes nothing
    sliver = write_outlines(tmp_path / "sliver.gpkg", ["F1"], [FUNNEL_OUTLINE.buffer(400, join_style="mitre")])
    assert generate_mesh(path, **MIDDLE, shp_path=sliver)["gauge_pos"].tolist() == [[2, 1]]


def test_numeric_code_field_and_missing_crs(tmp_path):
    path = funnel(tmp_path)
    outlines = write_outlines(tmp_path / "numeric.gpkg", [7], [FUNNEL_OUTLINE], crs=None)
    mesh = generate_mesh(path, **{**MIDDLE, "code": "7"}, shp_path=outlines)
    assert mesh["nac"] == 9


def test_shp_path_errors(tmp_path):
    path = funnel(tmp_path)
    with pytest.raises(TypeError, match=r"shp_path argument must be of FilePath type .* got int"):
        generate_mesh(path, **MIDDLE, shp_path=3)
    with pytest.raises(FileNotFoundError, match=r"absent\.shp"):
        generate_mesh(path, **MIDDLE, shp_path=tmp_path / "absent.shp")
    no_code = tmp_path / "no_code.gpkg"
    geopandas.GeoDataFrame({"name": ["F1"]}, geometry=[FUNNEL_OUTLINE], crs="EPSG:2154").to_file(no_code)
    with pytest.raises(ValueError, match=r"Shapefile must contain at least a 'code' column; .*\['name'\]"):
        generate_mesh(path, **MIDDLE, shp_path=no_code)
    not_vector = tmp_path / "notes.shp"
    not_vector.write_text("not a shapefile")
    with pytest.raises(ValueError, match=r"shp_path .*notes\.shp. is not a vector file"):
        generate_mesh(path, **MIDDLE, shp_path=not_vector)
    degrees = write_outlines(tmp_path / "wgs84.gpkg", ["F1"], [box(2.0, 46.0, 2.1, 46.1)], crs="EPSG:4326")
    with pytest.raises(ValueError, match=r"coordinate reference system .*4326.*reproject"):
        generate_mesh(path, **MIDDLE, shp_path=degrees)
    outlines = write_outlines(tmp_path / "funnel.shp", ["F1"], [FUNNEL_OUTLINE])
    with pytest.raises(ValueError, match="shp_path needs the gauges"):
        generate_mesh(path, bbox=[500_000, 507_000, 6_493_000, 6_500_000], shp_path=outlines)
