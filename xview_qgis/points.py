"""Point layers for geolocation results: the top-k candidates and the photo's true position.

Memory layers (``memory`` provider) styled so that they read on top of the heatmap: numbered
candidates from best (large, white ring) to worst, and the truth as a star, each with a heading
arrow where the method (or the photo's EXIF) gives one (``heading_style``). Values come straight
from the engine's ``Candidate`` objects; nothing is computed here.
"""

from __future__ import annotations

from qgis.core import (
    QgsFeature,
    QgsGeometry,
    QgsMarkerSymbol,
    QgsPalLayerSettings,
    QgsPointXY,
    QgsVectorLayer,
    QgsVectorLayerSimpleLabeling,
)

from xview_qgis.compat import field
from xview_qgis.heading_style import draw_headings

FIELDS = (("rank", "Int"), ("score", "Double"), ("posterior", "Double"), ("heading", "Double"), ("lon", "Double"),
          ("lat", "Double"))


def candidate_layer(candidates, crs) -> QgsVectorLayer:
    """Top-k candidates in the index CRS (x, y): rank, score, posterior, and a heading when the method gives one."""
    layer = QgsVectorLayer(f"Point?crs={crs.authid() or 'wkt:' + crs.toWkt()}", "top candidates", "memory")
    provider = layer.dataProvider()
    provider.addAttributes([field(name, kind) for name, kind in FIELDS])
    layer.updateFields()
    features = []
    for c in candidates:
        feature = QgsFeature(layer.fields())
        feature.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(c.x, c.y)))
        heading = (getattr(c, "extras", None) or {}).get("heading_deg")  # what a twin-network method adds
        feature.setAttributes([c.rank, c.score, c.posterior, heading, c.lon, c.lat])
        features.append(feature)
    provider.addFeatures(features)
    layer.updateExtents()
    layer.renderer().setSymbol(QgsMarkerSymbol.createSimple(
        {"name": "circle", "color": "#1f77b4", "outline_color": "#ffffff", "outline_width": "0.6", "size": "4"}))
    draw_headings(layer)
    _label_with(layer, "rank")
    return layer


def truth_layer(truth: dict) -> QgsVectorLayer:
    """The photo's true position (EXIF GPS or label file), with the rank of its tile when it was indexed."""
    layer = QgsVectorLayer("Point?crs=EPSG:4326", "true location", "memory")
    provider = layer.dataProvider()
    provider.addAttributes([field("rank", "Int"), field("source", "String"),
                            field("best_candidate_distance_m", "Double"), field("heading", "Double")])
    layer.updateFields()
    feature = QgsFeature(layer.fields())
    feature.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(truth["lon"], truth["lat"])))
    rank = (truth.get("rank") or {}).get("combined")
    feature.setAttributes([rank, truth.get("source"), truth.get("best_candidate_distance_m"), truth.get("heading_deg")])
    provider.addFeatures([feature])
    layer.updateExtents()
    layer.renderer().setSymbol(QgsMarkerSymbol.createSimple(
        {"name": "star", "color": "#2ca02c", "outline_color": "#000000", "outline_width": "0.4", "size": "6"}))
    draw_headings(layer)
    return layer


def _label_with(layer: QgsVectorLayer, field: str) -> None:
    settings = QgsPalLayerSettings()
    settings.fieldName = field
    settings.enabled = True
    layer.setLabeling(QgsVectorLayerSimpleLabeling(settings))
    layer.setLabelsEnabled(True)
