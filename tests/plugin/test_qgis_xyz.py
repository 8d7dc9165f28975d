"""An XYZ basemap without network: a local tile set (file:// URL) read by QgisLayerSource and mapped by the Map tab."""

from __future__ import annotations

import math

import numpy as np
import pytest
from qgis.core import QgsCoordinateReferenceSystem, QgsProject, QgsRasterLayer, QgsRectangle
from qgis_support import XyzWorld
from test_qgis_dock import _run_and_wait, iface, plugin, world  # noqa: F401 (fixtures)

from xview_qgis.qgis_source import QgisLayerSource, is_file_layer

LON, LAT = 14.0, 53.0  # one 3857 unit is cos(53°) ≈ 0.6 ground metres here


@pytest.fixture
def xyz(tmp_path):
    tiles = XyzWorld(tmp_path / "tiles", LON, LAT)
    layer = QgsRasterLayer(tiles.uri, "local xyz", "wms")
    assert layer.isValid(), layer.error().summary()
    yield tiles, layer
    del layer


@pytest.mark.parametrize("units_per_px", [1.0, 2.5, 4.0])  # zoom 17 resampled, shrunk, and from zoom 15/16
def test_layer_source_reads_the_local_tiles(xyz, units_per_px):
    tiles, layer = xyz
    source = QgisLayerSource(layer, transform_context=QgsProject.instance().transformContext())
    assert "3857" in source.info["source_crs"] and source.info["provider"] == "wms" and not is_file_layer(layer)
    x0, y0 = tiles.bounds[:2]
    bounds = (x0 + 150.0, y0 + 200.0, x0 + 150.0 + 96 * units_per_px, y0 + 200.0 + 64 * units_per_px)
    pixels, valid = source.read_window(bounds, (64, 96))
    xs = bounds[0] + (np.arange(96) + 0.5) * units_per_px
    ys = bounds[3] - (np.arange(64) + 0.5) * units_per_px
    want, inside = tiles.colour(*np.meshgrid(xs, ys))
    assert valid.all() and inside.all()
    error = np.abs(pixels.transpose(1, 2, 0) - want / 255.0).max(axis=-1)
    assert np.median(error) < 0.02 and (error < 0.1).mean() > 0.9  # only block edges blur
    source.close()


def test_outside_the_tile_set_is_invalid(xyz):
    tiles, layer = xyz
    source = QgisLayerSource(layer)
    _, y0, x1, _ = tiles.bounds
    pixels, valid = source.read_window((x1 - 64.0, y0 + 300.0, x1 + 64.0, y0 + 364.0), (32, 64))
    assert valid[:, :28].all() and not valid[:, 36:].any() and (pixels[:, ~valid] == 0).all()
    source.close()


def test_map_tab_maps_the_xyz_layer_in_web_mercator(plugin, world, qtbot, qgis_iface, tmp_path, xyz):  # noqa: F811
    tiles, layer = xyz
    QgsProject.instance().addMapLayer(layer)
    canvas = qgis_iface.mapCanvas()
    canvas.setDestinationCrs(QgsCoordinateReferenceSystem("EPSG:3857"))
    x0, y0, x1, y1 = tiles.bounds
    # the view runs 400 units past the tile set's east edge whatever the canvas' aspect ratio
    canvas.setExtent(QgsRectangle(x0 + 200, y0 + 200, x1 + 400, y1 - 200))
    plugin.model_panel.set_model(str(world["model"]))  # 16 px at 1 m: 16 m tiles
    map_tab = plugin.tabs["Map"]
    map_tab.layer_combo.setLayer(layer)
    map_tab.extent_combo.setCurrentText("Visible map canvas")
    map_tab.out_dir.setFilePath(str(tmp_path / "runs"))
    map_tab.stride.setValue(16.0)
    task = _run_and_wait(qtbot, map_tab)
    assert task.error is None, task.error
    assert task.result.map.tiles_run > 100
    grid = task.result.map.metadata["grid"]
    scale = 1 / math.cos(math.radians(LAT))
    assert grid["ground_scale_crs_units_per_metre"][0] == pytest.approx(scale, rel=3e-3)
    prob = map_tab.last_layers[0]
    assert prob.crs().authid() == "EPSG:3857"
    assert prob.rasterUnitsPerPixelX() == pytest.approx(16.0 * scale, rel=3e-3)  # stride 16 m = 26.6 units
    assert canvas.extent().contains(prob.extent())
    _valid_tiles_lie_in_the_tile_set(prob.source(), tiles.bounds, 16.0 * scale)
    del prob


def _valid_tiles_lie_in_the_tile_set(path: str, bounds, tile_units: float) -> None:
    """Tiles were run where the basemap has pixels and skipped (nodata) where it is transparent."""
    import rasterio

    with rasterio.open(path) as ds:
        valid = ds.read_masks(1) > 0
        rows, cols = np.nonzero(valid)
        xs, ys = rasterio.transform.xy(ds.transform, rows, cols)
    x0, y0, x1, y1 = bounds
    half = tile_units / 2
    assert valid.sum() > 100 and not valid.all()
    assert (np.asarray(xs) > x0 - half).all() and (np.asarray(xs) < x1 + half).all()
    assert (np.asarray(ys) > y0 - half).all() and (np.asarray(ys) < y1 + half).all()
