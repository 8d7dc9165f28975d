"""Heatmap rasters: a photo's log-likelihood and posterior over the tiles of an index, as a GeoTIFF.

One pixel per tile centre on the index's grid (pixel size = stride), written with the mapping
writer, atomically. Band 1 is the combined log-likelihood, band 2 the normalised posterior over
tiles (uniform prior: exp(LL - max) / sum; it sums to 1 over the valid tiles), then one
log-likelihood band per head. Tiles that never ran are NaN (the nodata value): a log-likelihood
has no finite value that could safely mean "no data".
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from xview_engine.localization.index import TileIndex
from xview_engine.localization.ranking import COMBINED, posterior
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
