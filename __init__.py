"""QGIS entry point of the xview plugin (the repository root is the plugin folder).

Kept tiny and free of torch: QGIS imports this module when it scans its plugins, so any heavy import
here would slow every QGIS start and would fail where torch is not installed.
"""

from __future__ import annotations

import os
import sys


def classFactory(iface):  # the name QGIS looks for
    """Return the xview plugin for a QGIS interface.

    The plugin folder goes on ``sys.path`` first so that ``xview_engine`` and ``xview_qgis`` import as
    top-level packages: inside QGIS the engine is shipped in the plugin folder, not pip-installed.
    Then the engine's dependencies, installed by the plugin into the QGIS profile, go on ``sys.path``
    before anything imports them.
    """
    plugin_dir = os.path.dirname(os.path.abspath(__file__))
    if plugin_dir not in sys.path:
        sys.path.insert(0, plugin_dir)
    from xview_qgis.engine_folder import add_engine_folder

    add_engine_folder()
    from xview_qgis.plugin import XviewPlugin

    return XviewPlugin(iface)
