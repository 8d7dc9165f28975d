"""Raster sources: windows at any resolution, masks from nodata / alpha / NaN, band choice, scaling, refusals."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine
from mapping_fixtures import CM_X, CM_Y, TRUE_METRES_CRS, random_rgb, shared, write_raster
from rasterio.enums import ColorInterp

from xview_engine.errors import SourceError
from xview_engine.raster.source import RasterioSource, RasterSource

RGB = ("red", "green", "blue")


def test_read_window_at_native_and_half_resolution(tmp_path):
    data = random_rgb(tmp_path / "rgb.tif")
    with RasterioSource(tmp_path / "rgb.tif", 3, RGB) as src:
        assert isinstance(src, RasterSource)
        bounds = (CM_X + 100, CM_Y - 260, CM_X + 260, CM_Y - 100)  # pixels 10:26
        pixels, valid = src.read_window(bounds, (16, 16))
        assert valid.all()
        np.testing.assert_allclose(pixels, data[:, 10:26, 10:26] / 255.0, atol=1e-5)
        pixels, _ = src.read_window(bounds, (8, 8))  # 2x shrink: average of 2x2 blocks
        blocks = data[:, 10:26, 10:26].reshape(3, 8, 2, 8, 2).mean(axis=(2, 4)) / 255.0
        np.testing.assert_allclose(pixels, blocks, atol=0.51 / 255)  # GDAL rounds to the source's bytes


def test_window_partly_outside_is_invalid_there(tmp_path):
    random_rgb(tmp_path / "rgb.tif")
    with RasterioSource(tmp_path / "rgb.tif", 3, RGB) as src:
        pixels, valid = src.read_window((CM_X - 100, CM_Y - 100, CM_X + 100, CM_Y + 100), (20, 20))
        assert valid[10:, 10:].all() and not valid[:10].any() and not valid[:, :10].any()
        assert (pixels[:, :10] == 0).all()
        _, valid = src.read_window((CM_X - 500, CM_Y + 100, CM_X - 100, CM_Y + 500), (4, 4))
        assert not valid.any()


def test_nodata_and_nan_become_mask(tmp_path):
    data = np.full((1, 10, 10), 0.25, np.float32)
    data[0, :5] = np.nan
    write_raster(tmp_path / "nan.tif", data, TRUE_METRES_CRS, Affine(10, 0, CM_X, 0, -10, CM_Y), nodata=np.nan)
    with RasterioSource(tmp_path / "nan.tif", 3, RGB) as src:
        pixels, valid = src.read_window(src.bounds, (10, 10))
        assert not valid[:5].any() and valid[5:].all()
        assert np.isfinite(pixels).all()
        assert "percentile" in src.info["scaling"] and "repeated" in src.info["band_note"]


def test_bands_by_colour_interpretation_and_explicit(tmp_path):
    data = np.stack([np.full((8, 8), v, np.uint8) for v in (30, 20, 10, 255)])
    interp = (ColorInterp.blue, ColorInterp.green, ColorInterp.red, ColorInterp.alpha)
    write_raster(tmp_path / "bgra.tif", data, TRUE_METRES_CRS, Affine(10, 0, CM_X, 0, -10, CM_Y), colorinterp=interp)
    with RasterioSource(tmp_path / "bgra.tif", 3, RGB) as src:
        assert src.choice.indexes == (3, 2, 1)
        pixels, _ = src.read_window(src.bounds, (8, 8))
        np.testing.assert_allclose(pixels[:, 0, 0], np.array([10, 20, 30]) / 255, atol=1e-6)
    with RasterioSource(tmp_path / "bgra.tif", 3, RGB, bands=(1, 1, 2)) as src:
        assert src.choice.indexes == (1, 1, 2)
    with pytest.raises(SourceError, match="has bands 1..4 only"):
        RasterioSource(tmp_path / "bgra.tif", 3, RGB, bands=(1, 2, 9))
    with pytest.raises(SourceError, match="needs 3"):
        RasterioSource(tmp_path / "bgra.tif", 3, RGB, bands=(1, 2))


def test_two_band_raster_for_rgb_model_refused(tmp_path):
    data = np.zeros((2, 8, 8), np.uint8)
    write_raster(tmp_path / "two.tif", data, TRUE_METRES_CRS, Affine(10, 0, CM_X, 0, -10, CM_Y))
    with pytest.raises(SourceError, match="--bands"):
        RasterioSource(tmp_path / "two.tif", 3, RGB)


def test_alpha_band_masks_fotomap():
    with RasterioSource(shared("rasters/fotomap_small.tif"), 3, RGB) as src:
        assert src.choice.indexes == (1, 2, 3)
        _, valid = src.read_window(src.bounds, (40, 60))
        assert valid.any()


def test_uint16_rgba_is_stretched_and_masked_by_alpha():
    with RasterioSource(shared("bad/RGBA.uint16.tif"), 3, RGB) as src:
        assert src.choice.indexes == (3, 2, 1) and "percentile" in src.info["scaling"]
        pixels, valid = src.read_window(src.bounds, (41, 63))
        assert 0.2 < valid.mean() < 0.8  # half of the image is transparent
        assert pixels.min() >= 0 and pixels.max() <= 1


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("bad/no_georef.tif", "no coordinate reference system and no geotransform.*georeference it"),
        ("bad/rotated.tif", "no coordinate reference system"),
        ("bad/float_nan.tif", "no coordinate reference system"),
        ("bad/all-nodata.tif", "no valid pixel"),
        ("bad/does-not-exist.tif", "does not exist"),
    ],
)
def test_unusable_rasters_refused(name, match):
    path = shared(name) if "exist" not in name else shared("bad") / "does-not-exist.tif"
    with pytest.raises(SourceError, match=match):
        RasterioSource(path, 3, RGB)


def test_corrupt_raster_names_the_file():
    path = shared("bad/corrupt.tif")
    with pytest.raises(SourceError, match="corrupt.tif.*damaged"):
        with RasterioSource(path, 3, RGB) as src:
            src.read_window(src.bounds, (64, 64))


def test_not_a_raster(tmp_path):
    (tmp_path / "x.tif").write_text("hello")
    with pytest.raises(SourceError, match="cannot be opened as a raster"):
        RasterioSource(tmp_path / "x.tif", 3, RGB)


def test_rotated_raster_with_crs_is_warped_north_up(tmp_path):
    data = np.full((3, 20, 20), 100, np.uint8)
    rotated = Affine(10, 0, CM_X, 0, -10, CM_Y) @ Affine.rotation(20)
    write_raster(tmp_path / "rot.tif", data, TRUE_METRES_CRS, rotated)
    with RasterioSource(tmp_path / "rot.tif", 3, RGB) as src:
        assert "rotated" in src.info["reprojected_to"]
        pixels, valid = src.read_window(src.bounds, (20, 20))
        assert 0.3 < valid.mean() < 0.95  # the warped corners are masked, not black data
        np.testing.assert_allclose(pixels[:, valid], 100 / 255, atol=1e-3)


def test_geographic_raster_needs_a_work_crs(tmp_path):
    data = np.full((3, 10, 10), 50, np.uint8)
    write_raster(tmp_path / "geo.tif", data, "EPSG:4326", Affine(0.001, 0, 15, 0, -0.001, 52))
    with pytest.raises(SourceError, match="geographic"):
        RasterioSource(tmp_path / "geo.tif", 3, RGB)
    with RasterioSource(tmp_path / "geo.tif", 3, RGB, work_crs="EPSG:32633") as src:
        assert "EPSG:32633" in src.info["reprojected_to"] and src.info["source_crs"] == "EPSG:4326"


@pytest.mark.parametrize("name", ["rasters/fotomap_small.tif", "bad/RGBA.uint16.tif", "geographic"])
def test_a_twin_reads_what_its_source_reads_on_handles_of_its_own(tmp_path, name):
    """Readers side by side (``mapping.batches``) each read a twin: the same view, closed on its own."""
    if name == "geographic":
        data = np.random.default_rng(3).integers(0, 256, (3, 40, 40), dtype=np.uint8)
        path, work = write_raster(tmp_path / "geo.tif", data, "EPSG:4326", Affine(0.001, 0, 15, 0, -0.001, 52)), \
            "EPSG:32633"
    else:
        path, work = shared(name), None
    with RasterioSource(path, 3, RGB, work_crs=work) as src:
        twin = src.twin()
        assert twin._file is not src._file and twin._ds is not src._ds
        assert (twin.crs, twin.bounds, twin.info, twin.exact_codes) == (src.crs, src.bounds, src.info, src.exact_codes)
        west, south, east, north = src.bounds
        window = (west, (south + north) / 2, (west + east) / 2, north)
        for a, b in zip(src.read_window(window, (30, 30)), twin.read_window(window, (30, 30))):
            np.testing.assert_array_equal(a, b)
        twin.close()
        assert twin._file.closed and not src._file.closed
        assert src.read_window(window, (30, 30))[1].any()
