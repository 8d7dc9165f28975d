"""The dock driven through its real widgets in headless QGIS: map, cancel, bad rasters, geolocate, search.

Tasks run on QGIS' task manager (worker threads); the tests wait with ``qtbot.waitUntil`` while the
event loop turns, then look at the layer tree, renderers, legends and georeferencing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pytest_qgis.utils import process_events
from qgis.core import (
    QgsPalettedRasterRenderer,
    QgsProject,
    QgsRasterLayer,
    QgsSingleBandPseudoColorRenderer,
)
from qgis.gui import QgsMessageBar
from qgis.PyQt.QtCore import Qt
from qgis_support import SHARED_DATA, dock_into_window, opened_plugin, world_files

from xview_qgis import tasks

TIMEOUT_MS = 60_000


@pytest.fixture
def iface(qgis_iface, qgis_parent, monkeypatch):
    """The pytest-qgis iface docking into the real main window (as in test_plugin_load.py), with a real
    QgsMessageBar in that window instead of pytest-qgis' recording stand-in."""
    bar = QgsMessageBar(qgis_parent)
    dock_into_window(qgis_iface, qgis_parent, bar, monkeypatch)
    yield qgis_iface
    bar.clearWidgets()
    bar.deleteLater()
    process_events()


@pytest.fixture
def plugin(iface, qgis_new_project):
    with opened_plugin(iface) as started:
        yield started


@pytest.fixture
def world(tmp_path_factory):
    return world_files(tmp_path_factory)


def _add_raster(path: Path, name: str) -> QgsRasterLayer:
    layer = QgsRasterLayer(str(path), name, "gdal")
    QgsProject.instance().addMapLayer(layer)
    return layer


def _run_and_wait(qtbot, tab):
    qtbot.mouseClick(tab.controls.run_button, Qt.MouseButton.LeftButton)
    task = tab.controls.task
    qtbot.waitUntil(lambda: tab.controls.task is None, timeout=TIMEOUT_MS)
    return task


def test_dock_has_model_panel_and_three_tabs(plugin):
    tabs = plugin.dock.tabs
    assert [tabs.tabText(i) for i in range(tabs.count())] == ["Map", "Geolocate", "Search"]
    from xview_qgis.model_panel import DEFAULT_LABEL, synthetic_defaults

    if synthetic_defaults()[0].is_file():  # the shipped default is chosen on first opening
        assert DEFAULT_LABEL in plugin.model_panel.info_label.text()
    else:
        assert plugin.model_panel.info_label.text().startswith("Choose a model")


def test_model_fills_the_ui_and_the_device_line(plugin, world):
    plugin.model_panel.set_model(str(world["model"]))
    map_tab = plugin.tabs["Map"]
    assert [map_tab.head_combo.itemText(i) for i in range(map_tab.head_combo.count())] == ["scene", "object", "count"]
    assert map_tab.class_list.count() > 3
    assert set(map_tab.product_checks) == {"prob", "top", "concentration", "entropy", "exceed"}
    assert not map_tab.product_checks["exceed"].isChecked()  # P(share > t) is made only when asked for
    assert map_tab.stride.value() == pytest.approx(8.0)
    assert "16 px at 1 m" in plugin.model_panel.info_label.text()
    assert plugin.model_panel.device_label.text().startswith(("CPU, ", "CUDA: "))


def test_map_run_adds_styled_georeferenced_layers(plugin, world, qtbot, tmp_path):
    layer = _add_raster(world["raster"], "overhead")
    plugin.model_panel.set_model(str(world["model"]))
    map_tab = plugin.tabs["Map"]
    map_tab.layer_combo.setLayer(layer)
    map_tab.out_dir.setFilePath(str(tmp_path))
    assert "tiles (" in map_tab.estimate_label.text()
    map_tab.class_list.item(0).setCheckState(Qt.CheckState.Checked)
    map_tab.class_list.item(1).setCheckState(Qt.CheckState.Checked)
    task = _run_and_wait(qtbot, map_tab)
    assert task.error is None, task.error
    group = QgsProject.instance().layerTreeRoot().children()[0]
    assert group.name() == "xview #1 scene · overhead"
    nodes = group.findLayers()
    names = [node.layer().name() for node in nodes]
    first, second = map_tab.class_list.item(0).text(), map_tab.class_list.item(1).text()
    assert names[:3] == ["#1 most likely class · scene", f"#1 P({first}) · scene", f"#1 P({second}) · scene"]
    # one layer shown by default: the most likely class, semi-transparent, its legend open; the rest off
    assert [node.itemVisibilityChecked() for node in nodes] == [True] + [False] * (len(nodes) - 1)
    assert nodes[0].isExpanded() and not any(node.isExpanded() for node in nodes[1:])
    top = map_tab.last_layers[0]
    assert isinstance(top.renderer(), QgsPalettedRasterRenderer) and 0.3 < top.opacity() < 1
    assert all(c.label for c in top.renderer().classes())
    prob = map_tab.last_layers[1]
    assert isinstance(prob.renderer(), QgsSingleBandPseudoColorRenderer)
    assert prob.crs() == layer.crs() and layer.extent().contains(prob.extent())
    assert prob.rasterUnitsPerPixelX() == pytest.approx(8.0, rel=1e-3)  # 8 m on the ground, UTM scale
    (tmp_path / "exported").mkdir()
    copied = map_tab.export(str(tmp_path / "exported"))
    assert {p.name for p in copied} >= {"products.json", "scene_prob.tif"}
    assert "tiles/s" in map_tab.update_estimate()
    assert _run_and_wait(qtbot, map_tab).error is None  # a second run: no group or layer name is shared
    second_group = QgsProject.instance().layerTreeRoot().children()[0]
    assert second_group.name() == "xview #2 scene · overhead"
    assert not {n.layer().name() for n in second_group.findLayers()} & set(names)
    del top, prob, layer, nodes


def test_cancel_leaves_no_layer_and_no_file(plugin, world, qtbot, tmp_path):
    layer = _add_raster(world["raster"], "overhead")
    plugin.model_panel.set_model(str(world["model"]))
    map_tab = plugin.tabs["Map"]
    map_tab.layer_combo.setLayer(layer)
    map_tab.out_dir.setFilePath(str(tmp_path))
    map_tab.stride.setValue(1.0)  # many tiles: the run is still going when Cancel is pressed
    qtbot.mouseClick(map_tab.controls.run_button, Qt.MouseButton.LeftButton)
    task = map_tab.controls.task
    qtbot.mouseClick(map_tab.controls.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: map_tab.controls.task is None, timeout=TIMEOUT_MS)
    assert task.cancelled and task not in tasks.RUNNING
    assert [lyr.name() for lyr in QgsProject.instance().mapLayers().values()] == ["overhead"]
    assert list(tmp_path.rglob("*")) == []
    del layer


@pytest.mark.skipif(not (SHARED_DATA / "bad").is_dir(), reason="../shared/data is absent (a user's clone)")
@pytest.mark.parametrize("name", ["corrupt.tif", "all-nodata.tif", "no_georef.tif", "float_nan.tif"])
def test_bad_rasters_end_in_the_message_bar(plugin, world, qtbot, tmp_path, name, qgis_iface):
    shutil.copy(SHARED_DATA / "bad" / name, tmp_path / name)
    layer = _add_raster(tmp_path / name, name)
    plugin.model_panel.set_model(str(world["model"]))
    map_tab = plugin.tabs["Map"]
    map_tab.layer_combo.setLayer(layer)
    qgis_iface.messageBar().clearWidgets()
    task = map_tab.run()
    if task is not None:
        qtbot.waitUntil(lambda: map_tab.controls.task is None, timeout=TIMEOUT_MS)
    bar = qgis_iface.messageBar()
    if task is not None and task.error is None:  # a correct result is fine too (NaN as nodata)
        assert map_tab.last_layers
        return
    assert bar.currentItem() is not None
    text = bar.currentItem().text()
    assert "bug" not in text and len(text.splitlines()) == 1
    del layer


def test_geolocate_adds_heatmap_candidates_and_truth(plugin, world, qtbot):
    layer = _add_raster(world["raster"], "overhead")
    plugin.model_panel.set_model(str(world["model"]))
    tab = plugin.tabs["Geolocate"]
    tab.layer_combo.setLayer(layer)
    tab.photo.setFilePath(str(world["photo"]))
    assert tab.exif_label.text().startswith("GPS ")
    assert not tab.thumbnail.pixmap().isNull()
    tab.labels.setFilePath(str(world["labels"]))
    tab.index.setFilePath(str(world["index"]))
    assert tab.build_params(Path(str(world["index"])).parent)[0].fov_deg is None  # 360: a panorama
    tab.fov.setValue(70)
    assert tab.build_params(Path(str(world["index"])).parent)[0].fov_deg == 70.0
    tab.fov.setValue(360)
    task = _run_and_wait(qtbot, tab)
    assert task.error is None, task.error
    truth, candidates, heatmap = tab.last_layers
    assert candidates.featureCount() == 10
    ranks = [f["rank"] for f in candidates.getFeatures()]
    assert ranks == list(range(1, 11))
    assert truth.featureCount() == 1 and truth.getFeature(1)["rank"] >= 1
    assert isinstance(heatmap.renderer(), QgsSingleBandPseudoColorRenderer)
    assert heatmap.crs() == layer.crs()
    del truth, candidates, heatmap, layer


def test_search_builder_and_run(plugin, world, qtbot):
    layer = _add_raster(world["raster"], "overhead")
    plugin.model_panel.set_model(str(world["model"]))
    tab = plugin.tabs["Search"]
    tab.layer_combo.setLayer(layer)
    tab.head.setCurrentText("scene")
    tab.cls.setCurrentIndex(0)
    query = tab.add_term()
    assert query.startswith('scene:"') and tab.check()
    tab.query.setText("scene:nosuchclass")
    assert not tab.check() and "nosuchclass" in tab.check_label.text()
    tab.query.setText(query)
    task = _run_and_wait(qtbot, tab)
    assert task.error is None, task.error
    assert tab.last_layers[0].name() == f"search: {query}"
    del layer


def test_search_of_a_time_aware_model_runs_at_the_map_tabs_time(plugin, qtbot, tmp_path):
    import rasterio
    from qgis.PyQt.QtCore import QDate, QDateTime, QTime
    from qgis_support import rgb_geotiff
    from time_fixtures import tiny_time_model

    layer = _add_raster(rgb_geotiff(tmp_path / "rgb.tif", size=(48, 64), pixel=2.0), "overhead")
    plugin.model_panel.set_model(str(tiny_time_model(tmp_path)))
    plugin.tabs["Map"].time_picker.when.setDateTime(QDateTime(QDate(2026, 7, 1), QTime(9, 30)))
    tab = plugin.tabs["Search"]
    tab.layer_combo.setLayer(layer)
    tab.out_dir.setFilePath(str(tmp_path / "out"))
    tab.query.setText("snow:snow")
    assert not tab.time_note.isHidden() and "Map tab's time" in tab.time_note.text()
    task = _run_and_wait(qtbot, tab)
    assert task.error is None, task.error
    with rasterio.open(task.result.path) as ds:
        assert ds.tags()["xview_time"] == "2026-07-01T09:30"
    assert tab.last_layers[0].name() == "search: snow:snow @2026-07-01T09:30"
    plugin.model_panel.set_model("")
    assert tab.time_note.isHidden()
    del layer


def test_whats_here_reads_the_last_run_at_a_point(plugin, world, qtbot, tmp_path):
    from qgis.core import QgsPointXY

    from xview_qgis.whats_here import describe, sample_products

    layer = _add_raster(world["raster"], "overhead")
    plugin.model_panel.set_model(str(world["model"]))
    map_tab = plugin.tabs["Map"]
    map_tab.layer_combo.setLayer(layer)
    map_tab.out_dir.setFilePath(str(tmp_path))
    assert _run_and_wait(qtbot, map_tab).error is None
    centre = layer.extent().center()
    samples = sample_products(map_tab.last_layers, QgsPointXY(centre), layer.crs())
    assert set(samples) == {"scene prob", "scene top"}
    values = [v for _, v in samples["scene prob"]]
    assert values == sorted(values, reverse=True) and 0 < values[0] <= 1
    text = describe(samples)
    assert "most likely" in text and samples["scene top"][0][0] in text
    assert "run Map" in describe(sample_products([], QgsPointXY(centre), layer.crs()))
    map_tab.whats_here.button.setChecked(True)
    map_tab.whats_here.tool.canvasClicked.emit(QgsPointXY(centre), Qt.MouseButton.LeftButton)
    assert "most likely" in map_tab.whats_here.answer.text()
    map_tab.whats_here.button.setChecked(False)
    del layer
