"""Coordinate reference systems on the ground: scale factors, grid north, a metric CRS for geographic data.

A model sees tiles of a fixed size *on the ground* (tile px x GSD metres). CRS units are not ground
metres in general: in Web Mercator one ground metre is 1/cos(latitude) units, in a UTM zone it is
1/k with k between 0.9996 and ~1.001, in a State Plane CRS it may be feet. ``ground_scale`` measures
how many CRS units one ground metre spans at a point, along x and along y, by projecting a small
step to longitude/latitude and measuring it on the WGS84 ellipsoid (radii of curvature), so it works
for any projection GDAL knows, conformal or not, in any linear unit.

Headings are degrees clockwise from *true* north, but a raster in a projected CRS has *grid* north up:
``grid_convergence_deg`` gives the angle between them at any point (the meridian convergence, about
(lon - central meridian) x sin(lat) in a UTM zone: several degrees at a zone's edge in the north),
measured the same way, from the projection itself, for any CRS.

Everything goes through rasterio's own PROJ. rasterio wheels ship their PROJ database; a
``PROJ_DATA`` pointing at an older system database (needed by Debian's pyproj and GDAL bindings)
makes rasterio's EPSG lookups fail silently (Web Mercator reads back as a LOCAL_CS). Importing this
module points PROJ_DATA at rasterio's own database in that case (see ``_use_rasterio_proj_data``).
"""

from __future__ import annotations

import functools
import math
import os

import numpy as np
import rasterio
from rasterio._err import CPLE_BaseError  # GDAL/PROJ errors (not re-exported by rasterio.errors)
from rasterio.crs import CRS
from rasterio.env import PROJDataFinder, set_proj_data_search_path
from rasterio.warp import transform as warp_transform

from xview_engine.errors import SourceError

_WGS84_A = 6378137.0
_WGS84_F = 1 / 298.257223563
_STEP = 1e-3  # fraction of the reference length used for finite differences
_NORTH_STEP_DEG = 1e-4  # latitude step (about 11 m) of the convergence's central difference


def _use_rasterio_proj_data() -> None:
    """Point PROJ_DATA at rasterio's database when the inherited one is too old for rasterio.

    rasterio re-reads PROJ_DATA every time it starts an environment (every open, every transform,
    in every thread), so only the variable itself fixes it. The wheel's database is newer; Debian's
    PROJ 9.1 (pyproj, osgeo.osr) reads it too, so nothing else in the process is hurt.
    """
    try:
        with rasterio.Env():
            CRS.from_epsg(3857).to_wkt()
        return
    except rasterio.errors.CRSError:
        pass
    wheel_data = PROJDataFinder().search_wheel()
    if wheel_data:
        os.environ["PROJ_DATA"] = wheel_data
        set_proj_data_search_path(wheel_data)


_use_rasterio_proj_data()


def as_crs(crs: str | CRS) -> CRS:
    """A rasterio CRS from WKT, 'EPSG:n', a bare EPSG number or a PROJ string."""
    if isinstance(crs, CRS):
        return crs
    text = str(crs).strip()
    if text.isdigit():
        text = f"EPSG:{text}"
    try:
        return CRS.from_user_input(text)
    except rasterio.errors.CRSError as exc:
        raise SourceError(f"'{text[:80]}' is not a coordinate reference system GDAL knows ({exc})") from None


def crs_label(crs: str | CRS) -> str:
    """'EPSG:32633' when the CRS has a code, else its name; for messages and metadata."""
    return _crs_label(crs if isinstance(crs, str) else crs.to_wkt())


@functools.lru_cache(maxsize=64)
def _crs_label(text: str) -> str:
    """``crs_label`` by text: looking a CRS without a code up in PROJ's database takes ~35 ms each time."""
    crs = as_crs(text)
    epsg = crs.to_epsg()
    if epsg:
        return f"EPSG:{epsg}"
    return f"custom CRS ({crs.to_dict().get('proj') or 'unnamed'})"


def to_lonlat(crs: str | CRS, xs: list[float], ys: list[float]) -> tuple[list[float], list[float]]:
    """Project points of ``crs`` to WGS84 longitude/latitude."""
    lon, lat = warp_transform(as_crs(crs), CRS.from_epsg(4326), list(xs), list(ys))
    return list(lon), list(lat)


def ground_metres(lon0: float, lat0: float, lon1: float, lat1: float) -> float:
    """Length in metres of a short step between two nearby points on the WGS84 ellipsoid.

    The longitude step is unwrapped: 179.999 to -179.999 is 0.002 degrees across the antimeridian,
    not 359.998 the other way round.
    """
    e2 = _WGS84_F * (2 - _WGS84_F)
    phi = math.radians((lat0 + lat1) / 2)
    w = math.sqrt(1 - e2 * math.sin(phi) ** 2)
    radius_meridian = _WGS84_A * (1 - e2) / w**3
    radius_normal = _WGS84_A / w
    north = radius_meridian * math.radians(lat1 - lat0)
    east = radius_normal * math.cos(phi) * math.radians((lon1 - lon0 + 180.0) % 360.0 - 180.0)
    return math.hypot(north, east)


def ground_scale(crs: str | CRS, x: float, y: float, reference: float = 1000.0) -> tuple[float, float]:
    """CRS units per ground metre along x and along y at (x, y) of a projected CRS.

    ``reference`` is a length in CRS units of the order of the area of interest; the finite
    difference step is a thousandth of it (central differences, error ~1e-9 relative).
    """
    crs = as_crs(crs)
    if crs.is_geographic:
        raise SourceError("ground_scale needs a projected CRS; reproject geographic data to a metric CRS first")
    h = reference * _STEP
    try:
        lon, lat = to_lonlat(crs, [x - h, x + h, x, x], [y, y, y - h, y + h])
    except CPLE_BaseError as exc:  # PROJ: "Point outside of projection domain"
        raise SourceError(
            f"the area's centre ({x:.6g}, {y:.6g}) lies outside where {crs_label(crs)} is defined ({exc}); the "
            "raster's georeferencing (its pixel size or origin) is probably wrong, or choose an --extent inside "
            "the CRS's area of use"
        ) from None
    metres_x = ground_metres(lon[0], lat[0], lon[1], lat[1])
    metres_y = ground_metres(lon[2], lat[2], lon[3], lat[3])
    if not (metres_x > 0 and metres_y > 0 and math.isfinite(metres_x + metres_y)):
        raise SourceError(f"cannot measure ground distances at ({x:.1f}, {y:.1f}) in {crs_label(crs)}")
    return 2 * h / metres_x, 2 * h / metres_y


def grid_convergence_deg(crs: str | CRS, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Meridian convergence at points of a projected CRS: degrees clockwise from true north to grid north.

    A direction that is ``a`` degrees clockwise from grid north is ``a + convergence`` from true north.
    Positive east of a UTM zone's central meridian in the northern hemisphere; zero everywhere in
    (Web) Mercator. The sign is PROJ's (``pyproj.Proj.get_factors(...).meridian_convergence``). Measured
    by a central difference: each point is taken to longitude/latitude, stepped north and south along
    its meridian, and projected back; the grid direction of that step is true north (NaN where the CRS
    cannot project the point).
    """
    crs = as_crs(crs)
    xs, ys = np.atleast_1d(np.asarray(xs, np.float64)), np.atleast_1d(np.asarray(ys, np.float64))
    if crs.is_geographic:  # a longitude/latitude grid has its meridians straight up
        return np.zeros(np.broadcast(xs, ys).shape)
    xs, ys = np.broadcast_arrays(xs, ys)
    if xs.size == 0:
        return np.zeros(xs.shape)
    try:
        lon, lat = (np.asarray(v) for v in to_lonlat(crs, xs.ravel().tolist(), ys.ravel().tolist()))
        south, north = np.clip(lat - _NORTH_STEP_DEG, -90, 90), np.clip(lat + _NORTH_STEP_DEG, -90, 90)
        x, y = warp_transform(CRS.from_epsg(4326), crs, np.concatenate([lon, lon]).tolist(),
                              np.concatenate([south, north]).tolist())
    except CPLE_BaseError:
        return np.full(xs.shape, np.nan)
    x, y = np.asarray(x).reshape(2, -1), np.asarray(y).reshape(2, -1)
    with np.errstate(invalid="ignore"):
        convergence = -np.degrees(np.arctan2(x[1] - x[0], y[1] - y[0]))
    return np.where(np.isfinite(convergence), convergence, np.nan).reshape(xs.shape)


def utm_crs_for(lon: float, lat: float) -> CRS:
    """The WGS84 UTM zone containing a point (EPSG:326xx north, 327xx south); polar caps refused."""
    if not -80.0 <= lat <= 84.0:
        raise SourceError(
            f"latitude {lat:.2f} is outside the UTM zones; reproject the raster to a polar stereographic "
            "CRS (e.g. EPSG:3413 or EPSG:3031) before mapping"
        )
    zone = min(int((lon + 180.0) // 6.0) + 1, 60)
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)
