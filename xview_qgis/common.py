"""Pieces every tab shares: Run / Cancel with a progress bar, a results panel, the output folder, layer ->
engine input.

The dock is about 300 px wide: Run and Cancel share a row and the progress bar has its own below
them, so neither is pushed past the right edge; each tab hands these to the dock as its ``footer``,
pinned under the tab's scrolling form (``XviewDock.add_tab``), so they are always in sight.

``engine_input`` is the one place that decides how a QGIS layer reaches the engine: a local file
read by GDAL goes by path (the engine's rasterio source, the exact pixels `xview map` reads);
anything else QGIS can draw (XYZ, WMS, VRT in memory, a database raster) goes through
``QgisLayerSource``. Both are built here, on the main thread, before the task starts.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Optional

from qgis.core import QgsMapLayerProxyModel, QgsProject, QgsRasterLayer
from qgis.gui import QgsFileWidget, QgsMapLayerComboBox
from qgis.PyQt.QtCore import QUrl, pyqtSignal
from qgis.PyQt.QtGui import QPixmap
from qgis.PyQt.QtWidgets import (
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QProgressBar,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from xview_qgis.qgis_source import QgisLayerSource, is_file_layer


class RunControls(QWidget):
    """Run and Cancel buttons with a progress bar; ``follow(task)`` wires them to a running task."""

    run_clicked = pyqtSignal()

    def __init__(self, run_text: str, name: str, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.run_button = QPushButton(run_text, self)
        self.run_button.setObjectName(f"{name}Run")
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setObjectName(f"{name}Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar(self)
        self.progress.setObjectName(f"{name}Progress")
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        self.task = None
        self.run_button.clicked.connect(self.run_clicked)
        self.cancel_button.clicked.connect(self.cancel)

    def follow(self, task) -> None:
        self.task = task
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setValue(0)
        task.progressChanged.connect(lambda value: self.progress.setValue(int(value)))

    def done(self) -> None:
        self.task = None
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()


class ResultPanel(QTextBrowser):
    """A read-only answer panel that wraps to the dock's width and scrolls itself when the answer is long.

    An answer may show small images (``<img src="NAME">``): ``images`` maps each NAME to its QPixmap.
    """

    def __init__(self, name: str, parent: Optional[QWidget] = None, max_height: int = 140):
        super().__init__(parent)
        self.images: dict[str, QPixmap] = {}
        self.setObjectName(name)
        self.setReadOnly(True)
        self.setOpenLinks(False)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setLineWrapMode(QTextBrowser.LineWrapMode.WidgetWidth)
        self.setMaximumHeight(max_height)
        self.viewport().setAutoFillBackground(False)
        self.setVisible(False)

    def setText(self, text: str) -> None:  # Qt API name
        """Show the answer; the panel takes room in the dock only while it has one."""
        super().setText(text)
        self.setVisible(bool(text))

    def text(self) -> str:
        """The answer as plain text (what the user reads)."""
        return self.toPlainText()

    def loadResource(self, kind: int, url: QUrl):  # Qt API name: the answer's images, never a file
        image = self.images.get(url.toString())
        return image if image is not None else super().loadResource(kind, url)


def narrow_form() -> QFormLayout:
    """A form for a narrow dock: a field that does not fit beside its label goes under it, full width."""
    form = QFormLayout()
    form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    return form


def footer(parent: QWidget, *rows) -> QWidget:
    """The widgets (or layouts) pinned under a tab, one row each, in a widget for ``XviewDock.add_tab``."""
    widget = QWidget(parent)
    layout = QVBoxLayout(widget)
    layout.setContentsMargins(0, 0, 0, 0)
    for row in rows:
        if isinstance(row, QWidget):
            layout.addWidget(row)
        else:
            layout.addLayout(row)
    return widget


def raster_combo(parent: QWidget, name: str) -> QgsMapLayerComboBox:
    """A raster-layer picker that starts on the current layer when it is a raster."""
    combo = QgsMapLayerComboBox(parent)
    combo.setObjectName(name)
    combo.setFilters(QgsMapLayerProxyModel.Filter.RasterLayer)
    return combo


def output_folder_widget(parent: QWidget, name: str) -> QgsFileWidget:
    widget = QgsFileWidget(parent)
    widget.setObjectName(name)
    widget.setStorageMode(QgsFileWidget.StorageMode.GetDirectory)
    widget.setDialogTitle("Folder for xview results (empty: a temporary folder)")
    return widget


def run_folder(base: str, stem: str) -> Path:
    """A new folder for one run's files: in ``base`` when chosen, else in the system temp folder."""
    root = Path(base) if base else Path(tempfile.gettempdir()) / "xview"
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{_safe(stem)}-{time.strftime('%Y%m%d-%H%M%S')}-", dir=root))


def remove_if_empty(folder: Optional[Path]) -> None:
    """Take back a run's folder that nothing was written to (a refused or failed run leaves no litter)."""
    if folder is not None and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


def engine_input(layer: QgsRasterLayer, band_names: tuple[str, ...],
                 project: Optional[QgsProject] = None) -> tuple[str, Optional[QgisLayerSource]]:
    """(raster path or layer source string, a QGIS source or None): see the module docstring."""
    path = is_file_layer(layer)
    if path:
        return path, None
    project = project or QgsProject.instance()
    return layer.source(), QgisLayerSource(layer, band_names, transform_context=project.transformContext())


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)[:40] or "run"
