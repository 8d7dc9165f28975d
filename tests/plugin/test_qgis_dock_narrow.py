"""The dock at the width QGIS gives it (about 300 px), driven through its buttons, and the small things that
misled a new user: what the model field, the Recent box, the tile estimate and the message bar say.

Geometry is checked the way a user sees it: a widget is in sight when its rectangle, mapped into the
dock, lies inside the dock and Qt reports a non-empty visible region for it.
"""

from __future__ import annotations

import shutil

import pytest
from pytest_qgis.utils import process_events
from qgis.core import Qgis, QgsProject
from qgis.PyQt.QtCore import QPoint, QRect, Qt
from qgis_support import rgb_geotiff, tiny_model
from test_qgis_dock import _add_raster, _run_and_wait, iface, plugin, world  # noqa: F401 (fixtures)

DOCK_WIDTH, DOCK_HEIGHT = 300, 700


def _narrow(plugin, qtbot):  # noqa: F811
    plugin.dock.setFloating(True)
    plugin.dock.resize(DOCK_WIDTH, DOCK_HEIGHT)
    qtbot.wait(50)
    process_events()
    return plugin.dock


def in_sight(widget, dock) -> bool:
    """Whether all of ``widget`` lies inside the dock and Qt draws some of it."""
    rect = QRect(widget.mapTo(dock, QPoint(0, 0)), widget.size())
    return widget.isVisible() and dock.rect().contains(rect) and not widget.visibleRegion().isEmpty()


def _bar_text(iface) -> tuple[str, int]:  # noqa: F811
    item = iface.messageBar().currentItem()
    return (item.text(), item.level()) if item is not None else ("", -1)


def test_buttons_progress_and_answers_stay_in_sight_at_300_px(plugin, world, qtbot, tmp_path):  # noqa: F811
    from qgis.core import QgsPointXY

    layer = _add_raster(world["raster"], "overhead")
    plugin.model_panel.set_model(str(world["model"]))
    dock = _narrow(plugin, qtbot)
    map_tab = plugin.tabs["Map"]
    map_tab.layer_combo.setLayer(layer)
    map_tab.out_dir.setFilePath(str(tmp_path))
    assert dock.width() == DOCK_WIDTH
    for widget in (map_tab.controls.run_button, map_tab.controls.cancel_button, map_tab.controls.progress,
                   map_tab.whats_here.button, map_tab.estimate_label):
        assert in_sight(widget, dock), widget.objectName() or widget.text()
    viewport = map_tab.parentWidget()
    for checkbox in map_tab.product_checks.values():  # none cut at the right edge of the scrolling form
        assert checkbox.mapTo(viewport, QPoint(checkbox.width(), 0)).x() <= viewport.width(), checkbox.text()
    task = _run_and_wait(qtbot, map_tab)  # the Map button clicked at this width
    assert task.error is None, task.error
    assert map_tab.controls.progress.value() == 100 and in_sight(map_tab.controls.progress, dock)
    qtbot.mouseClick(map_tab.whats_here.button, Qt.MouseButton.LeftButton)
    assert map_tab.whats_here.button.isChecked()
    map_tab.whats_here.tool.canvasClicked.emit(QgsPointXY(layer.extent().center()), Qt.MouseButton.LeftButton)
    answer = map_tab.whats_here.answer
    assert "most likely" in answer.text() and in_sight(answer, dock)
    assert answer.document().idealWidth() <= answer.viewport().width() + 1  # wrapped, not cut at the right
    qtbot.mouseClick(map_tab.whats_here.button, Qt.MouseButton.LeftButton)
    for title in ("Geolocate", "Search"):
        dock.tabs.setCurrentIndex([dock.tabs.tabText(i) for i in range(dock.tabs.count())].index(title))
        qtbot.wait(20)
        controls = plugin.tabs[title].controls
        assert all(in_sight(w, dock) for w in (controls.run_button, controls.cancel_button, controls.progress))
    del layer


def test_long_model_and_teacher_paths_are_elided_in_the_middle(plugin, world, qtbot, tmp_path):  # noqa: F811
    deep = tmp_path / "a-rather-long-folder-name-for-models" / "and-another-level-of-folders"
    deep.mkdir(parents=True)
    path = shutil.copy(world["model"], deep / "r50.safetensors")
    plugin.model_panel.set_model(str(path))
    _narrow(plugin, qtbot)
    elide = plugin.model_panel.path_elide
    shown = elide.shown_text()
    assert "…" in shown and shown.endswith("/r50.safetensors") and shown.startswith("/")
    assert str(path) in plugin.model_panel.file_widget.lineEdit().toolTip()
    assert plugin.model_panel.model_path == str(path)  # the field itself keeps the whole path
    assert not plugin.model_panel.file_widget.grab().isNull()
    tab = plugin.tabs["Geolocate"]
    tab.teachers.setText(f"synthetic={path}")
    assert "…" in tab.teachers_elide.shown_text() and str(path) in tab.teachers.toolTip()


def test_a_file_that_is_not_a_model_is_named_and_recent_agrees(plugin, world, qtbot, tmp_path, iface):  # noqa: F811
    panel, map_tab = plugin.model_panel, plugin.tabs["Map"]
    panel.set_model(str(world["model"]))
    assert panel.recent.currentData() == str(world["model"])
    notes = tmp_path / "notes.safetensors"
    notes.write_text("not a model")
    panel.set_model(str(notes))
    assert panel.recent.currentData() in (None, "")  # not still naming the previous model
    assert "notes.safetensors" in panel.info_label.text()
    layer = _add_raster(world["raster"], "overhead")
    map_tab.layer_combo.setLayer(layer)
    assert map_tab.estimate_label.text().startswith("No model: ")
    out = tmp_path / "runs"
    map_tab.out_dir.setFilePath(str(out))
    iface.messageBar().clearWidgets()
    assert map_tab.run() is None
    text, _ = _bar_text(iface)
    assert "not usable" in text and "notes.safetensors" in text and "choose a model file first" not in text
    assert not list(out.rglob("*"))  # no empty run folder left behind by the refused run
    for tab in (plugin.tabs["Search"], plugin.tabs["Geolocate"]):  # the other tabs say the same
        tab.layer_combo.setLayer(layer)
        iface.messageBar().clearWidgets()
        if tab is plugin.tabs["Geolocate"]:
            tab.photo.setFilePath(str(world["photo"]))
        assert tab.run() is None and "notes.safetensors" in _bar_text(iface)[0]
    panel.recent.setCurrentIndex(panel.recent.findData(str(world["model"])))
    panel.recent.activated.emit(panel.recent.currentIndex())
    assert panel.model_path == str(world["model"]) and panel.manifest is not None
    panel.set_model("")
    assert map_tab.run() is None and "choose a model file first" in _bar_text(iface)[0]
    del layer


def test_estimate_follows_layers_and_says_the_snapped_stride(plugin, world, qtbot, tmp_path):  # noqa: F811
    map_tab = plugin.tabs["Map"]
    plugin.model_panel.set_model(str(tiny_model(tmp_path, gsd_m=2.0)))  # 16 px at 2 m
    small = _add_raster(rgb_geotiff(tmp_path / "small.tif", pixel=1.0), "small")
    large = _add_raster(rgb_geotiff(tmp_path / "large.tif", pixel=4.0), "large")
    map_tab.layer_combo.setLayer(small)
    small_text = map_tab.estimate_label.text()
    map_tab.layer_combo.setLayer(large)
    assert map_tab.estimate_label.text() != small_text and "tiles (" in map_tab.estimate_label.text()
    map_tab.stride.setValue(3.0)  # 1.5 model pixels: runs as 2 pixels = 4 m, and says so before the run
    assert "stride 3 m runs as 4 m" in map_tab.estimate_label.text()
    map_tab.stride.setValue(2.0)
    assert "runs as" not in map_tab.estimate_label.text()
    huge = _add_raster(rgb_geotiff(tmp_path / "huge.tif", size=(2000, 2000), pixel=8.0), "huge")
    map_tab.layer_combo.setLayer(huge)
    text = map_tab.estimate_label.text()
    assert text.startswith("Too many tiles") and "--" not in text and "stride" in text
    QgsProject.instance().removeMapLayers([huge.id(), large.id(), small.id()])
    process_events()
    assert map_tab.estimate_label.text() == "Choose a raster layer to see the tile count."
    del small, large, huge


@pytest.mark.parametrize("synthetic_raster", [False, True])
def test_synthetic_model_on_real_imagery_warns(plugin, world, qtbot, tmp_path, iface, synthetic_raster):  # noqa: F811
    plugin.model_panel.set_model(str(tiny_model(tmp_path, gsd_m=1.0, synthetic=True)))
    raster = world["raster"] if synthetic_raster else rgb_geotiff(tmp_path / "aerial.tif")
    layer = _add_raster(raster, "imagery")
    map_tab = plugin.tabs["Map"]
    map_tab.layer_combo.setLayer(layer)
    map_tab.out_dir.setFilePath(str(tmp_path / "runs"))
    map_tab.stride.setValue(16.0)
    iface.messageBar().clearWidgets()
    assert _run_and_wait(qtbot, map_tab).error is None
    text, level = _bar_text(iface)
    if synthetic_raster:
        assert level == Qgis.MessageLevel.Success and "mean nothing" not in text
    else:
        assert level == Qgis.MessageLevel.Warning
        assert "mean nothing on real imagery" in text and "xview train distill" in text
    del layer


def test_geolocation_heatmap_on_top_and_truth_outside_the_area(plugin, world, qtbot, tmp_path, iface):  # noqa: F811
    from qgis.core import QgsSingleBandPseudoColorRenderer

    plugin.model_panel.set_model(str(world["model"]))
    elsewhere = _add_raster(rgb_geotiff(tmp_path / "elsewhere.tif"), "elsewhere")  # far from the photo's EXIF
    tab = plugin.tabs["Geolocate"]
    tab.layer_combo.setLayer(elsewhere)
    tab.photo.setFilePath(str(world["photo"]))
    tab.labels.setFilePath(str(world["labels"]))
    iface.messageBar().clearWidgets()
    task = _run_and_wait(qtbot, tab)
    assert task.error is None, task.error
    text, level = _bar_text(iface)
    assert "lies outside the searched area" in text and level == Qgis.MessageLevel.Warning
    assert "outside the searched area" in tab.result_label.text()
    root = QgsProject.instance().layerTreeRoot()
    assert root.children()[0].name().startswith("xview #") and "geolocate" in root.children()[0].name()
    heatmap = tab.last_layers[-1]
    assert isinstance(heatmap.renderer(), QgsSingleBandPseudoColorRenderer) and heatmap.opacity() < 1
    labels = [i.label for i in heatmap.renderer().shader().rasterShaderFunction().colorRampItemList()]
    assert labels[-1].startswith("best 1 %")
    del heatmap, elsewhere
