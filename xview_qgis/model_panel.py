"""The model picker shared by the dock's tabs: a model file, recent models, the device and what it really is.

A model file fully configures the UI: its manifest (read cheaply, no tensors) gives the tile size,
the ground sample distance, the heads and their classes, which the tabs use to fill their pickers.
The device line says what will really run ("CPU, 2 threads" or the GPU's name), never a silent
fallback: asking for CUDA without a GPU shows the engine's error in red.
Engine modules are imported inside methods, so the plugin loads without torch.

The shipped synthetic default model (``resources/models/xview-synthetic-default.safetensors``) is the
first entry of the recent list, labelled "(synthetic default)" wherever it shows, and is chosen when
the dock is first opened with no model chosen: a new user can press Map at once, and is told that
this model knows only synthetic worlds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from qgis.core import QgsSettings
from qgis.gui import QgsFileWidget
from qgis.PyQt.QtCore import Qt, pyqtSignal
from qgis.PyQt.QtWidgets import QComboBox, QFormLayout, QLabel, QWidget

from xview_qgis.elide import elide_middle

SETTINGS_RECENT = "xview/recent_models"
MAX_RECENT = 8
DEVICES = ("auto", "cpu", "cuda")
DEFAULT_LABEL = "(synthetic default)"


class ModelPanel(QWidget):
    """Model file + recent models + device; emits ``model_changed(manifest)`` (None when unusable)."""

    model_changed = pyqtSignal(object)

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.manifest = None
        self.problem = ""  # why the chosen file is not a usable model (the engine's words), or ""
        self.default_offered = False
        self.file_widget = QgsFileWidget(self)
        self.file_widget.setObjectName("XviewModelFile")
        self.path_elide = elide_middle(self.file_widget.lineEdit(), "model file:\n")  # the file name stays in sight
        self.file_widget.setFilter("xview models (*.safetensors *.onnx)")
        self.file_widget.setDialogTitle("Choose an xview model file")
        self.recent = QComboBox(self)
        self.recent.setObjectName("XviewRecentModels")
        self.recent.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.recent.setMinimumContentsLength(10)  # long model names must not widen the dock
        self.device_combo = QComboBox(self)
        self.device_combo.setObjectName("XviewDevice")
        self.device_combo.addItems(DEVICES)
        self.device_label = _label("chosen when a model is loaded", "XviewDeviceLabel", self)
        self.info_label = _label("Choose a model file (.safetensors).", "XviewModelInfo", self)
        layout = QFormLayout(self)
        layout.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)  # a 300 px dock
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addRow(_label("Model file", "XviewModelFileLabel", self))
        layout.addRow(self.file_widget)  # the whole dock width: room for the file name
        layout.addRow("Recent", self.recent)
        layout.addRow(self.info_label)  # spans the row: a wrapped label in the field column gets stray gaps
        layout.addRow("Device", self.device_combo)
        layout.addRow("", self.device_label)
        self._fill_recent()
        self.file_widget.fileChanged.connect(self.set_model)
        self.recent.activated.connect(self._recent_chosen)
        self.device_combo.currentTextChanged.connect(lambda _: self.refresh_device())

    @property
    def model_path(self) -> str:
        return self.file_widget.filePath()

    def require_model(self):
        """The manifest of the chosen model; an ``XviewError`` saying what to do when there is none.

        "choose a model file first" only when no file is chosen: a chosen file that is not a model is
        named, with the engine's reason.
        """
        from xview_engine.errors import SourceError

        if self.manifest is not None:
            return self.manifest
        if self.model_path:
            raise SourceError(f"the chosen model file is not usable: {self.problem}")
        raise SourceError("choose a model file first")

    @property
    def device(self) -> str:
        return self.device_combo.currentText()

    def set_model(self, path: str) -> None:
        """Read the manifest of ``path`` and tell the tabs; a bad file is said in the info line."""
        from xview_engine.errors import XviewError
        from xview_engine.model.runtime import read_model_manifest

        if self.file_widget.filePath() != path:
            self.file_widget.blockSignals(True)
            self.file_widget.setFilePath(path)
            self.file_widget.blockSignals(False)
        try:
            self.manifest = read_model_manifest(path) if path else None
            self.problem = ""
        except XviewError as exc:
            self.manifest, self.problem = None, str(exc)
            self.info_label.setText(self.problem)
            self.info_label.setStyleSheet("color: #b3261e;")
            self.recent.setCurrentIndex(0)  # the Recent box never names a model the field does not hold
        else:
            self.info_label.setStyleSheet("")
            text = describe_manifest(self.manifest) if self.manifest else ""
            if self.manifest is not None and is_synthetic_default(path):
                text = f"<b>{DEFAULT_LABEL}</b> for synthetic worlds only · {text}"
            self.info_label.setText(text)
            if self.manifest is not None:
                _remember(path)
                self._fill_recent()
                self.refresh_device()
            self.recent.setCurrentIndex(max(0, self.recent.findData(path)) if path else 0)
        self.model_changed.emit(self.manifest)

    def refresh_device(self) -> str:
        """Resolve the chosen device now and show what it is (or why it cannot be used)."""
        from xview_engine.errors import XviewError
        from xview_engine.model.device import describe_device, resolve_device

        try:
            text, style = describe_device(resolve_device(self.device)), ""
        except XviewError as exc:
            text, style = str(exc), "color: #b3261e;"
        self.device_label.setText(text)
        self.device_label.setStyleSheet(style)
        return text

    def preselect_default(self) -> bool:
        """Choose the synthetic default model once, when nothing else is chosen; True when it did."""
        default = synthetic_defaults()[0]
        if self.default_offered or self.model_path or not default.is_file():
            return False
        self.default_offered = True
        self.set_model(str(default))
        return self.manifest is not None

    def _fill_recent(self) -> None:
        self.recent.clear()
        self.recent.addItem("")
        default = synthetic_defaults()[0]
        paths = [str(default)] if default.is_file() else []
        paths += [p for p in recent_models() if not is_synthetic_default(p)]
        for path in paths:
            label = f"{DEFAULT_LABEL} {Path(path).name}" if is_synthetic_default(path) else Path(path).name
            self.recent.addItem(label, path)
            self.recent.setItemData(self.recent.count() - 1, path, Qt.ItemDataRole.ToolTipRole)

    def _recent_chosen(self, index: int) -> None:
        path = self.recent.itemData(index)
        if path:
            self.set_model(path)


def describe_manifest(manifest) -> str:
    """One paragraph about a model: kind, backbone, tiles on the ground, heads with class counts."""
    spec = manifest.input
    heads = ", ".join(f"{h.name} ({h.num_classes} {h.distribution})" for h in manifest.heads)
    note = manifest.training.get("note") or manifest.training.get("data") or ""
    text = (f"{manifest.kind} · {manifest.backbone.name} · tiles of {spec.tile_px} px at {spec.gsd_m:g} m "
            f"({spec.footprint_m:g} m on the ground) · heads: {heads}")
    return f"{text} · {note}" if note else text


def synthetic_defaults() -> tuple[Path, Path]:
    """(default model, its synthetic teacher): the files the engine's demo ships in resources/models."""
    from xview_engine.demo import DEFAULT_MODEL, DEFAULT_TEACHER

    return Path(DEFAULT_MODEL), Path(DEFAULT_TEACHER)


def is_synthetic_default(path: str) -> bool:
    """Whether ``path`` is the shipped synthetic default model (same file, however it is spelled)."""
    default = synthetic_defaults()[0]
    try:
        return bool(path) and default.is_file() and Path(path).resolve() == default.resolve()
    except OSError:
        return False


def recent_models() -> list[str]:
    value = QgsSettings().value(SETTINGS_RECENT, [])
    paths = [value] if isinstance(value, str) else list(value or [])
    return [p for p in paths if p and Path(p).is_file()]


def _remember(path: str) -> None:
    paths = [path, *[p for p in recent_models() if p != path]][:MAX_RECENT]
    QgsSettings().setValue(SETTINGS_RECENT, paths)


def _label(text: str, name: str, parent: QWidget) -> QLabel:
    label = QLabel(text, parent)
    label.setObjectName(name)
    label.setWordWrap(True)
    return label
