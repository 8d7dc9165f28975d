"""Differences between the QGIS / Qt builds the plugin runs on (3.22 on Qt5 up to QGIS 4 on Qt6), in one place.

Field types: QGIS 3.38 moved ``QgsField`` from ``QVariant.Type.*`` to ``QMetaType.Type.*`` and Qt6 has
no ``QVariant.Type.*`` at all, so code that names ``QVariant.Type.Int`` breaks on QGIS 4. ``field``
picks the type the running QGIS wants; the names are looked up only when used, so neither fails.
"""

from __future__ import annotations

from typing import Optional

from qgis.core import Qgis, QgsField

QMETATYPE_SINCE = 33800  # Qgis.QGIS_VERSION_INT of the first QGIS whose QgsField takes QMetaType.Type
FIELD_TYPES = ("Int", "Double", "String")


def uses_qmetatype() -> bool:
    """Whether this QGIS wants ``QMetaType.Type.*`` field types (3.38 and later, Qt6 always)."""
    return Qgis.QGIS_VERSION_INT >= QMETATYPE_SINCE


def field_type(name: str, qmetatype: Optional[bool] = None):
    """'Int' | 'Double' | 'String' as ``QMetaType.Type.*`` or ``QVariant.Type.*`` (default: what this QGIS wants)."""
    if name not in FIELD_TYPES:
        raise ValueError(f"unknown field type '{name}' (known: {', '.join(FIELD_TYPES)})")
    if uses_qmetatype() if qmetatype is None else qmetatype:
        from qgis.PyQt.QtCore import QMetaType

        return {"Int": QMetaType.Type.Int, "Double": QMetaType.Type.Double, "String": QMetaType.Type.QString}[name]
    from qgis.PyQt.QtCore import QVariant

    return {"Int": QVariant.Type.Int, "Double": QVariant.Type.Double, "String": QVariant.Type.String}[name]


def field(name: str, type_name: str) -> QgsField:
    """A ``QgsField`` of type 'Int', 'Double' or 'String' built the way the running QGIS wants it."""
    return QgsField(name, field_type(type_name))
