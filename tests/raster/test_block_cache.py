"""GDAL's block cache while a grid reads a file: a few rows of the file's blocks under one tile, not the raster."""

from __future__ import annotations

import rasterio
from affine import Affine
from mapping_fixtures import CM_X, CM_Y, TRUE_METRES_CRS

from xview_engine.raster.source import MIN_READ_CACHE_BYTES, READ_CACHE_BYTES, block_cache_for


def _blank(path, width, height, block, crs=TRUE_METRES_CRS, pixel=0.5, count=3, dtype="uint8"):
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=count, dtype=dtype, crs=crs,
                       transform=Affine(pixel, 0, CM_X, 0, -pixel, CM_Y), tiled=True, blockxsize=block,
                       blockysize=block, sparse_ok=True):
        pass  # no block written: the file stays small, its layout is all that is read
    return path


def test_cache_holds_the_block_rows_under_a_tile(tmp_path):
    # 40 000 px wide, 512 px blocks, 3 bytes a pixel: a row of blocks is 79 blocks x 768 KiB = 59.25 MiB;
    # a 112 m tile at 0.5 m is 224 rows: 1 row of blocks + 2 -> 3 rows, over the 64 MiB cap
    wide = _blank(tmp_path / "wide.tif", 40_000, 1024, 512)
    assert block_cache_for(wide, 112.0) == READ_CACHE_BYTES
    # 4096 px wide, 256 px blocks: a row is 16 x 192 KiB = 3 MiB; 3 rows = 9 MiB -> the 16 MiB floor
    assert block_cache_for(_blank(tmp_path / "small.tif", 4096, 4096, 256), 112.0) == MIN_READ_CACHE_BYTES
    # 12 000 px wide, 256 px blocks, float32 x 4 bands: a row is 47 x 1 MiB; a 60 m tile at 0.05 m is 1200
    # source rows: 5 rows of blocks + 2 = 7 rows = 329 MiB -> the cap; a 1 m tile: 3 rows = 141 MiB -> the cap
    drone = _blank(tmp_path / "drone.tif", 12_000, 512, 256, pixel=0.05, count=4, dtype="float32")
    assert block_cache_for(drone, 60.0) == READ_CACHE_BYTES
    mid = _blank(tmp_path / "mid.tif", 8192, 512, 256, count=1)  # a row: 32 x 64 KiB = 2 MiB; 3 rows: the floor
    assert block_cache_for(mid, 112.0) == MIN_READ_CACHE_BYTES
    twenty = _blank(tmp_path / "twenty.tif", 24_576, 512, 256, count=3)  # a row: 96 x 192 KiB = 18 MiB; 3 rows
    assert block_cache_for(twenty, 112.0) == 3 * 18 * 2**20


def test_geographic_rasters_keep_the_default_cap(tmp_path):
    geo = _blank(tmp_path / "geo.tif", 512, 512, 256, crs="EPSG:4326", pixel=1e-5)
    assert block_cache_for(geo, 112.0) == READ_CACHE_BYTES
