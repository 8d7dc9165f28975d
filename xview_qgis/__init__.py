"""The xview QGIS plugin: dock, toolbar action and (later) tasks, layer styling and Processing.

Holds no maths: it turns user choices into ``xview_engine`` calls and engine results into layers.
Qt is imported only through ``qgis.PyQt`` and enums are written fully scoped, so the same code runs on
QGIS 3.22 (Qt5) and on the Qt6 builds (QGIS 4). Nothing here imports torch at plugin load.
"""
