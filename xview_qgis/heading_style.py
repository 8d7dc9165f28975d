"""Heading arrows on point layers: which way a geolocated photo looks, at each candidate and the truth.

A method that finds headings (the twin network) gives each candidate a ``heading`` attribute in
degrees clockwise from north; the photo's EXIF may give the truth one. The point symbol gets one
more layer: an arrow rotated by that field (a data-defined angle, so QGIS turns each feature's
arrow itself) and drawn only where the field is set, offset ahead of the point so the marker under
it stays readable. QGIS angles run clockwise from the top of the map like headings, so the field is
used as it is. The field is from true north and the map's top is grid north of the canvas CRS: the
arrow is off by that CRS's meridian convergence (zero in Web Mercator, under 3 degrees inside its
UTM zone), well inside the 11-degree bins a twin model finds headings in.
"""

from __future__ import annotations

from qgis.core import QgsProperty, QgsSimpleMarkerSymbolLayer, QgsSymbolLayer, QgsVectorLayer

ARROW = {"name": "arrow", "color": "#ffd92f", "outline_color": "#000000", "outline_width": "0.3", "size": "5",
         "offset": "0,-3.5"}  # mm; the offset is turned with the arrow, so it sits ahead of the point


def draw_headings(layer: QgsVectorLayer, field: str = "heading") -> None:
    """Add an arrow rotated by ``field`` to the layer's single-symbol renderer (nothing where it is NULL)."""
    arrow = QgsSimpleMarkerSymbolLayer.create(dict(ARROW))
    arrow.setDataDefinedProperty(QgsSymbolLayer.Property.PropertyAngle, QgsProperty.fromField(field))
    arrow.setDataDefinedProperty(QgsSymbolLayer.Property.PropertyLayerEnabled,
                                 QgsProperty.fromExpression(f'"{field}" IS NOT NULL'))
    layer.renderer().symbol().appendSymbolLayer(arrow)
