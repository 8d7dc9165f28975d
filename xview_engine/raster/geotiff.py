"""GeoTIFF writing for grid products: one pixel per tile centre, written a row of tiles at a time.

Files are tiled and deflate-compressed (level 1, blocks compressed on all cores; COG-like layout;
overviews only when the raster is big enough to need them), carry one description per band
(``head:product:class``), a nodata value, and for class-index rasters the class names as GDAL
category names. GeoTIFF has no tag for category names, so they go in the standard ``.aux.xml``
sidecar, which GDAL, QGIS and rasterio read. The caller writes to temporary paths
(``xview_engine.outputs.atomic_output``) and renames at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional
from xml.sax.saxutils import escape

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.windows import Window

from xview_engine.raster.grid import TileGrid

FLOAT_NODATA = -9999.0
BLOCK = 256
OVERVIEW_MIN_PX = 1024  # rasters smaller than this on both sides get no overviews


@dataclass(frozen=True)
class RasterSpec:
    """What one output raster holds: band descriptions, data type, nodata, optional class names."""

    descriptions: tuple[str, ...]
    dtype: str = "float32"
    nodata: float = FLOAT_NODATA
    category_names: Optional[tuple[str, ...]] = None
    tags: dict[str, str] = field(default_factory=dict)  # GDAL metadata of the dataset
    colour_interp: tuple[str, ...] = ()  # e.g. ('red', 'green', 'blue'): QGIS then opens it as an RGB layer
    band_tags: tuple[dict[str, str], ...] = ()  # GDAL metadata per band (a time-aware map: each band's time)

    @property
    def count(self) -> int:
        return len(self.descriptions)


class GridRasterWriter:
    """A GeoTIFF shaped like ``grid`` at ``path``; ``write_row`` takes (cols, bands) with NaN = nodata."""

    def __init__(self, path: str | Path, grid: TileGrid, spec: RasterSpec):
        self.path, self.grid, self.spec = Path(path), grid, spec
        integer = np.issubdtype(np.dtype(spec.dtype), np.integer)
        profile = {
            "driver": "GTiff", "width": grid.cols, "height": grid.rows, "count": spec.count,
            "dtype": spec.dtype, "nodata": spec.nodata, "crs": grid.crs, "transform": Affine(*grid.transform),
            "tiled": True, "blockxsize": BLOCK, "blockysize": BLOCK, "compress": "deflate",
            "predictor": 2 if integer else 3, "BIGTIFF": "IF_SAFER",
            # deflate level 1 on every core: half the time of the default level 6, 1-2 % larger files
            "zlevel": 1, "num_threads": "ALL_CPUS",
            "interleave": "band" if spec.count > 1 else "pixel",
        }
        self._ds = rasterio.open(self.path, "w", **profile)
        self._block: Optional[np.ndarray] = None  # the block row of the file being filled, (bands, rows, cols)
        self._block_row = -1
        self._ds.update_tags(**spec.tags)
        for i, text in enumerate(spec.descriptions, 1):
            self._ds.set_band_description(i, text)
        for i, tags in enumerate(spec.band_tags, 1):
            self._ds.update_tags(i, **tags)
        if spec.colour_interp:
            from rasterio.enums import ColorInterp

            self._ds.colorinterp = [ColorInterp[name] for name in spec.colour_interp]

    def write_row(self, row: int, values: np.ndarray) -> None:
        """Row ``row``, rows in order: a block row of the file is written once (when the next begins, or at close)."""
        values = np.asarray(values, np.float64).reshape(self.grid.cols, self.spec.count)
        block_row = row // BLOCK
        if block_row != self._block_row:
            self._flush()
            self._block_row = block_row
            self._block = np.full((self.spec.count, min(BLOCK, self.grid.rows - block_row * BLOCK), self.grid.cols),
                                  self.spec.nodata, self.spec.dtype)
        self._block[:, row % BLOCK] = np.where(np.isnan(values), self.spec.nodata, values).T

    def _flush(self) -> None:
        if self._block is not None:
            rows = self._block.shape[1]
            self._ds.write(self._block, window=Window(0, self._block_row * BLOCK, self.grid.cols, rows))
            self._block = None

    def close(self) -> None:
        """Finish the file: flush, add overviews when it is large, write the category sidecar if any."""
        if self._ds.closed:
            return
        self._flush()
        self._ds.close()
        if max(self.grid.rows, self.grid.cols) >= OVERVIEW_MIN_PX:
            self._add_overviews()

    def _add_overviews(self) -> None:
        factors, size = [], max(self.grid.rows, self.grid.cols)
        while size / 2 ** (len(factors) + 1) >= BLOCK / 2:
            factors.append(2 ** (len(factors) + 1))
        categorical = self.spec.category_names is not None
        with rasterio.open(self.path, "r+") as ds:
            ds.build_overviews(factors, Resampling.mode if categorical else Resampling.average)


def write_grid_raster(path: str | Path, grid: TileGrid, spec: RasterSpec, values: np.ndarray) -> Path:
    """(tiles, bands) values in grid order (NaN = nodata) as one GeoTIFF, written under a temporary name."""
    from xview_engine.outputs import atomic_output

    with atomic_output(path) as tmp:
        writer = GridRasterWriter(tmp, grid, spec)
        try:
            for row in range(grid.rows):
                writer.write_row(row, values[row * grid.cols:(row + 1) * grid.cols])
        finally:
            writer.close()
    return Path(path)


def pam_xml(spec: RasterSpec) -> str:
    """The ``.aux.xml`` text that gives every band its class names (GDAL PAM format)."""
    categories = "".join(f"      <Category>{escape(name)}</Category>\n" for name in spec.category_names or ())
    bands = "".join(
        f"  <PAMRasterBand band=\"{i}\">\n"
        f"    <Description>{escape(text)}</Description>\n"
        f"    <CategoryNames>\n{categories}    </CategoryNames>\n"
        "  </PAMRasterBand>\n" for i, text in enumerate(spec.descriptions, 1))
    return f"<PAMDataset>\n{bands}</PAMDataset>\n"
