"""The tile reader: byte rasters at native resolution go through uint8 codes and one table per band,
straight into the batch; the batches are the float path's (the path before) to 1e-6, tile for tile."""

from __future__ import annotations

import numpy as np
from affine import Affine
from mapping_fixtures import CM_X, CM_Y, TRUE_METRES_CRS, write_raster

from xview_engine.mapping.reader_items import Batch
from xview_engine.mapping.tile_reader import TileReader
from xview_engine.raster.grid import make_grid
from xview_engine.raster.source import RasterioSource

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class FloatOnly:
    """The same source seen through the ``RasterSource`` protocol alone (as the QGIS source is)."""

    def __init__(self, source: RasterioSource):
        self.crs, self.bounds, self.info, self.read_window = source.crs, source.bounds, source.info, source.read_window


def _batches(source, grid, batch_size) -> list[Batch]:
    reader = TileReader(source, grid, MEAN, STD, batch_size)
    reader.start()
    out = []
    while (item := reader.queue.get()) is not None:
        assert not isinstance(item, BaseException), item
        if isinstance(item, Batch):
            out.append(item)
    reader.join()
    return out


def test_codes_path_gives_the_float_paths_batches(tmp_path):
    data = np.random.default_rng(4).integers(1, 256, (3, 70, 90), dtype=np.uint8)
    data[:, :30, :25] = 0  # no-data: whole tiles skipped, others partly zeroed
    path = write_raster(tmp_path / "rgb.tif", data, TRUE_METRES_CRS, Affine(10.0, 0, CM_X, 0, -10.0, CM_Y), nodata=0)
    with RasterioSource(path, 3, ("red", "green", "blue")) as src:
        grid = make_grid(src.bounds, src.crs, tile_px=16, gsd_m=10.0, stride_m=60.0)
        bounds, shape = grid.strip(0, 0, grid.cols)
        assert src.read_window_codes(bounds, shape) is not None  # the fast path really runs
        fast, slow = _batches(src, grid, 5), _batches(FloatOnly(src), grid, 5)
    assert [len(b.rows) for b in fast] == [len(b.rows) for b in slow] and len(fast) > 3
    tiles = np.concatenate([b.tiles for b in fast])
    np.testing.assert_allclose(tiles, np.concatenate([b.tiles for b in slow]), rtol=0, atol=1e-6)
    for a, b in zip(fast, slow):
        np.testing.assert_array_equal(a.rows, b.rows)
        np.testing.assert_array_equal(a.cols, b.cols)
    assert (tiles == 0).any() and grid.count > len(tiles)  # some pixels zeroed, some tiles skipped
    # tile (row 4, col 6) by hand: its pixels of the raster, normalised
    first = int(np.flatnonzero((np.concatenate([b.rows for b in fast]) == 4)
                               & (np.concatenate([b.cols for b in fast]) == 6))[0])
    x0 = round((grid.x0 - grid.tile_size_xy[0] / 2 + 6 * grid.stride_xy[0] - CM_X) / 10)
    y0 = round((CM_Y - (grid.y0 - 4 * grid.stride_xy[1]) - grid.tile_size_xy[1] / 2) / 10)
    block = data[:, y0:y0 + 16, x0:x0 + 16].astype(np.float32) / np.float32(255)
    expected = (block - np.float32(MEAN)[:, None, None]) / np.float32(STD)[:, None, None]
    expected[:, (data[:, y0:y0 + 16, x0:x0 + 16] == 0).all(axis=0)] = 0.0
    np.testing.assert_allclose(tiles[first], expected, rtol=0, atol=1e-6)


def _tiles_by_position(batches: list[Batch]) -> dict[tuple[int, int], np.ndarray]:
    return {(int(r), int(c)): tile for b in batches for r, c, tile in zip(b.rows, b.cols, b.tiles)}


def test_several_rows_per_read_give_the_row_by_row_tiles_bit_for_bit(tmp_path):
    """One read of several grid rows (bytes exact: no nodata, no warp) against one read per row, on a grid
    that runs off the raster's edges (padded, partly valid tiles) and through a tile filter."""
    data = np.random.default_rng(5).integers(0, 256, (3, 83, 97), dtype=np.uint8)
    path = write_raster(tmp_path / "rgb.tif", data, TRUE_METRES_CRS, Affine(10.0, 0, CM_X, 0, -10.0, CM_Y))
    with RasterioSource(path, 3, ("red", "green", "blue")) as src:
        assert src.exact_codes
        xmin, ymin, xmax, ymax = src.bounds
        grid = make_grid((xmin - 35, ymin - 45, xmax + 25, ymax + 15), src.crs, tile_px=16, gsd_m=10.0, stride_m=80.0)

        def some_tiles(xs: np.ndarray, y: float) -> np.ndarray:
            return (np.arange(xs.size) + int(y)) % 5 != 0

        readers = []
        for rows_per_read in (None, 1):
            reader = TileReader(src, grid, MEAN, STD, 7, tile_filter=some_tiles)
            if rows_per_read:
                reader.rows_per_read = rows_per_read
            readers.append(reader)
        assert readers[0].rows_per_read >= grid.rows > 3  # the whole grid in one read
        got = []
        for reader in readers:
            reader.start()
            batches = []
            while (item := reader.queue.get()) is not None:
                assert not isinstance(item, BaseException), item
                if isinstance(item, Batch):
                    batches.append(Batch(item.tiles.copy(), item.rows, item.cols))
                    reader.recycle(item.tiles)  # as predict_rows does: the next batch reuses the array
            reader.join()
            got.append(_tiles_by_position(batches))
    together, row_by_row = got
    assert together.keys() == row_by_row.keys() and 10 < len(together) < grid.count
    for key, tile in together.items():
        np.testing.assert_array_equal(tile, row_by_row[key])
    assert any((tile == 0).all(axis=0).any() for tile in together.values())  # padding reads as the mean colour


def test_nodata_or_warped_rasters_are_read_row_by_row(tmp_path):
    data = np.random.default_rng(6).integers(1, 256, (3, 40, 40), dtype=np.uint8)
    path = write_raster(tmp_path / "nd.tif", data, TRUE_METRES_CRS, Affine(10.0, 0, CM_X, 0, -10.0, CM_Y), nodata=0)
    with RasterioSource(path, 3, ("red", "green", "blue")) as src:
        assert not src.exact_codes  # GDAL's resampler weighs the window's edges where there is nodata
        grid = make_grid(src.bounds, src.crs, tile_px=8, gsd_m=10.0, stride_m=40.0)
        assert TileReader(src, grid, MEAN, STD, 4).rows_per_read == 1
