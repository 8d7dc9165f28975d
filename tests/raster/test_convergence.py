"""Grid north vs true north: the meridian convergence against PROJ's own and an independent difference."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import CRS, Proj, Transformer

from xview_engine.raster.crs import grid_convergence_deg

OBLIQUE = ("+proj=omerc +lat_0=46.5 +lonc=9 +alpha=35 +gamma=10 +k=1 +x_0=0 +y_0=0 +ellps=WGS84 +units=m "
           "+no_defs")  # an oblique Mercator whose grid is turned against the meridians


def _points(crs: str, lonlat: list[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    to_crs = Transformer.from_crs("EPSG:4326", CRS.from_user_input(crs), always_xy=True)
    return to_crs.transform(*np.array(lonlat, np.float64).T)


def _pyproj_difference(crs: str, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """An independent reference: the grid direction of a 1 m northward step, by pyproj's transformer."""
    to_crs = Transformer.from_crs("EPSG:4326", CRS.from_user_input(crs), always_xy=True)
    x0, y0 = to_crs.transform(lon, lat)
    x1, y1 = to_crs.transform(lon, lat + 1e-5)
    return -np.degrees(np.arctan2(x1 - x0, y1 - y0))


@pytest.mark.parametrize(("crs", "lonlat", "at_least"), [
    ("EPSG:32633", [(20.5, 60.0), (20.9, 70.0), (9.5, 50.0), (15.0, 45.0), (16.4, 43.5)], 4.0),  # UTM 33N, CM 15
    ("EPSG:32733", [(19.5, -34.0), (10.5, -20.0)], 2.5),  # UTM 33S: the sign turns with the hemisphere
    ("EPSG:2056", [(7.0, 46.2), (10.3, 47.5)], 1.0),  # Swiss LV95: oblique Mercator
    (OBLIQUE, [(9.0, 46.5), (12.0, 48.0), (6.0, 44.0)], 10.0),  # a rotated grid: tens of degrees
])
def test_convergence_matches_proj_and_a_pyproj_difference(crs, lonlat, at_least):
    x, y = _points(crs, lonlat)
    found = grid_convergence_deg(crs, x, y)
    lon, lat = np.array(lonlat).T
    proj = Proj(CRS.from_user_input(crs)).get_factors(lon, lat).meridian_convergence
    np.testing.assert_allclose(found, proj, atol=1e-4)
    np.testing.assert_allclose(found, _pyproj_difference(crs, lon, lat), atol=1e-4)
    assert np.abs(found).max() >= at_least  # far from the central line the two norths differ by degrees


def test_utm_convergence_is_the_textbook_value_and_zero_on_the_central_meridian():
    """UTM 33N at 20.5 E, 60 N: gamma ~ (lon - 15) sin(lat) = 4.76 degrees (first order), grid north east
    of true north; on the central meridian it is zero."""
    x, y = _points("EPSG:32633", [(20.5, 60.0), (15.0, 60.0), (9.5, 60.0)])
    found = grid_convergence_deg("EPSG:32633", x, y)
    assert found[0] == pytest.approx(5.5 * np.sin(np.radians(60.0)), abs=0.05) and found[0] > 4.5
    assert found[1] == pytest.approx(0.0, abs=1e-6) and found[2] == pytest.approx(-found[0], abs=1e-6)


def test_mercator_and_geographic_grids_have_no_convergence():
    x, y = _points("EPSG:3857", [(20.5, 60.0), (-120.0, -40.0), (0.0, 0.0)])
    np.testing.assert_allclose(grid_convergence_deg("EPSG:3857", x, y), 0.0, atol=1e-7)
    np.testing.assert_array_equal(grid_convergence_deg("EPSG:4326", [10.0, 20.0], [50.0, 60.0]), [0.0, 0.0])


def test_shapes_scalars_and_empty_input():
    x, y = _points("EPSG:32633", [(20.5, 60.0)] * 6)
    grid = grid_convergence_deg("EPSG:32633", np.reshape(x, (2, 3)), np.reshape(y, (2, 3)))
    assert grid.shape == (2, 3) and np.allclose(grid, grid[0, 0])
    assert grid_convergence_deg("EPSG:32633", float(x[0]), float(y[0])).shape == (1,)
    assert grid_convergence_deg("EPSG:32633", [], []).shape == (0,)
