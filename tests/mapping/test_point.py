"""describe_point: the model on the one tile centred at a point, checked against known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from affine import Affine
from mapping_fixtures import CM_X, CM_Y, expected_alpha, mean_colour_model, random_rgb, write_raster

from xview_engine.errors import SourceError
from xview_engine.mapping.point import describe_point, point_grid
from xview_engine.model.runtime import load_runtime
from xview_engine.raster.source import RasterioSource


@pytest.fixture
def rgb_and_runtime(tmp_path):
    data = random_rgb(tmp_path / "rgb.tif")  # 64 x 48 px at 10 m, CRS units = ground metres
    runtime = load_runtime(mean_colour_model(tmp_path / "m.safetensors", gsd_m=10.0), "torch", "cpu")
    source = RasterioSource(tmp_path / "rgb.tif", 3, runtime.manifest.input.bands)
    yield data, source, runtime
    source.close()


def test_the_tile_centred_on_the_point_gives_the_known_answer(rgb_and_runtime):
    data, source, runtime = rgb_and_runtime
    x, y = CM_X + 24 * 10.0, CM_Y - 20 * 10.0  # a pixel corner: the tile is pixels [12:28, 16:32]
    summary = describe_point(source, runtime, x, y, top_n=2)
    alpha = expected_alpha(data[:, 12:28, 16:32].mean(axis=(1, 2)).astype(np.float64))
    prob = alpha / alpha.sum()
    colour, counts = summary.heads
    assert (colour.head, colour.measure, counts.measure) == ("colour", "probability", "expected count")
    bands = ("red", "green", "blue")
    assert [name for name, _ in colour.top] == [bands[i] for i in np.argsort(-prob)[:2]]
    np.testing.assert_allclose([v for _, v in colour.top], np.sort(prob)[::-1][:2], atol=1e-4)
    np.testing.assert_allclose(sorted(v for _, v in counts.top), np.sort(alpha)[1:], atol=1e-4)
    assert colour.concentration == pytest.approx(alpha.sum(), abs=3e-4) and counts.concentration is None
    assert (summary.x, summary.y, summary.footprint_m) == (pytest.approx(x), pytest.approx(y), 160.0)
    assert summary.as_dict()["heads"][0]["top"][0][0] == colour.top[0][0]


def test_points_outside_or_without_data_are_refused(rgb_and_runtime, tmp_path):
    _, source, runtime = rgb_and_runtime
    with pytest.raises(SourceError, match="outside the raster"):
        describe_point(source, runtime, CM_X - 5.0, CM_Y - 100.0)
    with pytest.raises(SourceError, match="less than half"):
        describe_point(source, runtime, CM_X + 1.0, CM_Y - 1.0)  # a corner: three quarters of the tile outside
    half = np.full((3, 48, 64), 200, np.uint8)
    half[:, :, :32] = 0  # the west half is nodata
    write_raster(tmp_path / "half.tif", half, "EPSG:32633", Affine(10, 0, CM_X, 0, -10, CM_Y), nodata=0)
    blank = RasterioSource(tmp_path / "half.tif", 3, runtime.manifest.input.bands)
    try:
        assert describe_point(blank, runtime, CM_X + 480.0, CM_Y - 240.0).heads
        with pytest.raises(SourceError, match="less than half"):
            describe_point(blank, runtime, CM_X + 160.0, CM_Y - 240.0)
    finally:
        blank.close()


def test_web_mercator_tile_is_footprint_over_cos_latitude():
    class Mercator:  # only crs and bounds are needed to lay the grid
        crs = "EPSG:3857"
        bounds = (0.0, 6_000_000.0, 100_000.0, 7_500_000.0)

    y = 7_000_000.0
    lat = math.degrees(2 * math.atan(math.exp(y / 6378137.0)) - math.pi / 2)
    grid = point_grid(Mercator(), 224, 0.5, 50_000.0, y)
    assert grid.count == 1 and (grid.x0, grid.y0) == (pytest.approx(50_000.0), pytest.approx(y))
    assert grid.tile_size_xy[0] == pytest.approx(112.0 / math.cos(math.radians(lat)), rel=3e-3)  # ellipsoid


def test_a_time_aware_model_answers_at_the_time_given_as_its_map_does(tmp_path):
    """The point at a time is the map made at that time (``xview map --time``), read at the same tile."""
    import rasterio
    from mapping_fixtures import TRUE_METRES_CRS
    from time_fixtures import SNOW, tiny_time_model

    from xview_engine.mapping.map import MapParams, run_map
    from xview_engine.model.time_features import parse_time

    data = np.random.default_rng(5).integers(0, 256, (3, 64, 80), dtype=np.uint8)
    raster = write_raster(tmp_path / "rgb.tif", data, TRUE_METRES_CRS, Affine(2.0, 0, CM_X, 0, -2.0, CM_Y))
    model = tiny_time_model(tmp_path)
    runtime = load_runtime(model, "torch", "cpu")
    winter, summer = "2026-01-15T08:00", "2026-07-15T08:00"
    run_map(MapParams(raster=str(raster), model=str(model), out_dir=str(tmp_path / "map"), head="snow",
                      products=("prob",), time=winter, device="cpu"))
    with rasterio.open(tmp_path / "map" / "snow_prob.tif") as ds:
        row, col = ds.height // 2, ds.width // 2
        x, y = ds.xy(row, col)  # the centre of that output pixel is the centre of its tile
        mapped = ds.read()[:, row, col]
    with RasterioSource(raster, 3, runtime.manifest.input.bands) as source:
        with pytest.raises(SourceError, match="choose the time"):
            describe_point(source, runtime, x, y)
        at_winter = describe_point(source, runtime, x, y, when=parse_time(winter))
        at_summer = describe_point(source, runtime, x, y, when=parse_time(summer))
    snow = next(h for h in at_winter.heads if h.head == "snow")
    np.testing.assert_allclose([dict(snow.top)[name] for name in SNOW], mapped, atol=1e-5)
    assert at_winter.time == winter and at_winter.as_dict()["time"] == winter
    summer_snow = dict(next(h for h in at_summer.heads if h.head == "snow").top)
    assert not np.allclose([summer_snow[name] for name in SNOW], mapped, atol=1e-5)  # the time matters
