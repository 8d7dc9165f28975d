"""Screenshots of the dock after a run and of a map rendered with the results (QgsMapRendererParallelJob).

They are saved under tmp_path; set XVIEW_SCREENSHOT_DIR (e.g. to docs/) to keep them for the README.
The checks make sure neither image is blank: the dock shows its widgets, the map shows the colours
of the styled result over the overhead image.
"""

from __future__ import annotations

import os
from pathlib import Path

from qgis.core import QgsMapRendererParallelJob, QgsMapSettings, QgsPalettedRasterRenderer, QgsProject
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor
from test_qgis_dock import _add_raster, _run_and_wait, iface, plugin, world  # noqa: F401 (fixtures)


def _save(image, name: str, tmp_path: Path) -> Path:
    folder = Path(os.environ.get("XVIEW_SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    assert image.save(str(path), "PNG")
    return path


def _colours(image, step: int = 9) -> int:
    return len({image.pixel(x, y) for x in range(0, image.width(), step) for y in range(0, image.height(), step)})


def test_screenshots_of_the_dock_and_a_rendered_map(plugin, world, qtbot, tmp_path):  # noqa: F811
    layer = _add_raster(world["raster"], "overhead (synthetic world)")
    plugin.model_panel.set_model(str(world["model"]))
    map_tab = plugin.tabs["Map"]
    map_tab.layer_combo.setLayer(layer)
    map_tab.out_dir.setFilePath(str(tmp_path / "runs"))
    map_tab.stride.setValue(4.0)
    assert _run_and_wait(qtbot, map_tab).error is None
    plugin.dock.setFloating(True)  # docked, the test main window decides its height
    plugin.dock.resize(460, 1000)
    qtbot.wait(50)
    dock_shot = _save(plugin.dock.grab().toImage(), "qgis_dock.png", tmp_path)
    assert any(isinstance(lyr.renderer(), QgsPalettedRasterRenderer) for lyr in map_tab.last_layers)
    top = next(lyr for lyr in map_tab.last_layers if lyr.name().startswith("confidence"))
    top.setOpacity(0.7)
    settings = QgsMapSettings()
    settings.setLayers([top, layer])
    settings.setDestinationCrs(layer.crs())
    settings.setExtent(layer.extent())
    settings.setOutputSize(QSize(640, 640))
    settings.setBackgroundColor(QColor(255, 255, 255))
    settings.setTransformContext(QgsProject.instance().transformContext())
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    map_shot = _save(job.renderedImage(), "qgis_map.png", tmp_path)
    assert _colours(plugin.dock.grab().toImage()) > 20 and _colours(job.renderedImage()) > 50
    assert dock_shot.stat().st_size < 300_000 and map_shot.stat().st_size < 300_000
    del top, layer

