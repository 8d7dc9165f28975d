"""Processing dialog widgets for xview:map: the head and the classes picked from the chosen model.

The HEAD and CLASSES parameters stay strings (``qgis_process run xview:map --HEAD=scene
--CLASSES=beach,forest`` keeps working), but in the Processing dialogs they are a drop-down of the
model's heads and a tick list of that head's classes, refilled whenever the MODEL file changes:
the same choices, and the same defaults, as the dock (the first head; no class ticked = the top 10).
A file that is not a model leaves both empty, with the engine's reason in their tooltip.

The algorithms name these wrappers by their dotted path in the parameter metadata, so
``qgis_process`` (which has no dialogs) never imports this module or ``processing.gui``.
"""

from __future__ import annotations

from typing import Optional

from processing.gui.wrappers import DIALOG_STANDARD, WidgetWrapper
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QComboBox, QListWidget, QListWidgetItem


def model_heads(path: str) -> tuple[dict[str, tuple[str, ...]], str]:
    """({head: class names} in the model's order, '' or the engine's reason the file is not a model)."""
    from xview_engine.errors import XviewError
    from xview_engine.model.runtime import read_model_manifest

    if not path:
        return {}, "choose a model file first"
    try:
        manifest = read_model_manifest(path)
    except XviewError as exc:
        return {}, str(exc)
    return {head.name: tuple(head.labels) for head in manifest.heads}, ""


def _find(wrappers, name: str):
    return next((w for w in wrappers if w.parameterDefinition().name() == name), None)


class HeadWrapper(WidgetWrapper):
    """A drop-down of the chosen model's heads (the first chosen); editable outside the standard dialog."""

    def createWidget(self, **kwargs):
        self.heads: dict[str, tuple[str, ...]] = {}  # called by the base __init__, before anything else
        self.problem = ""
        combo = QComboBox()
        combo.setEditable(self.dialogType != DIALOG_STANDARD)  # batch / modeler rows may hold any text
        combo.currentTextChanged.connect(lambda _: self.widgetValueHasChanged.emit(self))
        return combo

    def postInitialize(self, wrappers) -> None:
        model = _find(wrappers, "MODEL")
        if model is not None:
            model.widgetValueHasChanged.connect(lambda w: self.set_model(w.parameterValue()))
            self.set_model(model.parameterValue())

    def set_model(self, path) -> None:
        """Refill the heads from the model file at ``path`` (keep the chosen head when it is still there)."""
        previous = self.widget.currentText()
        self.heads, self.problem = model_heads(str(path or ""))
        self.widget.blockSignals(True)
        self.widget.clear()
        self.widget.addItems(list(self.heads))
        self.widget.setToolTip(self.problem or "the model's heads; classes and products follow the head")
        if previous in self.heads:
            self.widget.setCurrentText(previous)
        self.widget.blockSignals(False)
        self.widgetValueHasChanged.emit(self)

    def setValue(self, value) -> None:
        if value:
            if self.widget.findText(str(value)) < 0 and self.widget.isEditable():
                self.widget.setEditText(str(value))
            self.widget.setCurrentText(str(value))

    def value(self) -> str:
        return self.widget.currentText()

    def classes(self) -> tuple[str, ...]:
        return self.heads.get(self.value(), ())


class ClassesWrapper(WidgetWrapper):
    """A tick list of the chosen head's classes; nothing ticked means the top 10 on the map, as in the dock."""

    head: Optional[HeadWrapper] = None

    def createWidget(self, **kwargs):
        listing = QListWidget()
        listing.setMinimumHeight(90)
        listing.setToolTip("none ticked: the 10 most likely classes of the head")
        listing.itemChanged.connect(lambda _: self.widgetValueHasChanged.emit(self))
        return listing

    def postInitialize(self, wrappers) -> None:
        self.head = _find(wrappers, "HEAD")
        if isinstance(self.head, HeadWrapper):
            self.head.widgetValueHasChanged.connect(lambda _: self.refill())
            self.refill()

    def refill(self) -> None:
        """List the classes of the chosen head, keeping the ticks of classes that are still there."""
        ticked = set(self.ticked())
        self.widget.blockSignals(True)
        self.widget.clear()
        for name in self.head.classes() if self.head is not None else ():
            item = QListWidgetItem(name, self.widget)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if name in ticked else Qt.CheckState.Unchecked)
        self.widget.blockSignals(False)

    def ticked(self) -> list[str]:
        items = (self.widget.item(i) for i in range(self.widget.count()))
        return [item.text() for item in items if item.checkState() == Qt.CheckState.Checked]

    def setValue(self, value) -> None:
        wanted = {p.strip() for p in str(value or "").split(",") if p.strip()}
        for i in range(self.widget.count()):
            item = self.widget.item(i)
            item.setCheckState(Qt.CheckState.Checked if item.text() in wanted else Qt.CheckState.Unchecked)

    def value(self) -> str:
        return ",".join(self.ticked())
