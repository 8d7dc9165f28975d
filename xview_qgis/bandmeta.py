"""What the bands of an xview output GeoTIFF are: ``head:product:class`` descriptions and class names.

The engine writes band descriptions and (for class-index rasters) GDAL category names in the
``.aux.xml`` sidecar. QGIS' raster provider API does not expose either in 3.22, so they are read here
with GDAL's own Python bindings, which every QGIS ships. Reads are cheap: metadata, no pixels, except
``present_values`` which reads one band of a (one pixel per tile, hence small) product raster.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
from osgeo import gdal

gdal.UseExceptions()
TIME_MARK = " @"  # as xview_engine.mapping.time_steps.TIME_MARK (the plugin reads files, not the engine)
MAX_PRESENT_PIXELS = 16_000_000


@dataclass(frozen=True)
class BandMeta:
    """One band of an output raster: which head, which product, which class (empty for single-band products)."""

    head: str
    product: str
    class_name: str = ""
    time: str = ""  # a time-aware map's band: its time step ('2026-01'), after the engine's ' @'


def parse_band_description(text: str) -> Optional[BandMeta]:
    """``"places365:prob:beach"`` -> BandMeta; None for a description that is not xview's.

    Class names may contain ':' themselves (e.g. ImageNet's), so only the first two separators split.
    """
    text, _, time = (text or "").partition(TIME_MARK)
    parts = text.split(":", 2)
    if len(parts) < 2 or not parts[0] or not parts[1]:
        return None
    return BandMeta(parts[0], parts[1], parts[2] if len(parts) == 3 else "", time)


def band_descriptions(path: str) -> list[str]:
    """Band descriptions of a raster file, one per band ([] when GDAL cannot open it)."""
    dataset = _open(path)
    if dataset is None:
        return []
    return [dataset.GetRasterBand(i).GetDescription() for i in range(1, dataset.RasterCount + 1)]


def category_names(layer_or_path, band: int = 1) -> tuple[str, ...]:
    """GDAL category names of a band (the class names of a 'top' raster); () when there are none."""
    path = layer_or_path if isinstance(layer_or_path, str) else layer_or_path.source()
    dataset = _open(path)
    if dataset is None or band > dataset.RasterCount:
        return ()
    dataset.GetMetadata()  # GDAL 3.6's GTiff loads the .aux.xml lazily and GetCategoryNames alone skips it
    return tuple(dataset.GetRasterBand(band).GetCategoryNames() or ())


def dataset_tags(path: str) -> dict[str, str]:
    """The raster's dataset metadata (the engine's ``xview_*`` tags: distribution, threshold, ...)."""
    dataset = _open(path)
    return dict(dataset.GetMetadata() or {}) if dataset is not None else {}


def present_values(path: str, band: int = 1) -> list[int]:
    """Distinct non-nodata integer values of a band, for legends that list only what is on the map."""
    dataset = _open(path)
    if dataset is None or dataset.RasterXSize * dataset.RasterYSize > MAX_PRESENT_PIXELS:
        return []
    raster_band = dataset.GetRasterBand(band)
    values = raster_band.ReadAsArray()
    nodata = raster_band.GetNoDataValue()
    if nodata is not None:
        values = values[values != nodata]
    return [int(v) for v in np.unique(values)]


def _open(path: str):
    try:
        return gdal.Open(path.split("|")[0])
    except RuntimeError:
        return None
