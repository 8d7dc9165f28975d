"""Pieces every tab shares: Run / Cancel with a progress bar, the output folder, layer -> engine input.

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
from qgis.PyQt.QtCore import pyqtSignal
from qgis.PyQt.QtWidgets import QHBoxLayout, QProgressBar, QPushButton, QWidget

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
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.run_button)
        layout.addWidget(self.cancel_button)
        layout.addWidget(self.progress, 1)
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
