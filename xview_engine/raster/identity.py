"""What identifies a raster file without hashing all of it: path, size, time, grid and a few pixel windows.

An index records it so that a later query can refuse a stale index (the raster changed since), and a
cluster run records it so that ``--resume`` refuses to finish a run over a raster that changed.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from xview_engine.errors import SourceError

HASH_WINDOWS = 5  # pixel windows hashed to recognise the raster: four corners and the centre
HASH_WINDOW_PX = 64


def raster_identity(path: str | os.PathLike) -> dict[str, Any]:
    """What identifies a raster file: where it is, its size and time, grid, and a hash of some pixels.

    The raster is checked first as `xview map` checks it (``raster_crs_and_bounds``: a zero-byte,
    unreadable or ungeoreferenced file is refused by name), and a read that fails in the hashed
    windows (a truncated GeoTIFF, a VRT whose source is gone) is a SourceError, not an OSError.
    """
    import rasterio

    from xview_engine.raster.source import raster_crs_and_bounds

    raster_crs_and_bounds(path)
    path = Path(path).resolve()
    stat = path.stat()
    try:
        with rasterio.open(path) as ds:
            identity = {
                "path": str(path), "bytes": stat.st_size, "mtime": stat.st_mtime, "width": ds.width,
                "height": ds.height, "count": ds.count, "crs": ds.crs.to_wkt() if ds.crs else None,
                "transform": list(ds.transform)[:6], "content_hash": _window_hash(ds),
            }
    except rasterio.errors.RasterioError as exc:
        raise SourceError(f"cannot read the pixels of {path} ({exc.__cause__ or exc}); the file is damaged or "
                          "truncated (check it with 'gdalinfo -checksum', re-download or re-export it)") from None
    return identity


def _window_hash(ds: Any) -> str:
    from rasterio.windows import Window

    digest = hashlib.sha256()
    w, h = min(HASH_WINDOW_PX, ds.width), min(HASH_WINDOW_PX, ds.height)
    corners = [(0, 0), (ds.width - w, 0), (0, ds.height - h), (ds.width - w, ds.height - h),
               ((ds.width - w) // 2, (ds.height - h) // 2)]
    for col, row in corners[:HASH_WINDOWS]:
        digest.update(np.ascontiguousarray(ds.read(window=Window(col, row, w, h))).tobytes())
    return digest.hexdigest()
