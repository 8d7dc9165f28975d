"""Screenshots of the dock after a run and of a map rendered with the results (QgsMapRendererParallelJob).

The run uses the shipped synthetic default model (when it is there; else the tiny test model) on a
synthetic world it never saw (seed 7, as ``xview demo``), so the map shows a meaningful product: the
most likely scene over the overhead image, with a legend of the scenes drawn beside it. They are
saved under tmp_path; set XVIEW_SCREENSHOT_DIR (e.g. to docs/) to keep them for the README. The
checks make sure neither image is blank and both stay small enough for the README.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from qgis.core import QgsMapRendererParallelJob, QgsMapSettings, QgsPalettedRasterRenderer, QgsProject
from qgis.PyQt.QtCore import QRectF, QSize, Qt
from qgis.PyQt.QtGui import QColor, QFont, QImage, QPainter
from test_qgis_dock import _add_raster, _run_and_wait, iface, plugin, world  # noqa: F401 (fixtures)

MAP_PX, LEGEND_PX, ROW_PX = 600, 220, 26


@pytest.fixture(scope="module")
def screenshot_world(tmp_path_factory) -> Path:
    from xview_engine.synth.params import SynthParams
    from xview_engine.synth.world import make_world

    out = tmp_path_factory.mktemp("shotworld") / "world"
    make_world(SynthParams(seed=7, size_m=1000, gsd=1.0, photos=2), out)
    return out / "overhead.tif"


def _save(image, name: str, tmp_path: Path, keep: tuple[QColor, ...] = ()) -> Path:
    """Save as PNG; with ``keep``, as a 256-colour palette PNG (the overhead image is photo-like and large)
    whose palette holds the ``keep`` colours exactly, so legend swatches stay what the legend says."""
    folder = Path(os.environ.get("XVIEW_SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    assert image.save(str(path), "PNG")
    if keep:
        from PIL import Image

        fixed = [v for c in (*keep, QColor(255, 255, 255), QColor(0, 0, 0)) for v in (c.red(), c.green(), c.blue())]
        with Image.open(path) as full:
            rgb = full.convert("RGB")
        adaptive = rgb.quantize(256 - len(fixed) // 3, method=Image.Quantize.MEDIANCUT).getpalette()
        palette = Image.new("P", (1, 1))
        palette.putpalette(fixed + adaptive[: 768 - len(fixed)])
        rgb.quantize(palette=palette, dither=Image.Dither.NONE).save(path, optimize=True)
    return path


def _colours(image, step: int = 9) -> int:
    return len({image.pixel(x, y) for x in range(0, image.width(), step) for y in range(0, image.height(), step)})


def _render(layers, base) -> QImage:
    settings = QgsMapSettings()
    settings.setLayers(layers)
    settings.setDestinationCrs(base.crs())
    settings.setExtent(base.extent())
    settings.setOutputSize(QSize(MAP_PX, MAP_PX))
    settings.setBackgroundColor(QColor(255, 255, 255))
    settings.setTransformContext(QgsProject.instance().transformContext())
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    return job.renderedImage()


def _with_legend(map_image: QImage, renderer: QgsPalettedRasterRenderer, title: str) -> QImage:
    """The rendered map with the paletted layer's classes listed on its right (what the legend shows)."""
    sheet = QImage(MAP_PX + LEGEND_PX, MAP_PX, QImage.Format.Format_RGB32)
    sheet.fill(QColor(255, 255, 255))
    painter = QPainter(sheet)
    painter.drawImage(0, 0, map_image)
    font = QFont(painter.font())
    font.setPixelSize(15)
    painter.setFont(font)
    painter.drawText(QRectF(MAP_PX + 12, 10, LEGEND_PX - 16, 2 * ROW_PX), Qt.TextFlag.TextWordWrap, title)
    for i, item in enumerate(renderer.classes()):
        y = 12 + (i + 2) * ROW_PX
        painter.fillRect(MAP_PX + 12, y, 18, 18, item.color)
        painter.drawText(MAP_PX + 38, y + 15, item.label)
    painter.end()
    return sheet


def test_screenshots_of_the_dock_and_a_rendered_map(plugin, world, screenshot_world, qtbot, tmp_path):  # noqa: F811
    from xview_qgis.model_panel import synthetic_defaults

    layer = _add_raster(screenshot_world, "overhead (synthetic)")
    default = synthetic_defaults()[0]
    if not default.is_file():  # a checkout without the shipped model: the tiny test model
        plugin.model_panel.set_model(str(world["model"]))
    map_tab = plugin.tabs["Map"]
    map_tab.layer_combo.setLayer(layer)
    map_tab.out_dir.setFilePath(str(tmp_path / "runs"))
    map_tab.stride.setValue(16.0)
    assert _run_and_wait(qtbot, map_tab).error is None
    plugin.dock.setFloating(True)  # docked, the test main window decides its height
    plugin.dock.resize(460, 1000)
    qtbot.wait(50)
    map_tab.parentWidget().parentWidget().verticalScrollBar().setValue(0)  # the tab's scroll area, at the top
    qtbot.wait(20)
    dock_shot = _save(plugin.dock.grab().toImage(), "qgis_dock.png", tmp_path)
    top = next(lyr for lyr in map_tab.last_layers if isinstance(lyr.renderer(), QgsPalettedRasterRenderer))
    top.setOpacity(0.65)
    rendered = _render([top, layer], layer)
    title = "Most likely scene" + (" (synthetic default model)" if default.is_file() else "")
    swatches = tuple(item.color for item in top.renderer().classes())
    map_shot = _save(_with_legend(rendered, top.renderer(), title), "qgis_map.png", tmp_path, swatches)
    assert _colours(plugin.dock.grab().toImage()) > 20 and _colours(rendered) > 50
    assert dock_shot.stat().st_size < 300_000 and map_shot.stat().st_size < 300_000
    del top, layer
