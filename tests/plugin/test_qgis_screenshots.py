"""Screenshots of the dock after a run and of maps rendered with the results (QgsMapRendererParallelJob).

The runs use the shipped synthetic default model (when it is there; else the tiny test model) on a
synthetic world it never saw (seed 7, as ``xview demo``), so the maps show meaningful products: the
layer a map run shows by default (the most likely scene, semi-transparent over the overhead image)
and a Geolocate run's heatmap (best 1 / 5 / 10 % of the tiles), each with its legend drawn beside
it. The dock is shot at the width QGIS gives it (300 px). They are saved under tmp_path; set
XVIEW_SCREENSHOT_DIR (e.g. to docs/) to keep them for the README. The checks make sure no image is
blank and both stay small enough for the README.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from qgis.core import (
    QgsMapRendererParallelJob,
    QgsMapSettings,
    QgsPalettedRasterRenderer,
    QgsPointXY,
    QgsProject,
)
from qgis.PyQt.QtCore import QRectF, QSize, Qt
from qgis.PyQt.QtGui import QColor, QFont, QImage, QPainter
from test_qgis_dock import _add_raster, _run_and_wait, iface, plugin, world  # noqa: F401 (fixtures)

MAP_PX, LEGEND_PX, ROW_PX = 460, 280, 26
DOCK_PX = 300


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


def _with_legend(map_image: QImage, items: list[tuple[QColor, str]], title: str) -> QImage:
    """The rendered map with its legend (colour swatches and labels, as the layer's legend shows) on its right."""
    sheet = QImage(MAP_PX + LEGEND_PX, MAP_PX, QImage.Format.Format_RGB32)
    sheet.fill(QColor(255, 255, 255))
    painter = QPainter(sheet)
    painter.drawImage(0, 0, map_image)
    font = QFont(painter.font())
    font.setPixelSize(14)
    painter.setFont(font)
    painter.drawText(QRectF(MAP_PX + 12, 10, LEGEND_PX - 16, 2 * ROW_PX), Qt.TextFlag.TextWordWrap, title)
    for i, (colour, label) in enumerate(items):
        y = 12 + (i + 2) * ROW_PX
        painter.fillRect(MAP_PX + 12, y, 18, 18, colour)
        painter.drawRect(MAP_PX + 12, y, 18, 18)
        painter.drawText(MAP_PX + 38, y + 15, label)
    painter.end()
    return sheet


def _side_by_side(left: QImage, right: QImage) -> QImage:
    sheet = QImage(left.width() + right.width(), max(left.height(), right.height()), QImage.Format.Format_RGB32)
    sheet.fill(QColor(255, 255, 255))
    painter = QPainter(sheet)
    painter.drawImage(0, 0, left)
    painter.drawImage(left.width(), 0, right)
    painter.end()
    return sheet


def _heatmap(plugin, layer, world_dir: Path, qtbot):  # noqa: F811
    """A Geolocate run on a photo of the world: the default teacher with the default model, else its labels."""
    tab = plugin.tabs["Geolocate"]
    tab.layer_combo.setLayer(layer)
    tab.photo.setFilePath(str(sorted((world_dir / "photos").glob("*.jpg"))[0]))
    if not tab.teachers.text():
        tab.labels.setFilePath(str(world_dir / "labels.npz"))
    assert _run_and_wait(qtbot, tab).error is None
    return tab.last_layers[-1]


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
    heatmap = _heatmap(plugin, layer, screenshot_world.parent, qtbot)
    plugin.dock.tabs.setCurrentIndex(0)
    plugin.iface.mapCanvas().setDestinationCrs(layer.crs())  # the click below is in the layer's CRS, whatever
    map_tab.whats_here.button.setChecked(True)  # another test left; the answer panel, as after a click on the map
    map_tab.whats_here.tool.canvasClicked.emit(QgsPointXY(layer.extent().center()), Qt.MouseButton.LeftButton)
    map_tab.whats_here.button.setChecked(False)
    assert "most likely" in map_tab.whats_here.answer.text()
    plugin.dock.setFloating(True)  # docked, the test main window decides its size
    plugin.dock.resize(DOCK_PX, 1000)
    qtbot.wait(50)
    map_tab.parentWidget().parentWidget().verticalScrollBar().setValue(0)  # the tab's scroll area, at the top
    qtbot.wait(20)
    assert plugin.dock.width() == DOCK_PX
    dock_shot = _save(plugin.dock.grab().toImage(), "qgis_dock.png", tmp_path)
    top = map_tab.last_layers[0]  # the one layer a run shows: the most likely class, semi-transparent
    assert isinstance(top.renderer(), QgsPalettedRasterRenderer) and top.opacity() < 1
    rendered = _render([top, layer], layer)
    model = " (synthetic default model)" if default.is_file() else ""
    classes = [(item.color, item.label) for item in top.renderer().classes()]
    ramp = heatmap.renderer().shader().rasterShaderFunction().colorRampItemList()
    heat_items = [(item.color, item.label) for item in reversed(ramp[1:])]
    points = plugin.tabs["Geolocate"].last_layers[:-1]  # the true spot and the candidates, over the heatmap
    heat_render = _render([*points, heatmap, layer], layer)
    sheet = _side_by_side(_with_legend(rendered, classes, f"Most likely scene{model}"),
                          _with_legend(heat_render, heat_items, "Where was the photo taken? (rank among tiles)"))
    swatches = tuple(c for c, _ in classes + heat_items)
    map_shot = _save(sheet, "qgis_map.png", tmp_path, swatches)
    assert _colours(plugin.dock.grab().toImage()) > 20 and _colours(rendered) > 50 and _colours(heat_render) > 50
    assert dock_shot.stat().st_size < 300_000 and map_shot.stat().st_size < 400_000
    del top, layer, heatmap, points
