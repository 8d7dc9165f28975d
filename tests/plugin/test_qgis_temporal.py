"""Time-aware maps in real headless QGIS: the Map tab's time picker, month layers for the Temporal Controller."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_qgis.utils import process_events
from qgis.core import QgsDateTimeRange, QgsProject, QgsRasterLayer
from qgis.gui import QgsMessageBar
from qgis.PyQt.QtCore import QDate, QDateTime, Qt, QTime
from qgis_support import dock_into_window, opened_plugin, rgb_geotiff, tiny_model
from time_fixtures import tiny_time_model

from xview_engine.mapping.map import MapParams, run_map
from xview_qgis import styling, temporal
from xview_qgis.bandmeta import parse_band_description


def _at(year: int, month: int, day: int) -> QDateTime:
    return QDateTime(QDate(year, month, day), QTime(0, 0))


@pytest.fixture
def month_map(tmp_path) -> Path:
    raster = rgb_geotiff(tmp_path / "rgb.tif", size=(48, 64), pixel=2.0)
    run_map(MapParams(raster=str(raster), model=str(tiny_time_model(tmp_path)), out_dir=str(tmp_path / "map"),
                      head="snow", months="1-12", classes=("snow",), products=("prob", "top"), runtime="torch",
                      device="cpu"))
    return tmp_path / "map" / "products.json"


def test_band_metadata_gives_each_band_its_month(month_map) -> None:
    ranges = temporal.band_time_ranges(month_map.parent / "snow_prob.tif")
    assert sorted(ranges) == list(range(1, 13))
    assert ranges[1].begin() == _at(2026, 1, 1) and ranges[1].end() == _at(2026, 2, 1)
    assert ranges[12].end() == _at(2027, 1, 1)
    assert not ranges[3].includeEnd() and ranges[3].includeBeginning()
    assert parse_band_description("snow:prob:snow @2026-03").time == "2026-03"
    assert parse_band_description("snow:prob:snow @2026-03").class_name == "snow"
    assert parse_band_description("snow:top @2026-03").product == "top"


def test_month_map_opens_for_the_temporal_controller(qgis_new_project, month_map) -> None:
    project = QgsProject.instance()
    layers = styling.add_products_to_project(month_map, "xview #1 snow", project, prefix="#1")
    assert all(temporal.is_temporal(layer) for layer in layers)
    group = project.layerTreeRoot().findGroup("xview #1 snow")
    january = QgsDateTimeRange(_at(2026, 1, 10), _at(2026, 1, 11))
    july = QgsDateTimeRange(_at(2026, 7, 10), _at(2026, 7, 11))
    if temporal.per_band_mode() is None:  # QGIS before 3.38: one layer per month, each its month's fixed range
        assert len(layers) == 24  # prob and top, 12 months each
        prob = [lyr for lyr in layers if lyr.source().endswith("snow_prob.tif")]
        assert len(prob) == 12
        mode = prob[0].temporalProperties().ModeFixedTemporalRange
        assert all(lyr.temporalProperties().mode() == mode for lyr in prob)
        shown_jan = [lyr for lyr in prob if lyr.temporalProperties().isVisibleInTemporalRange(january)]
        shown_jul = [lyr for lyr in prob if lyr.temporalProperties().isVisibleInTemporalRange(july)]
        assert len(shown_jan) == len(shown_jul) == 1 and shown_jan[0] is not shown_jul[0]
        assert shown_jul[0].renderer().band() == 7 and shown_jul[0].name().endswith("2026-07")
        # the most likely class is the product switched on: its twelve months, so scrubbing shows a month at a time
        top = [lyr for lyr in layers if lyr.source().endswith("snow_top.tif")]
        assert layers[:12] == top
        assert all(group.findLayer(lyr.id()).isVisible() for lyr in top)
        assert not any(group.findLayer(lyr.id()).itemVisibilityChecked() for lyr in prob)
        assert all(lyr.name().startswith("#1 ") for lyr in layers)
    else:  # QGIS 3.38+: one layer per class, each band its month
        assert len(layers) == 2
        per_band = layers[0].temporalProperties().fixedRangePerBand()
        assert sorted(per_band) == list(range(1, 13))
    span = project.timeSettings().temporalRange()
    assert span.begin() == _at(2026, 1, 1) and span.end() == _at(2027, 1, 1)


def test_time_blind_maps_open_as_before(qgis_new_project, tmp_path) -> None:
    raster = rgb_geotiff(tmp_path / "rgb.tif", size=(48, 64), pixel=1.0)
    run_map(MapParams(raster=str(raster), model=str(tiny_model(tmp_path)), out_dir=str(tmp_path / "m"),
                      runtime="torch", device="cpu"))
    layers = styling.add_products_to_project(tmp_path / "m" / "products.json", "blind", QgsProject.instance())
    assert layers and not any(temporal.is_temporal(lyr) for lyr in layers)


@pytest.fixture
def plugin(qgis_iface, qgis_parent, monkeypatch, qgis_new_project):
    bar = QgsMessageBar(qgis_parent)
    dock_into_window(qgis_iface, qgis_parent, bar, monkeypatch)
    with opened_plugin(qgis_iface) as started:
        yield started
    bar.deleteLater()
    process_events()


def test_the_map_tab_picks_the_time_of_a_time_aware_model(plugin, qtbot, tmp_path) -> None:
    map_tab = plugin.tabs["Map"]
    picker = map_tab.time_picker
    plugin.model_panel.set_model(str(tiny_model(tmp_path)))
    assert picker.isHidden()
    plugin.model_panel.set_model(str(tiny_time_model(tmp_path)))
    assert not picker.isHidden()
    raster = rgb_geotiff(tmp_path / "rgb.tif", size=(48, 64), pixel=2.0)
    layer = QgsRasterLayer(str(raster), "rgb", "gdal")
    QgsProject.instance().addMapLayer(layer)
    map_tab.layer_combo.setLayer(layer)
    map_tab.out_dir.setFilePath(str(tmp_path / "out"))
    picker.first_month.setValue(11)
    picker.last_month.setValue(2)
    picker.when.setDateTime(QDateTime(QDate(2026, 1, 20), QTime(8, 30)))
    params, _ = map_tab.build_params(str(tmp_path / "x"))
    assert (params.months, params.time) == ("11-2", "2026-01-20T08:30")
    picker.mode.setCurrentText("One time")
    assert not picker.first_month.isEnabled()
    params, _ = map_tab.build_params(str(tmp_path / "x"))
    assert (params.months, params.time) == (None, "2026-01-20T08:30")
    picker.mode.setCurrentText("Every month")
    map_tab.head_combo.setCurrentText("snow")
    qtbot.mouseClick(map_tab.controls.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: map_tab.controls.task is None, timeout=60_000)
    assert map_tab.last_layers and all(temporal.is_temporal(lyr) for lyr in map_tab.last_layers)
    months = {lyr.temporalProperties().fixedTemporalRange().begin().date().month() for lyr in map_tab.last_layers}
    assert months == {11, 12, 1, 2} or temporal.per_band_mode() is not None


def test_processing_map_takes_the_months(qgis_app, tmp_path) -> None:
    import processing
    from processing.core.Processing import Processing
    from qgis.core import QgsApplication, QgsProcessingException, QgsProcessingFeedback

    from xview_qgis.processing.provider import XviewProvider

    Processing.initialize()
    provider = XviewProvider()
    QgsApplication.processingRegistry().addProvider(provider)
    try:
        raster = rgb_geotiff(tmp_path / "rgb.tif", size=(48, 64), pixel=2.0)
        base = {"INPUT": str(raster), "MODEL": str(tiny_time_model(tmp_path)), "HEAD": "snow", "PRODUCTS": [0],
                "DEVICE": 1, "LOAD": False}
        out = processing.run("xview:map", {**base, "MONTHS": "6-8", "OUTPUT": str(tmp_path / "m")},
                             feedback=QgsProcessingFeedback())
        assert sorted(temporal.band_time_ranges(Path(out["OUTPUT"]) / "snow_prob.tif")) == list(range(1, 7))
        with pytest.raises(QgsProcessingException, match="give --time"):
            processing.run("xview:map", {**base, "OUTPUT": str(tmp_path / "n")}, feedback=QgsProcessingFeedback())
    finally:
        QgsApplication.processingRegistry().removeProvider(provider)
