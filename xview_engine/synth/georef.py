"""Where a synthetic world sits on Earth: a real projected CRS, real coordinates, true north.

Pixels are square *on the ground* (``gsd`` metres). In a CRS whose unit is not a ground metre
(feet, or Web Mercator, where a unit is cos(latitude) ground metres) the pixel size in CRS units
is scaled by the projection's scale factor at the world's centre.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from affine import Affine
from pyproj import CRS, Proj, Transformer
from pyproj.exceptions import CRSError

from xview_engine.errors import SynthError
from xview_engine.raster.crs import grid_convergence_deg
from xview_engine.synth.params import DEFAULT_ANCHOR_LONLAT, SynthParams


@dataclass(frozen=True)
class Georef:
    crs: CRS
    transform: Affine  # raster (col, row) -> CRS (x, y)
    north_grid_deg: float  # grid azimuth of true north at the centre (clockwise, degrees): minus the convergence

    def xy(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """CRS coordinates of fractional raster positions (row, col)."""
        t = self.transform
        rows, cols = np.asarray(rows, float), np.asarray(cols, float)
        return t.a * cols + t.b * rows + t.c, t.d * cols + t.e * rows + t.f

    def lonlat(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """WGS84 longitude and latitude of raster positions."""
        to_wgs84 = Transformer.from_crs(self.crs, "EPSG:4326", always_xy=True)
        return to_wgs84.transform(*self.xy(rows, cols))


def resolve_crs(text: str) -> CRS:
    """A projected CRS from user text (``EPSG:32633``, ``32633``), or a one-line SynthError."""
    match = re.fullmatch(r"(?:EPSG:)?(\d+)", str(text).strip(), flags=re.IGNORECASE)
    try:
        if match is None:
            raise CRSError(text)
        crs = CRS.from_epsg(int(match.group(1)))
    except CRSError as exc:
        raise SynthError(f"--crs {text}: unknown coordinate reference system; give a projected EPSG code "
                         "such as EPSG:32633") from exc
    if not crs.is_projected:
        raise SynthError(f"--crs {text} ({crs.name}) is geographic; a synthetic world needs a projected CRS "
                         "in metres or feet, e.g. a UTM zone such as EPSG:32633")
    return crs


def _anchor(crs: CRS) -> tuple[float, float]:
    """The default coast near Split if the CRS covers it, else the centre of the CRS's area of use."""
    area = crs.area_of_use
    lon, lat = DEFAULT_ANCHOR_LONLAT
    if area is None or (area.west <= lon <= area.east and area.south <= lat <= area.north):
        return lon, lat
    east = area.east if area.east >= area.west else area.east + 360
    lon = ((area.west + east) / 2 + 180) % 360 - 180
    return lon, float(np.clip((area.south + area.north) / 2, -80, 80))


def make_georef(p: SynthParams) -> Georef:
    crs = resolve_crs(p.crs)
    lon, lat = _anchor(crs)
    to_crs = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    cx, cy = to_crs.transform(lon, lat)
    north = -float(grid_convergence_deg(crs.to_wkt(), cx, cy)[0]) if np.isfinite(cx + cy) else np.nan
    if not np.all(np.isfinite([cx, cy, north])):
        raise SynthError(f"--crs {p.crs}: cannot place a world in it (projection failed at {lon:.2f}, {lat:.2f})")
    factors = Proj(crs).get_factors(lon, lat)
    unit = crs.axis_info[0].unit_conversion_factor or 1.0
    scale = float(np.sqrt(factors.areal_scale)) if np.isfinite(factors.areal_scale) else 1.0
    res = p.gsd * scale / unit
    half = p.size_px * res / 2
    transform = Affine(res, 0.0, round(cx - half, 2), 0.0, -res, round(cy + half, 2))
    return Georef(crs=crs, transform=transform, north_grid_deg=north)
