"""Heatmap rasters: a photo's log-likelihood and posterior over the tiles of an index, as a GeoTIFF.

One pixel per tile centre on the index's grid (pixel size = stride), written with the mapping
writer, atomically. Band 1 is the combined log-likelihood, band 2 the normalised posterior over
tiles (uniform prior: exp(LL - max) / sum; it sums to 1 over the valid tiles), then one
log-likelihood band per head. Tiles that never ran are NaN (the nodata value): a log-likelihood
has no finite value that could safely mean "no data".
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from xview_engine.localization.index import TileIndex
from xview_engine.localization.ranking import COMBINED, posterior, top_percent_floors
from xview_engine.raster.geotiff import RasterSpec, write_grid_raster


def heatmap_bands(scores: Mapping[str, np.ndarray], valid: np.ndarray) -> dict[str, np.ndarray]:
    """Band description -> (T,) float values for one photo's scores ({head or 'combined': (T,)})."""
    combined = np.where(valid, scores[COMBINED], np.nan)
    bands = {"combined:loglik": combined, "combined:posterior": np.where(valid, posterior(combined)[0], np.nan)}
    for head, values in scores.items():
        if head != COMBINED:
            bands[f"{head}:loglik"] = np.where(valid, values, np.nan)
    return bands


def write_heatmap(path: str | os.PathLike, index: TileIndex, scores: Mapping[str, np.ndarray],
                  tags: Mapping[str, str] | None = None) -> Path:
    """Write one photo's heatmap GeoTIFF on the index grid; ``scores`` maps head/'combined' to (T,)."""
    bands = heatmap_bands(scores, index.valid)
    spec = RasterSpec(tuple(bands), "float32", float("nan"), tags={"xview_product": "heatmap", **(tags or {})})
    return write_grid_raster(path, index.grid, spec, np.column_stack(list(bands.values())).astype(np.float32))


TOP_PERCENTS = (1.0, 5.0, 10.0)  # the classes a heatmap legend shows: best 1 %, 1-5 %, 5-10 %; the rest is clear


def heatmap_class_breaks(path: str | os.PathLike, percents: Sequence[float] = TOP_PERCENTS,
                         band: int = 1) -> list[float]:
    """Class breaks of a discrete legend over band ``band``, best first: above break k lie the best ``percents[k]`` %.

    Each break sits halfway between that percent's floor (``top_percent_floors``) and the next lower
    score, never on a score, so a renderer's "value <= break" (QGIS' discrete ramp, with its 1e-7
    tolerance) splits the tiles exactly. Read from the heatmap GeoTIFF itself; NaN when no score is finite.
    """
    import rasterio

    with rasterio.open(path) as ds:
        values = ds.read(band, masked=True).filled(np.nan).astype(np.float64)
    values = values[np.isfinite(values)]
    breaks = []
    for floor in top_percent_floors(values, sorted(percents)):
        below = values[values < floor]
        breaks.append((floor + below.max()) / 2 if below.size else floor - 1.0)
    return breaks
