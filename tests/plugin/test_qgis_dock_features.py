"""The dock's verification, photo search and false-colour map, driven through its real widgets in headless QGIS.

"What's here?" asks the model's localization method what it can add: a Siamese model answers "was
the Geolocate tab's photo taken here?", a knn model shows its reference photos of similar-looking
places as thumbnails in the answer. The Map tab's "false colours (PCA)" product writes the engine's RGB map. Every
answer is compared with the engine called directly at the same place.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest
import rasterio
from photo_fixtures import bomb_png
from qgis.core import QgsMultiBandColorRenderer, QgsPointXY, QgsProject
from qgis.PyQt.QtCore import Qt, QUrl
from qgis.PyQt.QtGui import QTextDocument
from qgis_support import knn_files, siamese_model
from test_qgis_dock import TIMEOUT_MS, _add_raster, _run_and_wait, iface, plugin, world  # noqa: F401 (fixtures)

from xview_qgis import tasks


@pytest.fixture
def knn(tmp_path_factory):
    return knn_files(tmp_path_factory)


def _photo_rows(world) -> list[dict]:  # noqa: F811
    with open(world["labels"].parent / "pairs.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _ready(plugin, world, qgis_iface, model):  # noqa: F811
    layer = _add_raster(world["raster"], "overhead")
    plugin.model_panel.set_model(str(model))
    map_tab = plugin.tabs["Map"]
    map_tab.layer_combo.setLayer(layer)
    qgis_iface.mapCanvas().setDestinationCrs(layer.crs())
    map_tab.whats_here.button.setChecked(True)
    return layer, map_tab


def _click(qtbot, map_tab, x: float, y: float) -> str:
    tool = map_tab.whats_here.tool
    tool.canvasClicked.emit(QgsPointXY(x, y), Qt.MouseButton.LeftButton)
    if tool.task is not None:
        qtbot.waitUntil(lambda: tool.task not in tasks.RUNNING, timeout=TIMEOUT_MS)
        assert tool.task.error is None, tool.task.error
    return map_tab.whats_here.answer.text()


def test_whats_here_asks_whether_the_geolocate_photo_was_taken_here(plugin, world, qtbot, qgis_iface,  # noqa: F811
                                                                   tmp_path):
    from xview_engine.localization.verification import verify_point

    model = siamese_model(tmp_path)
    layer, map_tab = _ready(plugin, world, qgis_iface, model)
    row = _photo_rows(world)[0]
    x, y = float(row["x"]), float(row["y"])
    text = _click(qtbot, map_tab, x, y)
    assert text.startswith("Computed now for the 16 m tile")
    assert "Choose a photo in the Geolocate tab to ask whether it was taken here" in text
    photo = world["labels"].parent / row["path"]
    plugin.tabs["Geolocate"].photo.setFilePath(str(photo))
    text = _click(qtbot, map_tab, x, y)
    engine = verify_point(photo, model, world["raster"], xy=(x, y), device="cpu")
    assert (f"Was {photo.name} taken here? embedding distance {engine['distance']:.3f}, "
            f"P(same place) {engine['p_same_place']:.2f} (16 m tile)") in text
    assert "font-weight" in map_tab.whats_here.answer.toHtml()  # the answer stands out, in bold
    assert not map_tab.whats_here.answer.images  # a Siamese model carries no photos
    elsewhere = _click(qtbot, map_tab, x - 60, y - 60)  # another tile: the engine's answer there
    far = verify_point(photo, model, world["raster"], xy=(x - 60, y - 60), device="cpu")
    assert f"embedding distance {far['distance']:.3f}" in elsewhere
    map_tab.whats_here.button.setChecked(False)
    del layer


def test_a_model_that_cannot_verify_says_nothing_of_the_photo(plugin, world, qtbot, qgis_iface):  # noqa: F811
    layer, map_tab = _ready(plugin, world, qgis_iface, world["model"])
    plugin.tabs["Geolocate"].photo.setFilePath(str(world["photo"]))
    centre = layer.extent().center()
    text = _click(qtbot, map_tab, centre.x(), centre.y())
    assert "most likely" in text and "taken here" not in text and "Geolocate" not in text
    map_tab.whats_here.button.setChecked(False)
    del layer


def test_whats_here_shows_thumbnails_of_similar_looking_places(plugin, knn, qtbot, qgis_iface):  # noqa: F811
    """At the spot where a reference photo was taken its own tile looks most like the clicked one (distance
    about 0); the photos and distances are the engine's ``photos_at_point`` at that point."""
    from xview_engine.localization.index import load_index
    from xview_engine.localization.methods import PhotoOptions
    from xview_engine.localization.photo_search import photos_at_point
    from xview_engine.model.runtime import load_runtime
    from xview_engine.raster.source import RasterioSource

    layer, map_tab = _ready(plugin, knn, qgis_iface, knn["knn"])
    row = _photo_rows(knn)[0]  # a train photo: one of the references, described by the 8 m grid tile under it
    index = load_index(knn["knn_index"])  # the same 8 m grid
    x, y = index.xy[int(index.tile_at(np.array([float(row["x"])]), np.array([float(row["y"])]))[0])]
    text = _click(qtbot, map_tab, x, y)
    with RasterioSource(knn["raster"], 3, ("red", "green", "blue")) as source:
        hits = photos_at_point(source, load_runtime(knn["knn"], "torch", "cpu"), PhotoOptions(model=str(knn["knn"])),
                               x, y)
    assert hits[0].photo.endswith(row["path"]) and hits[0].distance == pytest.approx(0.0, abs=1e-3)
    assert "Photos of similar-looking places" in text
    assert f"#1 {hits[0].photo.rsplit('/', 1)[-1]}: feature distance" in text
    answer = map_tab.whats_here.answer
    assert all(f"#{h.rank} d {h.distance:.2f}" in text for h in hits)  # each thumbnail's caption
    assert len(answer.images) == len(hits) == 3  # the world has 3 reference photos
    html = answer.toHtml()
    assert all(name in html for name in answer.images)
    for name, pixmap in answer.images.items():  # what the panel draws for <img src=name>
        shown = answer.document().resource(QTextDocument.ResourceType.ImageResource, QUrl(name))
        assert not shown.isNull() and (shown.width(), shown.height()) == (pixmap.width(), pixmap.height())
    pixmap = next(iter(answer.images.values()))
    assert (pixmap.width(), pixmap.height()) == (64, 16)  # the 512 x 128 photo, small, aspect kept
    assert len({pixmap.toImage().pixel(i, 8) for i in range(64)}) > 3  # a picture, not a grey cell
    map_tab.whats_here.button.setChecked(False)
    del layer, pixmap


def test_geolocate_thumbnail_goes_through_the_safe_opener(plugin, world, tmp_path):  # noqa: F811
    tab = plugin.tabs["Geolocate"]
    tab.photo.setFilePath(str(world["photo"]))
    assert not tab.thumbnail.pixmap().isNull() and tab.thumbnail.pixmap().width() == 320
    tab.photo.setFilePath(str(bomb_png(tmp_path / "bomb.png", 100_000, 100_000)))  # never decoded
    assert tab.thumbnail.pixmap() is None or tab.thumbnail.pixmap().isNull()
    assert "decompression bomb" in tab.exif_label.text()  # said in the tab, not a traceback in the log


def _read(path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read()


def test_map_tab_false_colours_alone_and_beside_the_products(plugin, knn, qtbot, tmp_path):  # noqa: F811
    from xview_engine.mapping.pca import PcaParams, run_pca

    layer = _add_raster(knn["raster"], "overhead")
    map_tab = plugin.tabs["Map"]
    plugin.model_panel.set_model(str(siamese_model(tmp_path)))
    assert not map_tab.pca.isVisibleTo(map_tab)  # embeddings are no features to colour
    plugin.model_panel.set_model(str(knn["knn"]))
    assert map_tab.pca.isVisibleTo(map_tab)
    map_tab.layer_combo.setLayer(layer)
    map_tab.out_dir.setFilePath(str(tmp_path / "runs"))
    map_tab.stride.setValue(8.0)
    map_tab.pca.check.setChecked(True)
    assert map_tab.pca.basis.isVisibleTo(map_tab)
    for box in map_tab.product_checks.values():
        box.setChecked(False)
    task = _run_and_wait(qtbot, map_tab)
    assert task.error is None, task.error
    assert task.result.map is None and len(map_tab.last_layers) == 1
    rgb = map_tab.last_layers[0]
    assert isinstance(rgb.renderer(), QgsMultiBandColorRenderer) and rgb.name().endswith("false colours (PCA of the "
                                                                                         "model's outputs)")
    group = QgsProject.instance().layerTreeRoot().findGroup(task.group_name)
    assert group is not None and "false colours" in task.group_name and group.findLayer(rgb.id()) is not None
    engine = run_pca(PcaParams(raster=str(knn["raster"]), model=str(knn["knn"]), stride_m=8.0, device="cpu",
                               out=str(tmp_path / "engine.tif")))
    np.testing.assert_array_equal(_read(rgb.source()), _read(engine.path))
    basis = task.out_dir / "pca_basis.json"
    assert basis.is_file()
    # again with the map's products and the saved basis: the products first, the same colours last
    map_tab.product_checks["prob"].setChecked(True)
    map_tab.pca.basis.setFilePath(str(basis))
    task = _run_and_wait(qtbot, map_tab)
    assert task.error is None, task.error
    assert task.result.map is not None and task.result.pca.basis_path == task.out_dir / "pca_basis.json"
    assert map_tab.controls.progress.value() == 100
    layers = map_tab.last_layers
    assert len(layers) > 1 and isinstance(layers[-1].renderer(), QgsMultiBandColorRenderer)
    assert not any(isinstance(lyr.renderer(), QgsMultiBandColorRenderer) for lyr in layers[:-1])
    np.testing.assert_array_equal(_read(layers[-1].source()), _read(engine.path))
    del layer, rgb, layers, group
