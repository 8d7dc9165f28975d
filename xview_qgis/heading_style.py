"""Heading arrows on point layers: which way a geolocated photo looks, at each candidate and the truth.

A method that finds headings (the twin network) gives each candidate a ``heading`` attribute in
degrees clockwise from north; the photo's EXIF may give the truth one. The point symbol gets one
more layer: an arrow rotated by that field (a data-defined angle, so QGIS turns each feature's
arrow itself) and drawn only where the field is set, offset ahead of the point so the marker under
it stays readable. QGIS angles run clockwise from the top of the map, but the field is from true
north and the map's top is grid north of the canvas CRS: they differ by that CRS's meridian
convergence (zero in Web Mercator, up to several degrees at the edge of a UTM zone, tens in an
oblique projection). The angle is therefore the heading plus the on-screen azimuth of true north at
the point, which QGIS itself measures as the direction from the point to a point a few metres north
of it, both in the canvas CRS (``TRUE_NORTH_ON_MAP``); it follows the canvas when its CRS changes. Where
QGIS cannot say (no canvas CRS in the context, a CRS without an authority id) the heading is used as it is.
"""

from __future__ import annotations

from qgis.core import QgsProperty, QgsSimpleMarkerSymbolLayer, QgsSymbolLayer, QgsVectorLayer

ARROW = {"name": "arrow", "color": "#ffd92f", "outline_color": "#000000", "outline_width": "0.3", "size": "5",
         "offset": "0,-3.5"}  # mm; the offset is turned with the arrow, so it sits ahead of the point


# azimuth(a, b): radians clockwise from the map's up; 1e-4 degrees of latitude = 11 m north, in WGS 84
TRUE_NORTH_ON_MAP = ("degrees(azimuth(transform($geometry, @layer_crs, @map_crs), "
                     "transform(translate(transform($geometry, @layer_crs, 'EPSG:4326'), 0, 0.0001), "
                     "'EPSG:4326', @map_crs)))")


def heading_angle_expression(field: str = "heading") -> str:
    """The marker angle of a true-north heading ``field`` on the canvas (see the module docstring)."""
    return f'("{field}" + coalesce({TRUE_NORTH_ON_MAP}, 0)) % 360'


def draw_headings(layer: QgsVectorLayer, field: str = "heading") -> None:
    """Add an arrow turned to ``field`` on the canvas to the layer's single-symbol renderer (nothing where NULL)."""
    arrow = QgsSimpleMarkerSymbolLayer.create(dict(ARROW))
    arrow.setDataDefinedProperty(QgsSymbolLayer.Property.PropertyAngle,
                                 QgsProperty.fromExpression(heading_angle_expression(field)))
    arrow.setDataDefinedProperty(QgsSymbolLayer.Property.PropertyLayerEnabled,
                                 QgsProperty.fromExpression(f'"{field}" IS NOT NULL'))
    layer.renderer().symbol().appendSymbolLayer(arrow)
