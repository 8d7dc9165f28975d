"""The QGIS side of the engine folder: the profile it lives in, and the start-up call.

QGIS' profile folder (``QgsApplication.qgisSettingsDirPath()``) holds the engine's dependencies
(``xview_engine.install.bootstrap``); ``classFactory`` calls ``add_engine_folder`` before the plugin
imports anything of the engine, on the desktop and in ``qgis_process`` alike.
"""

from __future__ import annotations

from pathlib import Path

from qgis.core import QgsApplication

from xview_engine.install.bootstrap import bootstrap, engine_folder


def profile_engine_folder() -> Path:
    """This profile's engine folder (it may not exist yet)."""
    return engine_folder(QgsApplication.qgisSettingsDirPath())


def add_engine_folder() -> Path | None:
    """Put this profile's engine folder on ``sys.path``; returns the path added, or None when there is none."""
    return bootstrap(QgsApplication.qgisSettingsDirPath())
