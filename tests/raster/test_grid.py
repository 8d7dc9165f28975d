"""Tile grids on the ground: counts, centring, stride snapping, scale factors, refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from mapping_fixtures import CM_X, CM_Y, TRUE_METRES_CRS
from rasterio.warp import transform

from xview_engine.errors import SourceError, TilingError
from xview_engine.raster import crs as geo
from xview_engine.raster.grid import make_grid


def test_grid_centred_tiles_inside_extent():
    extent = (CM_X, CM_Y - 480, CM_X + 640, CM_Y)
    grid = make_grid(extent, TRUE_METRES_CRS, tile_px=16, gsd_m=10.0)
    assert (grid.rows, grid.cols, grid.count) == (5, 7, 35)
    assert grid.stride_m == 80 and grid.footprint_m == 160
    sx, sy = grid.stride_xy
    assert sx == pytest.approx(80, rel=1e-7) and sy == pytest.approx(80, rel=1e-7)
    assert grid.x0 == pytest.approx(CM_X + 80, abs=1e-4)
    assert grid.y0 == pytest.approx(CM_Y - 80, abs=1e-4)
    a, b, c, d, e, f = grid.transform
    assert (b, d) == (0, 0) and a == sx and e == -sy
    assert c == pytest.approx(grid.x0 - sx / 2) and f == pytest.approx(grid.y0 + sy / 2)


def test_strip_covers_the_row_of_tiles():
    grid = make_grid((CM_X, CM_Y - 480, CM_X + 640, CM_Y), TRUE_METRES_CRS, tile_px=16, gsd_m=10.0)
    bounds, shape = grid.strip(1, 2, 5)
    assert shape == (16, 2 * 8 + 16)
    assert bounds[0] == pytest.approx(CM_X + 160, abs=1e-4)
    assert bounds[2] - bounds[0] == pytest.approx(320, abs=1e-4)
    assert bounds[3] == pytest.approx(CM_Y - 80, abs=1e-4)


def test_stride_and_overlap_snap_to_model_pixels():
    extent = (CM_X, CM_Y - 1000, CM_X + 1000, CM_Y)
    assert make_grid(extent, TRUE_METRES_CRS, 16, 10.0, stride_m=37).stride_px == 4
    assert make_grid(extent, TRUE_METRES_CRS, 16, 10.0, overlap=0.75).stride_m == 40
    assert make_grid(extent, TRUE_METRES_CRS, 16, 10.0, overlap=0).stride_m == 160
    assert make_grid(extent, TRUE_METRES_CRS, 16, 10.0, stride_m=5).stride_px == 1  # half a pixel rounds up


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"stride_m": 10, "overlap": 0.5}, "either --stride-m or --overlap"),
        ({"overlap": 1.0}, "fraction"),
        ({"stride_m": -3}, "positive"),
        ({"stride_m": 10, "max_tiles": 50}, "raise it with --max-tiles"),
        ({"stride_m": 4.9}, r"stride 4.9 m is finer than one model pixel \(10 m\); use --stride-m 10 or more"),
    ],
)
def test_bad_tiling_requests_refused(kwargs, match):
    with pytest.raises(TilingError, match=match):
        make_grid((CM_X, CM_Y - 1000, CM_X + 1000, CM_Y), TRUE_METRES_CRS, 16, 10.0, **kwargs)


def test_absurd_tile_count_refused_without_work():
    # Geo-SAM's 27 billion tiles: a 2 cm model over a 100 km extent
    with pytest.raises(TilingError, match=r"would run [\d,]+ tiles"):
        make_grid((0, 0, 100_000, 100_000), "EPSG:32633", 224, 0.02)


def test_extent_smaller_than_a_tile_refused():
    with pytest.raises(TilingError, match="smaller than one tile"):
        make_grid((CM_X, CM_Y - 100, CM_X + 100, CM_Y), TRUE_METRES_CRS, 16, 10.0)


def test_web_mercator_tiles_are_footprint_over_cos_latitude():
    (x,), (y,) = transform("EPSG:4326", "EPSG:3857", [10.0], [53.0])
    grid = make_grid((x - 5000, y - 5000, x + 5000, y + 5000), "EPSG:3857", 224, 0.5)
    expected = 1 / math.cos(math.radians(53.0))
    assert grid.scale_x == pytest.approx(expected, rel=3e-3)  # ellipsoid vs sphere differ by < 0.3 %
    assert grid.scale_y == pytest.approx(expected, rel=3e-3)
    assert grid.tile_size_xy[0] == pytest.approx(112 * grid.scale_x)


def test_ground_scale_matches_pyproj_factors():
    pyproj = pytest.importorskip("pyproj")
    try:
        factors = pyproj.Proj(pyproj.CRS.from_epsg(32633)).get_factors(12.0, 52.0)
    except pyproj.exceptions.CRSError:
        pytest.skip("pyproj has no usable PROJ database here (set PROJ_DATA)")
    (x,), (y,) = transform("EPSG:4326", "EPSG:32633", [12.0], [52.0])
    kx, ky = geo.ground_scale("EPSG:32633", x, y)
    assert kx == pytest.approx(factors.parallel_scale, rel=1e-6)  # map units per ground metre = k
    assert ky == pytest.approx(factors.meridional_scale, rel=1e-6)


def test_feet_crs_scale():
    (x,), (y,) = transform("EPSG:4326", "EPSG:2263", [-74.0], [40.7])
    kx, _ = geo.ground_scale("EPSG:2263", x, y)
    assert kx == pytest.approx(1 / 0.3048006096, rel=1e-3)


def test_geographic_crs_needs_a_metric_one():
    with pytest.raises(SourceError, match="projected"):
        geo.ground_scale("EPSG:4326", 10, 50)


def test_utm_zone_choice():
    assert geo.utm_crs_for(15.5, 52.0).to_epsg() == 32633
    assert geo.utm_crs_for(-77.0, -10.0).to_epsg() == 32718
    with pytest.raises(SourceError, match="polar"):
        geo.utm_crs_for(0, 88)


def test_centres_of_a_row():
    grid = make_grid((CM_X, CM_Y - 480, CM_X + 640, CM_Y), TRUE_METRES_CRS, 16, 10.0)
    xs, y = grid.centres(2, 1, 4)
    np.testing.assert_allclose(xs, CM_X + 80 + 80 * np.arange(1, 4), atol=1e-4)
    assert y == pytest.approx(CM_Y - 80 - 160, abs=1e-4)
