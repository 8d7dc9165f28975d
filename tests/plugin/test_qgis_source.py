"""The QGIS layer source reads what the rasterio source reads (same GeoTIFF, same windows), in headless QGIS."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from qgis.core import QgsProject, QgsRasterLayer
from qgis_support import SHARED_DATA, rgb_geotiff

from xview_engine.errors import SourceError
from xview_engine.raster.source import RasterioSource, RasterSource
from xview_qgis.qgis_source import QgisLayerSource, is_file_layer


def _sources(path: Path) -> tuple[QgisLayerSource, RasterioSource, QgsRasterLayer]:
    layer = QgsRasterLayer(str(path), path.stem, "gdal")
    assert layer.isValid()
    return QgisLayerSource(layer), RasterioSource(path, 3, ("red", "green", "blue")), layer


def test_layer_source_implements_the_engine_protocol(tmp_path):
    qgis_source, rio, layer = _sources(rgb_geotiff(tmp_path / "rgb.tif"))
    assert isinstance(qgis_source, RasterSource)
    assert qgis_source.bounds == pytest.approx(rio.bounds)
    assert "32633" in qgis_source.crs and qgis_source.info["provider"] == "gdal"
    assert is_file_layer(layer) == str(tmp_path / "rgb.tif")
    rio.close()
    del layer


# native, shrinking, enlarging, and non-square pixels in CRS units
@pytest.mark.parametrize("shape", [(32, 48), (8, 12), (64, 96), (16, 32)])
def test_pixels_match_the_rasterio_source(tmp_path, shape):
    qgis_source, rio, layer = _sources(rgb_geotiff(tmp_path / "rgb.tif", nodata_corner=True))
    bounds = (500016.0, 5799968.0 - 32.0, 500016.0 + 48.0, 5799968.0)
    got, got_valid = qgis_source.read_window(bounds, shape)
    want, want_valid = rio.read_window(bounds, shape)
    assert got.shape == want.shape == (3, *shape) and got.dtype == np.float32
    agree = got_valid == want_valid
    assert agree.mean() > 0.97
    both = got_valid & want_valid
    assert both.sum() > 0.5 * both.size
    assert np.abs(got[:, both] - want[:, both]).mean() < (0.03 if shape != (16, 32) else 0.06)
    rio.close()
    del layer


def test_outside_the_layer_is_invalid(tmp_path):
    qgis_source, rio, layer = _sources(rgb_geotiff(tmp_path / "rgb.tif"))
    xmax, ymax = qgis_source.bounds[2], qgis_source.bounds[3]
    pixels, valid = qgis_source.read_window((xmax - 16, ymax - 16, xmax + 16, ymax + 16), (32, 32))
    assert valid[16:, :16].all() and not valid[:16, :].any() and not valid[:, 16:].any()
    assert (pixels[:, ~valid] == 0).all()
    rio.close()
    del layer


@pytest.mark.skipif(not (SHARED_DATA / "rasters").is_dir(), reason="../shared/data is absent (a user's clone)")
def test_alpha_band_masks_the_real_orthophoto():
    path = SHARED_DATA / "rasters" / "fotomap_small.tif"
    qgis_source, rio, layer = _sources(path)
    x0, y0 = rio.bounds[0], rio.bounds[1]
    b = (x0, y0, x0 + 24.0, y0 + 16.0)  # 0.2 m square pixels, 10 times coarser than the file
    got, got_valid = qgis_source.read_window(b, (80, 120))
    want, want_valid = rio.read_window(b, (80, 120))
    assert (got_valid == want_valid).mean() > 0.98
    both = got_valid & want_valid
    assert np.abs(got[:, both] - want[:, both]).mean() < 0.01
    rio.close()
    del layer


def test_geographic_layer_is_served_in_a_utm_zone(tmp_path):
    path = rgb_geotiff(tmp_path / "geo.tif", pixel=0.0001, crs="EPSG:4326", origin=(15.0, 52.0))
    layer = QgsRasterLayer(str(path), "geo", "gdal")
    source = QgisLayerSource(layer, transform_context=QgsProject.instance().transformContext())
    assert "32633" in source.crs or "UTM zone 33N" in source.crs
    x0, y0, x1, y1 = source.bounds
    assert 500000 < x0 < x1 < 502000 and 5_700_000 < y0 < y1 < 5_800_000
    pixels, valid = source.read_window((x0 + 1, y0 + 1, x0 + 5, y0 + 5), (8, 8))
    assert valid.all() and pixels.max() > 0
    del layer


def test_non_rgb_models_and_invalid_layers_are_refused(tmp_path):
    layer = QgsRasterLayer(str(rgb_geotiff(tmp_path / "rgb.tif")), "rgb", "gdal")
    with pytest.raises(SourceError, match="read as drawn"):
        QgisLayerSource(layer, ("red", "green", "blue", "nir"))
    with pytest.raises(SourceError, match="not a valid raster layer"):
        QgisLayerSource(QgsRasterLayer(str(tmp_path / "missing.tif"), "missing", "gdal"))
    del layer
