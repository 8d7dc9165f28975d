"""The byte fast path: at native resolution ``read_window_codes`` looked up in ``code_table`` is
``read_window``, and both are what GDAL's float32 read (the path before it) gives; resampled windows
get no codes; the mask read is skipped only when the raster has no nodata, alpha or mask."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine
from mapping_fixtures import CM_X, CM_Y, TRUE_METRES_CRS, random_rgb, write_raster
from rasterio.enums import Resampling
from rasterio.windows import from_bounds

from xview_engine.raster.source import RasterioSource

RGB = ("red", "green", "blue")
NATIVE = [((CM_X + 100, CM_Y - 260, CM_X + 260, CM_Y - 100), (16, 16)),
          ((CM_X + 100 + 1e-7, CM_Y - 300, CM_X + 400, CM_Y - 100 - 1e-7), (20, 30)),  # float noise of a grid
          ((CM_X - 50, CM_Y - 200, CM_X + 150, CM_Y + 20), (22, 20))]  # partly outside the raster
# a UTM-like 0.9996 scale (bilinear), a 1.7x shrink (average), a half-pixel shift
RESAMPLED = [((CM_X + 103.3, CM_Y - 301.1, CM_X + 403.3 * 0.9996, CM_Y - 101.1), (20, 30)),
             ((CM_X + 50, CM_Y - 390, CM_X + 390, CM_Y - 50), (20, 20)),
             ((CM_X + 105, CM_Y - 265, CM_X + 265, CM_Y - 105), (16, 16))]


def _float_read(path, bounds, shape):
    """GDAL's float32 resampled read of the whole window /255 and its dataset mask: the path before codes."""
    res = 10.0
    shrinking = (bounds[2] - bounds[0]) / shape[1] > res * (1 + 1e-6)
    with rasterio.open(path) as ds:
        window = from_bounds(*bounds, transform=ds.transform)
        data = ds.read(window=window, out_shape=(3, *shape), out_dtype=np.float32,
                       resampling=Resampling.average if shrinking else Resampling.bilinear)
        mask = ds.dataset_mask(window=window, out_shape=shape, resampling=Resampling.nearest) > 0
    return data / np.float32(255), mask


@pytest.mark.parametrize("nodata", [None, 0])
def test_codes_through_the_table_equal_read_window(tmp_path, nodata):
    data = random_rgb(tmp_path / "rgb.tif", width=48, height=40)
    if nodata is not None:
        data[:, :8, :12] = 0
        write_raster(tmp_path / "rgb.tif", data, TRUE_METRES_CRS, Affine(10.0, 0, CM_X, 0, -10.0, CM_Y), nodata=0)
    with RasterioSource(tmp_path / "rgb.tif", 3, RGB) as src:
        table = src.code_table()
        assert table.shape == (3, 256) and table.dtype == np.float32
        for bounds, shape in RESAMPLED:
            assert src.read_window_codes(bounds, shape) is None
        for bounds, shape in NATIVE:
            pixels, valid = src.read_window(bounds, shape)
            codes, mask = src.read_window_codes(bounds, shape)
            assert codes.dtype == np.uint8 and codes.shape == pixels.shape
            looked_up = np.stack([table[b][codes[b]] for b in range(3)])
            inside = bounds[0] >= CM_X and bounds[3] <= CM_Y
            if nodata is None and inside:
                assert mask is None and valid.all()  # no mask read for a raster without one
            else:
                np.testing.assert_array_equal(mask, valid)
            np.testing.assert_allclose(looked_up[:, valid], pixels[:, valid], rtol=0, atol=1e-6)
            assert (pixels[:, ~valid] == 0).all()
            if inside:
                ref, ref_mask = _float_read(tmp_path / "rgb.tif", bounds, shape)
                np.testing.assert_allclose(pixels, ref, rtol=0, atol=1e-6)
                np.testing.assert_array_equal(valid, ref_mask)
        if nodata is not None:  # the masked corner is refused by both paths
            _, valid = src.read_window((CM_X, CM_Y - 80, CM_X + 120, CM_Y), (8, 12))
            assert not valid.any()


def test_reprojected_byte_raster_codes_equal_read_window(tmp_path):
    data = np.random.default_rng(1).integers(1, 256, (3, 60, 80), dtype=np.uint8)
    write_raster(tmp_path / "geo.tif", data, "EPSG:4326", Affine(0.0001, 0, 12.5, 0, -0.0001, 52.0))
    with RasterioSource(tmp_path / "geo.tif", 3, RGB, work_crs="EPSG:32633") as src:
        xmin, ymin, xmax, ymax = src.bounds
        res = src._ds.res[0]  # the warped view's own pixels: a native window of it
        shape = (int((ymax - ymin) / res), int((xmax - xmin) / res))
        bounds = (xmin, ymax - shape[0] * res, xmin + shape[1] * res, ymax)
        pixels, valid = src.read_window(bounds, shape)
        codes, mask = src.read_window_codes(bounds, shape)
        assert mask is not None and not mask.all()  # the warp's empty corners are masked, not black
        np.testing.assert_array_equal(mask, valid)
        looked_up = np.stack([src.code_table()[b][codes[b]] for b in range(3)])
        np.testing.assert_allclose(looked_up[:, valid], pixels[:, valid], rtol=0, atol=1e-6)


def test_non_byte_rasters_have_no_codes(tmp_path):
    data = np.random.default_rng(2).integers(0, 4000, (3, 20, 20)).astype(np.uint16)
    write_raster(tmp_path / "u16.tif", data, TRUE_METRES_CRS, Affine(10.0, 0, CM_X, 0, -10.0, CM_Y))
    with RasterioSource(tmp_path / "u16.tif", 3, RGB) as src:
        assert src.read_window_codes((CM_X, CM_Y - 100, CM_X + 100, CM_Y), (10, 10)) is None
        assert src.code_table() is None
