"""Tile grids: where the model looks, defined on the ground, and the output raster they make.

A model sees square tiles of ``tile_px`` pixels at ``gsd_m`` metres: a footprint of tile_px x gsd_m
*ground* metres whatever the source resolution. A ``TileGrid`` lays tile centres over an extent with
a stride (default half a footprint), converting ground metres to CRS units with the ground scale
factor at the extent centre (1/cos(latitude) in Web Mercator, ~0.9996 in UTM, 3.28 in US feet).

The stride is snapped to a whole number of model pixels so that every tile of a row can be cut out
of one strip read at the model's GSD; the snapped stride is what the output pixel size reports.
Tiles lie wholly inside the extent and the grid is centred in it. One output pixel per tile centre:
pixel size = stride, origin = first tile centre minus half a stride.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from xview_engine.errors import TilingError
from xview_engine.limits import DEFAULT_MAX_TILES, MAX_STRIDE_M
from xview_engine.raster import crs as geo

Bounds = tuple[float, float, float, float]
_EPS = 1e-9


@dataclass(frozen=True)
class TileGrid:
    """Tile centres over an extent of a projected CRS; see the module docstring."""

    crs: str
    x0: float  # centre of the first (westmost) column, CRS units
    y0: float  # centre of the first (northmost) row, CRS units
    rows: int
    cols: int
    tile_px: int
    stride_px: int
    gsd_m: float
    scale_x: float  # CRS units per ground metre along x, at the extent centre
    scale_y: float

    @property
    def count(self) -> int:
        return self.rows * self.cols

    @property
    def footprint_m(self) -> float:
        return self.tile_px * self.gsd_m

    @property
    def stride_m(self) -> float:
        return self.stride_px * self.gsd_m

    @property
    def stride_xy(self) -> tuple[float, float]:
        """Stride in CRS units along x and y (= output pixel size)."""
        return self.stride_m * self.scale_x, self.stride_m * self.scale_y

    @property
    def tile_size_xy(self) -> tuple[float, float]:
        """Tile footprint in CRS units along x and y."""
        return self.footprint_m * self.scale_x, self.footprint_m * self.scale_y

    @property
    def transform(self) -> tuple[float, float, float, float, float, float]:
        """Output geotransform as affine (a, b, c, d, e, f): one pixel per tile centre."""
        sx, sy = self.stride_xy
        return (sx, 0.0, self.x0 - sx / 2, 0.0, -sy, self.y0 + sy / 2)

    def centres(self, row: int, col0: int = 0, col1: Optional[int] = None) -> tuple[np.ndarray, float]:
        """x of the tile centres of ``row`` from ``col0`` to ``col1`` (exclusive), and the row's y."""
        col1 = self.cols if col1 is None else col1
        sx, sy = self.stride_xy
        return self.x0 + np.arange(col0, col1) * sx, self.y0 - row * sy

    def strip(self, row: int, col0: int, col1: int) -> tuple[Bounds, tuple[int, int]]:
        """Bounds and pixel shape of one read covering tiles ``col0:col1`` of ``row`` at the model GSD.

        Tile ``col`` is the pixel columns ``(col - col0) * stride_px`` + [0, tile_px) of the strip.
        """
        return self.block(row, row + 1, col0, col1)

    def block(self, row0: int, row1: int, col0: int, col1: int) -> tuple[Bounds, tuple[int, int]]:
        """``strip`` for rows ``row0:row1``: row ``r``'s strip is its pixel rows ``(r - row0) * stride_px`` + [0, t)."""
        sx, sy = self.stride_xy
        tw, th = self.tile_size_xy
        xs, y = self.centres(row0, col0, col0 + 1)
        left = float(xs[0]) - tw / 2
        right = left + (col1 - col0 - 1) * sx + tw
        top, bottom = y + th / 2, (y - (row1 - row0 - 1) * sy) - th / 2  # one row: exactly y -+ th / 2
        shape = ((row1 - row0 - 1) * self.stride_px + self.tile_px, (col1 - col0 - 1) * self.stride_px + self.tile_px)
        return (left, bottom, right, top), shape

    def describe(self) -> dict[str, Any]:
        """Plain metadata for products.json."""
        return {
            "crs": geo.crs_label(self.crs),
            "crs_wkt": self.crs,
            "rows": self.rows,
            "cols": self.cols,
            "tiles": self.count,
            "tile_px": self.tile_px,
            "gsd_m": self.gsd_m,
            "footprint_m": self.footprint_m,
            "stride_m": self.stride_m,
            "stride_crs_units": list(self.stride_xy),
            "ground_scale_crs_units_per_metre": [self.scale_x, self.scale_y],
            "first_tile_centre": [self.x0, self.y0],
            "transform": list(self.transform),
        }


def make_grid(extent: Bounds, crs: str, tile_px: int, gsd_m: float, stride_m: Optional[float] = None,
              overlap: Optional[float] = None, max_tiles: int = DEFAULT_MAX_TILES) -> TileGrid:
    """Lay tiles over ``extent`` (CRS units); refuses an extent smaller than a tile or too many tiles."""
    footprint = tile_px * gsd_m
    stride_px = _stride_px(footprint, gsd_m, stride_m, overlap)
    stride = stride_px * gsd_m
    xmin, ymin, xmax, ymax = extent
    if not (xmax > xmin and ymax > ymin):
        raise TilingError(f"extent {_fmt(extent)} is empty; give xmin,ymin,xmax,ymax with xmin < xmax and ymin < ymax")
    kx, ky = geo.ground_scale(crs, (xmin + xmax) / 2, (ymin + ymax) / 2, reference=max(xmax - xmin, ymax - ymin))
    width_m, height_m = (xmax - xmin) / kx, (ymax - ymin) / ky
    if width_m < footprint * (1 - 1e-6) or height_m < footprint * (1 - 1e-6):
        raise TilingError(
            f"the extent is {width_m:.4g} m x {height_m:.4g} m on the ground, smaller than one tile "
            f"({footprint:.4g} m = {tile_px} px x {gsd_m:g} m); choose a larger extent or a model with a finer GSD"
        )
    cols = math.floor((width_m - footprint) / stride + 1e-6) + 1
    rows = math.floor((height_m - footprint) / stride + 1e-6) + 1
    if rows * cols > max_tiles:
        raise TilingError(
            f"this would run {rows * cols:,} tiles ({rows:,} rows x {cols:,} columns at a {stride:g} m stride "
            f"over {width_m:,.0f} m x {height_m:,.0f} m); the limit is {max_tiles:,}: raise it with --max-tiles, "
            "use a larger --stride-m or a smaller --extent"
        )
    x0 = (xmin + xmax) / 2 - (cols - 1) * stride * kx / 2
    y0 = (ymin + ymax) / 2 + (rows - 1) * stride * ky / 2
    return TileGrid(crs, x0, y0, rows, cols, tile_px, stride_px, gsd_m, kx, ky)


def _stride_px(footprint: float, gsd_m: float, stride_m: Optional[float], overlap: Optional[float]) -> int:
    if stride_m is not None and overlap is not None:
        raise TilingError("give either --stride-m or --overlap, not both")
    if overlap is not None:
        if not 0 <= overlap < 1:
            raise TilingError(f"--overlap {overlap} must be a fraction of the tile in [0, 1), e.g. 0.5")
        stride_m = footprint * (1 - overlap)
    if stride_m is None:
        stride_m = footprint / 2
    if not (math.isfinite(stride_m) and 0 < stride_m <= MAX_STRIDE_M):
        raise TilingError(f"--stride-m {stride_m:g} must be a positive number of metres, at most {MAX_STRIDE_M:,.0f}")
    if stride_m < gsd_m / 2:  # would round to zero model pixels: finer than the model can see
        raise TilingError(
            f"stride {stride_m:g} m is finer than one model pixel ({gsd_m:g} m); use --stride-m {gsd_m:g} or more"
        )
    return max(1, round(stride_m / gsd_m))  # round() halves to even: 0.5 pixel would give 0


def _fmt(extent: Bounds) -> str:
    return ",".join(f"{v:g}" for v in extent)
