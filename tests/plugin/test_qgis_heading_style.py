"""Heading arrows in real headless QGIS: a data-defined angle on the heading field, drawn where it points."""

from __future__ import annotations

import numpy as np
import pytest
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsExpressionContext,
    QgsExpressionContextUtils,
    QgsMapRendererCustomPainterJob,
    QgsMapSettings,
    QgsRectangle,
    QgsSymbolLayer,
)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor, QImage, QPainter

from xview_engine.localization.localize import Candidate
from xview_qgis.points import candidate_layer, truth_layer

UTM = QgsCoordinateReferenceSystem("EPSG:32633")


def _candidates(headings):
    return [Candidate(i + 1, i, 0, i, 500_000.0 + 1000.0 * i, 5_800_000.0, 15.0, 52.3, -1.0 - i, 0.5,
                      {} if h is None else {"heading_deg": h}) for i, h in enumerate(headings)]


def _render(layer, extent: QgsRectangle) -> np.ndarray:
    settings = QgsMapSettings()
    settings.setLayers([layer])
    settings.setDestinationCrs(layer.crs())
    settings.setExtent(extent)
    settings.setOutputSize(QSize(200, 200))
    settings.setBackgroundColor(QColor(255, 255, 255))
    image = QImage(QSize(200, 200), QImage.Format.Format_ARGB32)
    image.fill(QColor(255, 255, 255))
    painter = QPainter(image)
    job = QgsMapRendererCustomPainterJob(settings, painter)
    job.start()
    job.waitForFinished()
    painter.end()
    ptr = image.constBits()
    ptr.setsize(image.sizeInBytes())
    bgra = np.frombuffer(ptr, np.uint8).reshape(200, 200, 4)
    return bgra[:, :, [2, 1, 0]].astype(int)


def _arrow_centre(rgb: np.ndarray) -> tuple[float, float]:
    """Mean (column, row) of the arrow's yellow pixels (#ffd92f)."""
    yellow = (rgb[:, :, 0] > 230) & (rgb[:, :, 1] > 190) & (rgb[:, :, 1] < 235) & (rgb[:, :, 2] < 110)
    assert yellow.sum() > 10, "no arrow drawn"
    rows, cols = np.nonzero(yellow)
    return float(cols.mean()), float(rows.mean())


def test_candidate_arrows_turn_with_the_heading_field_and_skip_null_headings():
    layer = candidate_layer(_candidates([30.0, None]), UTM)
    symbol = layer.renderer().symbol()
    assert symbol.symbolLayerCount() == 2
    arrow = symbol.symbolLayer(1)
    angle = arrow.dataDefinedProperties().property(QgsSymbolLayer.Property.PropertyAngle)
    assert angle.isActive() and '"heading"' in angle.expressionString()
    enabled = arrow.dataDefinedProperties().property(QgsSymbolLayer.Property.PropertyLayerEnabled)
    context = QgsExpressionContext(QgsExpressionContextUtils.globalProjectLayerScopes(layer))
    values = []
    for feature in layer.getFeatures():
        context.setFeature(feature)
        values.append((angle.valueAsDouble(context, 0.0)[0], enabled.valueAsBool(context, True)[0]))
    assert values == [(30.0, True), (0.0, False)]
    del layer


@pytest.mark.parametrize("crs", ["EPSG:32633", "EPSG:32634", "EPSG:3857", "EPSG:2056"])
def test_the_arrow_angle_is_turned_from_true_north_to_the_canvas_grid_north(crs):
    """5 degrees east of UTM 33's meridian grid north is ~3.9 degrees clockwise of true north: a true heading of
    30 degrees is drawn at 30 - convergence on a canvas in that CRS (PROJ's meridian convergence); 0 in 3857."""
    from pyproj import Proj, Transformer

    lon, lat = 20.0, 52.0
    x, y = Transformer.from_crs(4326, 32633, always_xy=True).transform(lon, lat)
    layer = candidate_layer([Candidate(1, 0, 0, 0, x, y, lon, lat, -1.0, 0.5, {"heading_deg": 30.0})], UTM)
    angle = layer.renderer().symbol().symbolLayer(1).dataDefinedProperties().property(
        QgsSymbolLayer.Property.PropertyAngle)
    settings = QgsMapSettings()
    settings.setDestinationCrs(QgsCoordinateReferenceSystem(crs))
    context = QgsExpressionContext(QgsExpressionContextUtils.globalProjectLayerScopes(layer))
    context.appendScope(QgsExpressionContextUtils.mapSettingsScope(settings))
    context.setFeature(next(layer.getFeatures()))
    convergence = Proj(crs).get_factors(lon, lat).meridian_convergence
    drawn = angle.valueAsDouble(context, 0.0)[0]
    assert abs((drawn - (30.0 - convergence) + 180) % 360 - 180) < 0.01, (drawn, convergence)
    if crs == "EPSG:32633":
        assert 3.5 < convergence < 4.5  # the case is not a trivial one
    del layer


@pytest.mark.parametrize("heading,dx,dy", [(90.0, 1, 0), (180.0, 0, 1), (270.0, -1, 0), (0.0, 0, -1)])
def test_the_arrow_is_drawn_ahead_of_the_point_in_the_heading_direction(heading, dx, dy):
    """Rendered: the arrow's pixels lie east of the point for 90 degrees, south for 180, and so on."""
    layer = candidate_layer(_candidates([heading]), UTM)
    layer.setLabelsEnabled(False)
    rgb = _render(layer, QgsRectangle(499_900.0, 5_799_900.0, 500_100.0, 5_800_100.0))  # point at the centre
    col, row = _arrow_centre(rgb)
    off = np.array([col - 99.5, row - 99.5])
    assert np.linalg.norm(off) > 3.0
    direction = off / np.linalg.norm(off)
    assert direction @ np.array([dx, dy]) > 0.9, (heading, off)
    del layer


def test_truth_layer_carries_the_true_heading_arrow():
    truth = truth_layer({"lon": 15.0, "lat": 52.3, "source": "exif", "rank": {"combined": 2}, "heading_deg": 200.0})
    assert next(truth.getFeatures())["heading"] == 200.0
    assert truth.renderer().symbol().symbolLayerCount() == 2
    unknown = truth_layer({"lon": 15.0, "lat": 52.3, "source": "labels", "rank": {"combined": 2}})
    value = next(unknown.getFeatures())["heading"]
    assert value is None or str(value) == "NULL"
    del truth, unknown
