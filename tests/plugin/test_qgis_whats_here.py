"""The "What's here" tool computing on the spot (no run covers the point, or asked to) in headless QGIS."""

from __future__ import annotations

from qgis.core import QgsPointXY
from qgis.PyQt.QtCore import Qt
from test_qgis_dock import TIMEOUT_MS, _add_raster, _run_and_wait, iface, plugin, world  # noqa: F401 (fixtures)

from xview_qgis import tasks


def _click(qtbot, map_tab, point: QgsPointXY) -> str:
    tool = map_tab.whats_here.tool
    tool.canvasClicked.emit(point, Qt.MouseButton.LeftButton)
    if tool.task is not None:
        qtbot.waitUntil(lambda: tool.task not in tasks.RUNNING, timeout=TIMEOUT_MS)
    return map_tab.whats_here.answer.text()


def _ready(plugin, world, qgis_iface):  # noqa: F811
    layer = _add_raster(world["raster"], "overhead")
    plugin.model_panel.set_model(str(world["model"]))
    map_tab = plugin.tabs["Map"]
    map_tab.layer_combo.setLayer(layer)
    qgis_iface.mapCanvas().setDestinationCrs(layer.crs())
    map_tab.whats_here.button.setChecked(True)
    return layer, map_tab


def test_without_a_run_the_tile_is_computed_on_the_spot(plugin, world, qtbot, qgis_iface):  # noqa: F811
    from xview_engine.mapping.point import describe_point
    from xview_engine.model.runtime import load_runtime
    from xview_engine.raster.source import RasterioSource

    layer, map_tab = _ready(plugin, world, qgis_iface)
    centre = layer.extent().center()
    text = _click(qtbot, map_tab, QgsPointXY(centre))
    assert text.startswith("Computed now for the 16 m tile") and "most likely" in text  # as read in the panel
    assert "font-style:italic" in map_tab.whats_here.answer.toHtml()
    assert map_tab.whats_here.tool.task.error is None
    with RasterioSource(world["raster"], 3, ("red", "green", "blue")) as source:  # the engine, called directly
        summary = describe_point(source, load_runtime(world["model"], "torch", "cpu"), centre.x(), centre.y())
    for head in summary.heads:
        assert any(line.startswith(f"{head.head} ") or line.startswith(f"{head.head}:") for line in text.splitlines())
        assert head.top[0][0] in text
    outside = _click(qtbot, map_tab, QgsPointXY(centre.x() + 10_000, centre.y()))
    assert outside.startswith("Cannot compute here") and "outside the raster" in outside
    map_tab.whats_here.button.setChecked(False)
    del layer


def test_last_run_is_read_unless_asked_to_compute(plugin, world, qtbot, qgis_iface, tmp_path):  # noqa: F811
    layer, map_tab = _ready(plugin, world, qgis_iface)
    map_tab.out_dir.setFilePath(str(tmp_path))
    assert _run_and_wait(qtbot, map_tab).error is None
    centre = QgsPointXY(layer.extent().center())
    sampled = _click(qtbot, map_tab, centre)
    assert "most likely" in sampled and "Computed now" not in sampled
    map_tab.whats_here.always_compute.setChecked(True)
    assert "Computed now" in _click(qtbot, map_tab, centre)
    map_tab.whats_here.button.setChecked(False)
    del layer


def test_without_a_model_the_panel_says_what_to_do(plugin, world, qtbot, qgis_iface):  # noqa: F811
    layer = _add_raster(world["raster"], "overhead")
    plugin.model_panel.set_model("")  # no model, not even the shipped default
    map_tab = plugin.tabs["Map"]
    qgis_iface.mapCanvas().setDestinationCrs(layer.crs())
    map_tab.whats_here.button.setChecked(True)
    text = _click(qtbot, map_tab, QgsPointXY(layer.extent().center()))
    assert text.startswith("Cannot compute here") and "choose a model" in text
    map_tab.whats_here.button.setChecked(False)
    del layer


def test_a_time_aware_model_answers_at_the_map_tabs_time(plugin, world, qtbot, qgis_iface, tmp_path):  # noqa: F811
    """The picker's time goes into the answer, and changes it as the engine says it should."""
    from qgis.PyQt.QtCore import QDate, QDateTime, QTime
    from qgis_support import rgb_geotiff
    from time_fixtures import tiny_time_model

    from xview_engine.mapping.point import describe_point
    from xview_engine.model.runtime import load_runtime
    from xview_engine.model.time_features import parse_time
    from xview_engine.raster.source import RasterioSource

    raster = rgb_geotiff(tmp_path / "rgb.tif", size=(48, 64), pixel=2.0)
    layer = _add_raster(raster, "overhead")
    model = tiny_time_model(tmp_path)
    plugin.model_panel.set_model(str(model))
    map_tab = plugin.tabs["Map"]
    map_tab.layer_combo.setLayer(layer)
    qgis_iface.mapCanvas().setDestinationCrs(layer.crs())
    map_tab.whats_here.button.setChecked(True)
    map_tab.whats_here.always_compute.setChecked(True)
    picker = map_tab.time_picker
    assert not picker.isHidden()
    centre = QgsPointXY(layer.extent().center())
    answers = {}
    for month in (1, 7):
        picker.when.setDateTime(QDateTime(QDate(2026, month, 15), QTime(8, 0)))
        answers[month] = _click(qtbot, map_tab, centre)
        assert map_tab.whats_here.tool.task.error is None, answers[month]
        assert f"at 2026-{month:02d}-15T08:00" in answers[month]
    with RasterioSource(raster, 3, ("red", "green", "blue")) as source:
        runtime = load_runtime(model, "torch", "cpu")
        engine = {m: describe_point(source, runtime, centre.x(), centre.y(), when=parse_time(f"2026-{m:02d}-15T08:00"))
                  for m in (1, 7)}
    for month, summary in engine.items():
        snow = next(h for h in summary.heads if h.head == "snow")
        assert f"{snow.top[0][0]} {snow.top[0][1]:.2f}" in answers[month]
    assert answers[1] != answers[7] or engine[1].heads == engine[7].heads
    map_tab.whats_here.always_compute.setChecked(False)
    map_tab.whats_here.button.setChecked(False)
    del layer
