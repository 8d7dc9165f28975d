"""Long paths in a narrow dock: a line edit shows its text elided in the middle while it is not being edited.

The dock is about 300 px wide, so a model path such as ``/home/me/models/xview-places365-r50.safetensors``
shows only its beginning and the file name (what tells models apart) is cut off. ``MiddleElide`` paints
``/home/me/…/xview-places365-r50.safetensors`` instead (``QFontMetrics.elidedText`` with
``ElideMiddle``) whenever the field has no focus, and keeps the full text in the tooltip; the text
itself is never changed, so ``QgsFileWidget`` and the tabs read the real path.
"""

from __future__ import annotations

from qgis.PyQt.QtCore import QEvent, QObject, QRect, Qt
from qgis.PyQt.QtGui import QPainter, QPalette
from qgis.PyQt.QtWidgets import QLineEdit, QStyle, QStyleOptionFrame

PADDING_PX = 2  # QLineEdit's own horizontal margin inside its frame


class MiddleElide(QObject):
    """Installed on a ``QLineEdit`` (it becomes its child, so it lives as long as the field)."""

    def __init__(self, edit: QLineEdit, tooltip_prefix: str = ""):
        super().__init__(edit)
        self.edit, self.tooltip_prefix = edit, tooltip_prefix
        edit.installEventFilter(self)
        edit.textChanged.connect(self._tooltip)
        self._tooltip(edit.text())

    def shown_text(self) -> str:
        """What the field shows when it has no focus: the text, elided in the middle to fit.

        The file name (after the last "/") is kept whole when it fits, the folders elided in the middle
        (``/home/me/…/models/m.safetensors``); a name too long for the field is elided in its own middle
        (``…/xview-syn…ult.safetensors``), so the folder goes first.
        """
        text, width, metrics = self.edit.text(), self._text_rect().width(), self.edit.fontMetrics()
        folder, slash, name = text.rpartition("/")
        if not slash or metrics.horizontalAdvance(text) <= width:
            return metrics.elidedText(text, Qt.TextElideMode.ElideMiddle, width)
        if metrics.horizontalAdvance(f"…/{name}") <= width:
            room = width - metrics.horizontalAdvance(f"/{name}")
            return f"{metrics.elidedText(folder, Qt.TextElideMode.ElideMiddle, room)}/{name}"
        return f"…/{metrics.elidedText(name, Qt.TextElideMode.ElideMiddle, width - metrics.horizontalAdvance('…/'))}"

    def eventFilter(self, watched, event) -> bool:  # Qt API name
        if (watched is self.edit and event.type() == QEvent.Type.Paint and not self.edit.hasFocus()
                and self.shown_text() != self.edit.text()):
            self._paint()
            return True
        return False

    def _option(self) -> QStyleOptionFrame:
        option = QStyleOptionFrame()
        option.initFrom(self.edit)
        option.lineWidth = self.edit.style().pixelMetric(QStyle.PixelMetric.PM_DefaultFrameWidth, option, self.edit)
        option.midLineWidth = 0
        option.state |= QStyle.StateFlag.State_Sunken
        return option

    def _text_rect(self) -> QRect:
        rect = self.edit.style().subElementRect(QStyle.SubElement.SE_LineEditContents, self._option(), self.edit)
        margins = self.edit.textMargins()
        rect = rect.adjusted(margins.left() + PADDING_PX, 0, -margins.right() - PADDING_PX, 0)
        clear = getattr(self.edit, "showClearButton", None)  # QgsFilterLineEdit keeps room for its clear button
        if callable(clear) and clear() and self.edit.text():
            rect.setRight(rect.right() - rect.height())
        return rect

    def _paint(self) -> None:
        painter = QPainter(self.edit)
        option = self._option()
        self.edit.style().drawPrimitive(QStyle.PrimitiveElement.PE_PanelLineEdit, option, painter, self.edit)
        painter.setPen(self.edit.palette().color(QPalette.ColorRole.Text))
        painter.drawText(self._text_rect(), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                         self.shown_text())
        painter.end()

    def _tooltip(self, text: str) -> None:
        self.edit.setToolTip(f"{self.tooltip_prefix}{text}" if text else self.tooltip_prefix.rstrip(": \n"))


def elide_middle(edit: QLineEdit, tooltip_prefix: str = "") -> MiddleElide:
    """Make ``edit`` show long text elided in the middle (full text in the tooltip); returns the helper."""
    return MiddleElide(edit, tooltip_prefix)
